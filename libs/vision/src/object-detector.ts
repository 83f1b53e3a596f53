import { type DetectorManifest, DetectorManifestSchema } from '@vigil/contracts';
import { DynamicBatcher } from './dynamic-batcher.js';
import { type OrtOutput, type OrtWorkerSession } from './ort-session.js';
import { decodeRgb } from './preprocess.js';
import {
  ModelLoadError,
  type SessionOptions,
  openVerifiedSession,
  readManifestWith,
} from './vision-model.js';

/** One thing the detector found; the box is [x, y, width, height] as fractions of the frame. */
export interface Detection {
  readonly label: string;
  readonly classId: number;
  readonly score: number;
  readonly box: readonly [number, number, number, number];
}

export interface DetectOptions {
  /** Lowest class score kept (0..1); 0.35 unless given. */
  readonly minScore?: number;
  /** Boxes of the same class overlapping more than this (IoU) are one thing; 0.5 unless given. */
  readonly iou?: number;
  readonly maxDetections?: number;
}

export const readDetectorManifest = (manifestPath: string): DetectorManifest =>
  readManifestWith(DetectorManifestSchema, manifestPath, 'detector', 'detector-manifest.v1.schema.json');

export const iou = (a: readonly number[], b: readonly number[]): number => {
  const x1 = Math.max(a[0]!, b[0]!);
  const y1 = Math.max(a[1]!, b[1]!);
  const x2 = Math.min(a[0]! + a[2]!, b[0]! + b[2]!);
  const y2 = Math.min(a[1]! + a[3]!, b[1]! + b[3]!);
  const inter = Math.max(0, x2 - x1) * Math.max(0, y2 - y1);
  const union = a[2]! * a[3]! + b[2]! * b[3]! - inter;
  return union > 0 ? inter / union : 0;
};

/**
 * A GFL head's outputs for one image → detections: per stride, each cell's class scores (already sigmoid)
 * and, per box side, a distribution over regMax + 1 distance bins (softmax, then its mean, times the
 * stride); then per-class non-maximum suppression. Pure: the specs feed it hand-made tensors.
 */
export function decodeGfl(
  manifest: Pick<DetectorManifest, 'head' | 'input' | 'classes'>,
  outputs: Record<string, OrtOutput>,
  image: number,
  opts: DetectOptions = {},
): Detection[] {
  const minScore = opts.minScore ?? 0.35;
  const { width: W, height: H } = manifest.input;
  const bins = manifest.head.regMax + 1;
  const nc = manifest.classes.length;
  const found: { classId: number; score: number; box: [number, number, number, number] }[] = [];
  const p = new Float64Array(bins);
  for (const level of manifest.head.levels) {
    const scores = outputs[level.scores]!.data as Float32Array;
    const boxes = outputs[level.boxes]!.data as Float32Array;
    const gw = Math.ceil(W / level.stride);
    const cells = outputs[level.scores]!.dims[1]!;
    const sOff = image * cells * nc;
    const bOff = image * cells * 4 * bins;
    for (let i = 0; i < cells; i++) {
      let dist: number[] | null = null;
      for (let c = 0; c < nc; c++) {
        const score = scores[sOff + i * nc + c]!;
        if (score < minScore) continue;
        if (!dist) {
          dist = [];
          for (let side = 0; side < 4; side++) {
            const o = bOff + (i * 4 + side) * bins;
            let max = -Infinity;
            for (let b = 0; b < bins; b++) max = Math.max(max, boxes[o + b]!);
            let sum = 0;
            for (let b = 0; b < bins; b++) sum += p[b] = Math.exp(boxes[o + b]! - max);
            let mean = 0;
            for (let b = 0; b < bins; b++) mean += (p[b]! / sum) * b;
            dist.push(mean * level.stride);
          }
        }
        const cx = ((i % gw) + 0.5) * level.stride;
        const cy = (Math.floor(i / gw) + 0.5) * level.stride;
        const x1 = Math.max(0, cx - dist[0]!);
        const y1 = Math.max(0, cy - dist[1]!);
        const x2 = Math.min(W, cx + dist[2]!);
        const y2 = Math.min(H, cy + dist[3]!);
        if (x2 <= x1 || y2 <= y1) continue;
        found.push({ classId: c, score, box: [x1 / W, y1 / H, (x2 - x1) / W, (y2 - y1) / H] });
      }
    }
  }
  found.sort((a, b) => b.score - a.score);
  const kept: Detection[] = [];
  const threshold = opts.iou ?? 0.5;
  for (const f of found) {
    if (kept.length >= (opts.maxDetections ?? 100)) break;
    if (kept.some((k) => k.classId === f.classId && iou(k.box, f.box) > threshold)) continue;
    kept.push({ label: manifest.classes[f.classId]!, classId: f.classId, score: f.score, box: f.box });
  }
  return kept;
}

