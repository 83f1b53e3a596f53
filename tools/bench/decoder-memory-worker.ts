// One process per variant (RSS is per process): loads the tiny MoE test decoder with ONNX Runtime's memory
// pattern on or off, caches the prefixes of the 8 streams, then generates for `seconds`: the first half
// 1–2 streams at a time (a quiet site), the second half 1–8 (windows falling due together), every window
// with its own length (5–40 samples, 1–4 frames, 16–64 new tokens), so the sessions see a new set of
// input shapes at nearly every step. Prints
// {"rssLoadedMb", "rssQuietMb", "rssEndMb", "rssMaxMb", "windowsPerS"}.
import { join } from 'node:path';
import { OnnxDecoder } from '@vigil/decoders';
import { repoRoot } from '@vigil/testing';
import { window } from './decoders.bench.js';
import { ownRssMb, quietThenBusy } from './memory-run.js';

const [pattern, secs] = process.argv.slice(2);
const seconds = Number(secs);

const decoder = new OnnxDecoder({
  manifestPath: join(repoRoot(), 'models', 'tiny-moe-test', 'model.json'),
  memoryPattern: pattern === 'on',
});
await decoder.start();
// every stream's prefix cached first, so what follows measures the sessions, not the prefix cache filling
await decoder.generate(
  Array.from({ length: 8 }, (_, s) => ({ ...decoder.request(window(s, -1, 1)), maxNewTokens: 1 })),
);
const rssLoadedMb = ownRssMb();
// a fixed sequence, the same for every variant
let seed = 11;
const next = (below: number) => {
  seed = (seed * 48271) % 2147483647;
  return 1 + (seed % below);
};
let k = 0;
const { rssQuietMb, rssEndMb, rssMaxMb, perS } = await quietThenBusy(seconds, async (quiet) => {
  const streams = next(quiet ? 2 : 8);
  const reqs = Array.from({ length: streams }, (_, s) => ({
    ...decoder.request(window(s, k++, next(4), 4 + next(36))),
    maxNewTokens: 15 + next(49),
  }));
  await decoder.generate(reqs);
  return streams;
});
const windowsPerS = Math.round(perS * 10) / 10;
await decoder.close();
process.stdout.write(JSON.stringify({ rssLoadedMb, rssQuietMb, rssEndMb, rssMaxMb, windowsPerS }) + '\n');
