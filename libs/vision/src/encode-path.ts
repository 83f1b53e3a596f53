import { DynamicBatcher } from './dynamic-batcher.js';
import { Preprocessor } from './preprocess.js';
import { type VisionModel } from './vision-model.js';

export interface EncodePathOptions {
  readonly maxBatch: number;
  readonly maxWaitMs: number;
  readonly maxQueuePerStream: number;
  /** Called after every batch (metrics, benchmarks). */
  readonly onBatch?: (startMs: number, endMs: number, frames: number) => void;
}

/**
 * JPEG frames of many streams → tokens: the dynamic batcher in front of one model. A batch's frames are
 * decoded and resized concurrently (libvips' thread pool), then encoded in one session run. Resolves
 * each frame with its own [T × D] tokens.
 */
export function createEncodePath(
  model: VisionModel,
  opts: EncodePathOptions,
): DynamicBatcher<Buffer, Float32Array> {
  const pre = new Preprocessor(model.manifest, opts.maxBatch);
  const per = model.tokens * model.manifest.output.tokenDims;
  return new DynamicBatcher<Buffer, Float32Array>(
    { maxBatch: opts.maxBatch, maxWaitMs: opts.maxWaitMs, maxQueuePerStream: opts.maxQueuePerStream },
    async (jpegs) => {
      const start = performance.now();
      await Promise.all(jpegs.map((jpeg, i) => pre.write(jpeg, i)));
      const out = await model.encode(pre.pixels, jpegs.length);
      opts.onBatch?.(start, performance.now(), jpegs.length);
      return jpegs.map((_, i) => out.slice(i * per, (i + 1) * per));
    },
  );
}