/**
 * A trained object detector (COCO classes) resident on its own worker thread, like the vision encoder:
 * loading checks the manifest, the file's sha256 and the model's outputs, so a model that loads is the
 * model the manifest describes. Frames are stretched to the model's input size (boxes come back as
 * fractions of the frame, whatever its size).
 */
export class ObjectDetector {
  private constructor(
    readonly manifest: DetectorManifest,
    private readonly session: OrtWorkerSession,
  ) {}

  static async load(manifestPath: string, options: SessionOptions): Promise<ObjectDetector> {
    const manifest = readDetectorManifest(manifestPath);
    const { file, session } = await openVerifiedSession(
      manifestPath,
      manifest,
      options,
      'detector',
      `run npm run models (it converts ${manifest.source.package}/${manifest.source.file})`,
    );
    const missing = manifest.head.levels
      .flatMap((l) => [l.scores, l.boxes])
      .filter((n) => !session.signature.outputNames.includes(n));
    if (missing.length || !session.signature.inputNames.includes(manifest.input.name)) {
      await session.release();
      throw new ModelLoadError(
        `detector ${file} does not have what ${manifestPath} names: input "${manifest.input.name}" and outputs ${missing.join(', ') || '(all there)'}; it has inputs ${session.signature.inputNames.join(', ')} and outputs ${session.signature.outputNames.join(', ')}`,
      );
    }
    return new ObjectDetector(manifest, session);
  }

  /** A JPEG (or PNG) → the model's NCHW input for slot `slot` of `into`. */
  async pixels(image: Buffer, into: Float32Array, slot: number): Promise<void> {
    const { width, height, mean, std, colorOrder } = this.manifest.input;
    const raw = await decodeRgb(image, width, height, 'fill');
    const plane = width * height;
    const order = colorOrder === 'RGB' ? [0, 1, 2] : [2, 1, 0];
    for (let c = 0; c < 3; c++) {
      const d = slot * 3 * plane + c * plane;
      const s = order[c]!;
      const k = 1 / (255 * std[c]!);
      const o = -mean[c]! / std[c]!;
      for (let i = 0; i < plane; i++) into[d + i] = raw[i * 3 + s]! * k + o;
    }
  }

  /** Runs the model on already prepared pixels of `n` images; the raw outputs, by name. */
  async run(pixels: Float32Array, n: number): Promise<Record<string, OrtOutput>> {
    const { width, height, name } = this.manifest.input;
    return this.session.run({
      [name]: {
        type: 'float32',
        data: pixels.subarray(0, n * 3 * width * height),
        dims: [n, 3, height, width],
      },
    });
  }

  /** Detections for each image, in order. */
  async detect(images: Buffer[], opts: DetectOptions = {}): Promise<Detection[][]> {
    const { width, height } = this.manifest.input;
    const pixels = new Float32Array(new SharedArrayBuffer(images.length * 3 * width * height * 4));
    await Promise.all(images.map((img, i) => this.pixels(img, pixels, i)));
    const out = await this.run(pixels, images.length);
    return images.map((_, i) => decodeGfl(this.manifest, out, i, opts));
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

export interface DetectPathOptions extends DetectOptions {
  readonly maxBatch: number;
  readonly maxWaitMs: number;
  readonly maxQueuePerStream: number;
  /** Called after every batch (metrics): when it started and ended, how many frames. */
  readonly onBatch?: (startMs: number, endMs: number, frames: number) => void;
}

/**
 * JPEG frames of many streams → detections: the same dynamic batcher as the encoder's, in front of the
 * detector (one batch in the model at a time). A frame that cannot be decoded is rejected alone.
 */
export function createDetectPath(
  detector: ObjectDetector,
  opts: DetectPathOptions,
): DynamicBatcher<Buffer, Detection[]> {
  const { width, height } = detector.manifest.input;
  const pixels = new Float32Array(new SharedArrayBuffer(opts.maxBatch * 3 * width * height * 4));
  return new DynamicBatcher<Buffer, Detection[]>(
    { maxBatch: opts.maxBatch, maxWaitMs: opts.maxWaitMs, maxQueuePerStream: opts.maxQueuePerStream },
    async (images) => {
      const start = performance.now();
      const failures = await Promise.all(
        images.map((img, i) =>
          detector.pixels(img, pixels, i).then(
            () => null,
            (e: Error) => e,
          ),
        ),
      );
      const out = await detector.run(pixels, images.length);
      opts.onBatch?.(start, performance.now(), images.length);
      return images.map((_, i) => failures[i] ?? decodeGfl(detector.manifest, out, i, opts));
    },
  );
}
