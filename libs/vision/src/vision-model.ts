import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type z } from 'zod';
import { type ModelManifest, ModelManifestSchema, formatIssues } from '@vigil/contracts';
import { OrtWorkerSession } from './ort-session.js';

export type ExecutionProvider =
  { readonly kind: 'cpu' } | { readonly kind: 'cuda'; readonly deviceId: number };

export interface SessionOptions {
  readonly provider: ExecutionProvider;
  readonly intraOpThreads: number;
  /**
   * The largest batch `encode` will be given (the batcher's maxBatch; 1 if not given). The warm-up at load
   * runs a batch this size, so ONNX Runtime's memory arena is grown to what the largest batch needs before
   * the model serves, not in the middle of a long run the first time traffic bunches up.
   */
  readonly maxBatch?: number;
  /**
   * ONNX Runtime's memory pattern (a planned block per input shape, cached per batch size). Off unless set:
   * with batch sizes that vary it made the process grow each time a larger batch first came (see
   * `npm run bench`, vision memory) for no measured speed.
   */
  readonly memoryPattern?: boolean;
}

/** A model that cannot be used, with what is wrong and how to fix it. */
export class ModelLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelLoadError';
  }
}

/**
 * Reads and validates a manifest (`what`: "model" or "detector", as the errors name it); every problem is
 * one ModelLoadError that names the file and the schema.
 */
export function readManifestWith<S extends z.ZodType>(
  schema: S,
  manifestPath: string,
  what: string,
  schemaFile: string,
): z.output<S> {
  const path = resolve(manifestPath);
  if (!existsSync(path))
    throw new ModelLoadError(`${what} manifest ${path} does not exist; give the path of a model.json`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ModelLoadError(`${what} manifest ${path} is not valid JSON (${(e as Error).message})`);
  }
  const r = schema.safeParse(json);
  if (!r.success) {
    throw new ModelLoadError(
      `${what} manifest ${path} is invalid: ${formatIssues(r.error).join('; ')} (schema: libs/contracts/schemas/${schemaFile})`,
    );
  }
  return r.data;
}

export const readManifest = (manifestPath: string): ModelManifest =>
  readManifestWith(ModelManifestSchema, manifestPath, 'model', 'model-manifest.v1.schema.json');

/**
 * The ONNX file a manifest names, checked against its sha256, on its own worker-thread session. `missing`
 * says how to get the file when it is not there.
 */
export async function openVerifiedSession(
  manifestPath: string,
  manifest: { file: string; sha256: string },
  options: SessionOptions,
  what: string,
  missing: string,
): Promise<{ file: string; session: OrtWorkerSession }> {
  const file = join(dirname(resolve(manifestPath)), manifest.file);
  if (!existsSync(file))
    throw new ModelLoadError(`${what} file ${file} named by ${manifestPath} does not exist; ${missing}`);
  const bytes = readFileSync(file);
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== manifest.sha256) {
    throw new ModelLoadError(
      `${what} file ${file} has sha256 ${actual} but its manifest says ${manifest.sha256}: the file is corrupt or not the model the manifest describes (regenerate it with npm run models, or correct sha256)`,
    );
  }
  try {
    const session = await OrtWorkerSession.create(bytes, {
      executionProviders: [
        options.provider.kind === 'cuda' ? { name: 'cuda', deviceId: options.provider.deviceId } : 'cpu',
      ],
      intraOpNumThreads: options.intraOpThreads,
      interOpNumThreads: 1,
      logSeverityLevel: 4,
      graphOptimizationLevel: 'all',
      enableMemPattern: options.memoryPattern ?? false,
    });
    return { file, session };
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0] ?? '';
    if (options.provider.kind === 'cuda') {
      throw new ModelLoadError(
        `CUDA was asked for (device ${options.provider.deviceId}) but ONNX Runtime cannot use it here (${msg}); on a GPU node install onnxruntime-node with its CUDA libraries (no onnxruntime-node-install=skip), or set VIGIL_VISION_PROVIDER=cpu`,
      );
    }
    throw new ModelLoadError(`ONNX Runtime cannot load ${file} (${msg}); the file is not a valid ONNX model`);
  }
}

/**
 * A vision encoder loaded once and kept resident: [N,3,H,W] → [N,T,D] as its manifest describes. Loading
 * checks the file's sha256, the model's input and output names and shapes against the manifest, and runs
 * one warm-up batch, so a model that loads is a model that works. The session lives on its own worker
 * thread (OrtWorkerSession): a batch in the model never blocks the event loop.
 */
export class VisionModel {
  private constructor(
    readonly manifest: ModelManifest,
    readonly path: string,
    private readonly session: OrtWorkerSession,
    readonly provider: ExecutionProvider,
  ) {}

  get tokens(): number {
    return this.manifest.output.tokenGrid[0] * this.manifest.output.tokenGrid[1];
  }

