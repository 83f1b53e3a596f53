import { DynamicBatcher } from './dynamic-batcher.js';
import { Preprocessor } from './preprocess.js';
import { type VisionModel } from './vision-model.js';

export interface EncodePathOptions {
  readonly maxBatch: number;
  readonly maxWaitMs: number;
  readonly maxQueuePerStream: number;
  /** Called after every batch (metrics, benchmarks): when its decoding started, when its encode ended. */
  readonly onBatch?: (startMs: number, endMs: number, frames: number) => void;
}

/**
 * JPEG frames of many streams → tokens: the dynamic batcher in front of one model. Two batches are in
 * flight, double-buffered: while one is in the model, the next is decoded and resized on libvips' thread
 * pool (a batch's frames concurrently), so decoding and inference overlap on a multi-core node. The model
 * takes batches in the order they were formed. Resolves each frame with its own [T × D] tokens; a frame
 * that cannot be decoded is rejected alone.
 */
export function createEncodePath(
  model: VisionModel,
  opts: EncodePathOptions,
): DynamicBatcher<Buffer, Float32Array> {
  const free = [
    new Preprocessor(model.manifest, opts.maxBatch),
    new Preprocessor(model.manifest, opts.maxBatch),
  ];
  const per = model.tokens * model.manifest.output.tokenDims;
  // the model's turns, in batch order
  let turn: Promise<unknown> = Promise.resolve();
  return new DynamicBatcher<Buffer, Float32Array>(
    {
      maxBatch: opts.maxBatch,
      maxWaitMs: opts.maxWaitMs,
      maxQueuePerStream: opts.maxQueuePerStream,
      concurrency: 2,
    },
    async (jpegs) => {
      const start = performance.now();
      const pre = free.pop()!; // concurrency 2, two buffers: one is always free here
      try {
        const decoded = Promise.all(
          jpegs.map((jpeg, i) =>
            pre.write(jpeg, i).then(
              () => null,
              (e: Error) => e,
            ),
          ),
        );
        const encoded = turn.then(async () => {
          const failures = await decoded;
          return { failures, out: await model.encode(pre.pixels, jpegs.length) };
        });
        turn = encoded.catch(() => undefined);
        const { failures, out } = await encoded;
        opts.onBatch?.(start, performance.now(), jpegs.length);
        return jpegs.map((_, i) => failures[i] ?? out.slice(i * per, (i + 1) * per));
      } finally {
        free.push(pre);
      }
    },
  );
}
