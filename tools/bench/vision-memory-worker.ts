// One process per variant (RSS is per process): loads vigil-patch-v1 with the given memory pattern and
// warm-up batch, then encodes for `seconds`: the first half in batches of 1–3 frames (a quiet site), the
// second half in batches of 1–8 (traffic bunching up). Prints {"rssLoadedMb", "rssQuietMb", "rssEndMb",
// "rssMaxMb", "fps"}: how much the process grew when larger batches first came, and at what speed.
import { VisionModel, shippedModel } from '@vigil/vision';
import { ownRssMb, quietThenBusy } from './memory-run.js';

const [pattern, warm, secs] = process.argv.slice(2);
const seconds = Number(secs);
const maxBatch = 8;

const model = await VisionModel.load(shippedModel('vigil-patch-v1'), {
  provider: { kind: 'cpu' },
  intraOpThreads: 1,
  maxBatch: Number(warm),
  memoryPattern: pattern === 'on',
});
const rssLoadedMb = ownRssMb();
// the batch in shared memory, as the Preprocessor writes it; any pixel values will do
const pixels = new Float32Array(new SharedArrayBuffer(maxBatch * 3 * 224 * 224 * 4));
for (let i = 0; i < pixels.length; i++) pixels[i] = (i % 251) / 251;
// a fixed sequence of batch sizes, the same for every variant
let seed = 7;
const next = (below: number) => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return 1 + ((seed >>> 16) % below);
};
const { rssQuietMb, rssEndMb, rssMaxMb, perS } = await quietThenBusy(seconds, async (quiet) => {
  const n = quiet ? next(3) : next(maxBatch);
  await model.encode(pixels, n);
  return n;
});
const fps = Math.round(perS);
await model.release();
process.stdout.write(JSON.stringify({ rssLoadedMb, rssQuietMb, rssEndMb, rssMaxMb, fps }) + '\n');