  static async load(manifestPath: string, options: SessionOptions): Promise<VisionModel> {
    const manifest = readManifest(manifestPath);
    const { file, session } = await openVerifiedSession(
      manifestPath,
      manifest,
      options,
      'model',
      'run npm run models for the shipped models, or put the ONNX file there',
    );
    const model = new VisionModel(manifest, file, session, options.provider);
    try {
      model.checkSignature();
      await model.warmUp(Math.max(1, options.maxBatch ?? 1));
    } catch (e) {
      await session.release();
      throw e;
    }
    return model;
  }

  private checkSignature(): void {
    const { input, output } = this.manifest;
    const sig = this.session.signature;
    if (!sig.inputNames.includes(input.name)) {
      throw new ModelLoadError(
        `model ${this.manifest.name} has inputs [${sig.inputNames.join(', ')}] but its manifest names input "${input.name}"; correct input.name in the manifest`,
      );
    }
    if (!sig.outputNames.includes(output.name)) {
      throw new ModelLoadError(
        `model ${this.manifest.name} has outputs [${sig.outputNames.join(', ')}] but its manifest names output "${output.name}"; correct output.name in the manifest`,
      );
    }
    const shape = sig.inputs.find((m) => m.name === input.name)?.shape;
    if (shape && shape.length === 4) {
      const want = [3, input.height, input.width];
      const got = shape.slice(1);
      const clash = got.some((d, i) => typeof d === 'number' && d !== want[i]);
      if (clash) {
        throw new ModelLoadError(
          `model ${this.manifest.name} takes input [${shape.join(', ')}] but its manifest says [N, 3, ${input.height}, ${input.width}]; correct input.width/height in the manifest`,
        );
      }
    }
  }

  private async warmUp(batch: number): Promise<void> {
    const { width, height } = this.manifest.input;
    try {
      await this.encode(new Float32Array(batch * 3 * width * height), batch);
    } catch (e) {
      if (e instanceof ModelLoadError) throw e;
      throw new ModelLoadError(
        `model ${this.manifest.name} fails on a ${batch}×3×${height}×${width} input: ${(e as Error).message.split('\n')[0]}${batch > 1 ? ` (it is warmed up at the largest batch it will be sent; for a model that takes one frame at a time set VIGIL_VISION_MAX_BATCH=1)` : ''}`,
      );
    }
  }

  /** Encodes `n` preprocessed frames (NCHW Float32, n × 3 × H × W) into n × T × D tokens. */
  async encode(pixels: Float32Array, n: number): Promise<Float32Array> {
    const { width, height, name } = this.manifest.input;
    const result = await this.session.run({
      [name]: {
        type: 'float32',
        data: pixels.subarray(0, n * 3 * width * height),
        dims: [n, 3, height, width],
      },
    });
    const out = result[this.manifest.output.name];
    if (!out)
      throw new ModelLoadError(`model ${this.manifest.name} produced no ${this.manifest.output.name}`);
    const data = out.data;
    if (!(data instanceof Float32Array))
      throw new ModelLoadError(`model ${this.manifest.name} output is not float32`);
    const dims = out.dims.map(Number);
    if (dims[0] !== n || dims[1] !== this.tokens || dims[2] !== this.manifest.output.tokenDims) {
      throw new ModelLoadError(
        `model ${this.manifest.name} returned [${dims.join(', ')}] for ${n} frames but its manifest describes [N, ${this.tokens}, ${this.manifest.output.tokenDims}]; correct output.tokenGrid/tokenDims`,
      );
    }
    return data;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** One resident session per model path and provider, loaded once (the pool the analyzer shares). */
export class VisionSessionPool {
  private readonly models = new Map<string, Promise<VisionModel>>();

  constructor(private readonly options: SessionOptions) {}

  get(manifestPath: string): Promise<VisionModel> {
    const key = resolve(manifestPath);
    let m = this.models.get(key);
    if (!m) {
      m = VisionModel.load(key, this.options);
      this.models.set(key, m);
      m.catch(() => this.models.delete(key));
    }
    return m;
  }

  async close(): Promise<void> {
    const all = [...this.models.values()];
    this.models.clear();
    for (const m of all) await (await m.catch(() => null))?.release();
  }
}

/** The manifest path of a model shipped under models/<name>/, found from this package wherever it is run. */
export function shippedModel(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'models', name, 'model.json');
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir)
      throw new ModelLoadError(
        `no shipped model "${name}" under any models/ folder above ${fileURLToPath(import.meta.url)}; run npm run models`,
      );
    dir = up;
  }
}

/** `cpu`, `cuda` or `cuda:<device>` from configuration. */
export function parseProvider(text: string): ExecutionProvider {
  if (text === 'cpu') return { kind: 'cpu' };
  const m = /^cuda(?::(\d+))?$/.exec(text);
  if (m) return { kind: 'cuda', deviceId: Number(m[1] ?? 0) };
  throw new ModelLoadError(`execution provider "${text}" is not known; use cpu, cuda or cuda:<device id>`);
}
