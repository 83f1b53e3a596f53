// Decoder benchmark: the in-process `onnx` backend with the tiny MoE test model at 1, 8 and 32 streams whose
// windows fall due together, batched (one generation for all) vs unbatched (one after another), and with vs
// without each stream's prefix reused; and `grounded` per window. Same prompts, same answers (greedy), so
// the ratios measure only how the work is run.
import { join } from 'node:path';
import { type DecodeRequest, GroundedDecoder, OnnxDecoder, type GenerateRequest } from '@vigil/decoders';
import { repoRoot } from '@vigil/testing';
import { percentile } from './stats.js';
import { runBenchWorker } from './up-env.js';

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/** A window of a stream as the analyzer hands it over: 20 samples, an anomaly every third, `frames` frames of
 * vision tokens. */
export function window(stream: number, k: number, frames: number, samples = 20): DecodeRequest {
  const start = Date.parse('2026-11-29T10:00:00Z') + k * 10_000;
  const tokens = () => {
    const t = new Float32Array(196 * 16);
    for (let i = 0; i < t.length; i++) t[i] = ((i * 7919 + stream * 131 + k * 17) % 1000) / 1000;
    return t;
  };
  return {
    streamId: `cam-${stream}`,
    streamName: `Camera ${stream}`,
    context: 'a warehouse aisle with a conveyor belt that runs all day; people walk through now and then',
    window: {
      start,
      end: start + 20_000,
      trigger: 'cadence',
      samples: Array.from({ length: samples }, (_, i) => ({ at: start + i * 1000, change: (i % 5) / 100 })),
      anomalies: k % 3 === 0 ? [{ at: start + 4000, kind: 'object_appeared', score: 1.4 }] : [],
      frames: Array.from({ length: frames }, (_, i) => ({
        at: start + i * 10_000,
        until: start + i * 10_000,
        merged: 0,
        tokens: tokens(),
      })),
      merged: 0,
      dropped: 0,
    },
  };
}

export interface DecoderRow {
  backend: string;
  streams: number;
  mode: string;
  windows: number;
  windowsPerS: number;
  p50Ms: number;
  p99Ms: number;
}

export interface DecoderMemoryRow {
  readonly memoryPattern: boolean;
  readonly rssLoadedMb: number;
  readonly rssQuietMb: number;
  readonly rssEndMb: number;
  readonly rssMaxMb: number;
  /** rssEndMb − rssQuietMb: what the process grew when batches of up to 8 windows came */
  readonly growthMb: number;
  readonly windowsPerS: number;
}

/**
 * The decoder's memory when batch sizes and lengths vary, ONNX Runtime's memory pattern on and off, one
 * process each (decoder-memory-worker.ts, with the image's allocator settings).
 */
function memoryRows(seconds: number): DecoderMemoryRow[] {
  return [true, false].map((memoryPattern) => {
    const out = runBenchWorker<Omit<DecoderMemoryRow, 'memoryPattern' | 'growthMb'>>(
      'decoder-memory-worker',
      [memoryPattern ? 'on' : 'off', String(seconds)],
    );
    return { memoryPattern, ...out, growthMb: round(out.rssEndMb - out.rssQuietMb) };
  });
}

export async function decodersBench(quick: boolean, log: (l: string) => void) {
  const rounds = quick ? 2 : 3;
  // an answer of two or three sentences with a finding, as JSON, is about this long
  const maxNewTokens = 96;
  // a 20 s window after near-duplicate merging: four frames
  const frames = 4;
  const decoder = new OnnxDecoder({
    manifestPath: join(repoRoot(), 'models', 'tiny-moe-test', 'model.json'),
    maxNewTokens,
  });
  await decoder.start();
  const rows: DecoderRow[] = [];
  // every stream's windows of a round fall due together; latency counts from then to the window's answer
  const measure = async (streams: number, batched: boolean, reusePrefix: boolean): Promise<DecoderRow> => {
    const latencies: number[] = [];
    let windows = 0;
    // warm the prefixes (or not) so every measured round is alike
    const build = (k: number): GenerateRequest[] =>
      Array.from({ length: streams }, (_, s) => ({ ...decoder.request(window(s, k, frames)), maxNewTokens }));
    await decoder.generate(build(-1), { batched, reusePrefix });
    // at least 24 windows a measurement, so one camera is not three windows of noise
    const n = Math.max(rounds, Math.ceil(24 / streams));
    const t0 = performance.now();
    for (let k = 0; k < n; k++) {
      const due = performance.now();
      const reqs = build(k);
      if (batched) {
        await decoder.generate(reqs, { batched: true, reusePrefix });
        latencies.push(...reqs.map(() => performance.now() - due));
      } else {
        for (const r of reqs) {
          await decoder.generate([r], { batched: false, reusePrefix });
          latencies.push(performance.now() - due);
        }
      }
      windows += reqs.length;
    }
    const seconds = (performance.now() - t0) / 1000;
    const row = {
      backend: 'onnx tiny-moe-test',
      streams,
      mode: `${batched ? 'batched' : 'unbatched'}${reusePrefix ? '' : ', no prefix reuse'}`,
      windows,
      windowsPerS: round(windows / seconds),
      p50Ms: round(percentile(latencies, 50) ?? 0, 1),
      p99Ms: round(percentile(latencies, 99) ?? 0, 1),
    };
    log(`${row.backend} ${streams} streams ${row.mode}: ${row.windowsPerS} windows/s, p99 ${row.p99Ms} ms`);
    return row;
  };
  for (const streams of [1, 8, 32]) {
    rows.push(await measure(streams, true, true));
    rows.push(await measure(streams, false, true));
  }
  const noPrefix1 = await measure(1, false, false);
  const noPrefix8 = await measure(8, true, false);
  rows.push(noPrefix1, noPrefix8);
  const sample = decoder.request(window(0, 0, frames));
  const prefixTokens = (
    await decoder.generate([{ ...sample, parts: [], maxNewTokens: 1 }], { reusePrefix: false })
  )[0]!.contextTokens;
  const promptTokens = (await decoder.generate([{ ...sample, maxNewTokens: 1 }], { reusePrefix: false }))[0]!
    .contextTokens;
  await decoder.close();

  // grounded: the fallback and the default; every window on its own
  const grounded = new GroundedDecoder();
  for (const streams of [1, 8, 32]) {
    const latencies: number[] = [];
    const n = quick ? 2000 : 10_000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const r = window(i % streams, i, 0);
      const s = performance.now();
      await grounded.decode(r);
      latencies.push(performance.now() - s);
    }
    const seconds = (performance.now() - t0) / 1000;
    rows.push({
      backend: 'grounded',
      streams,
      mode: 'per window',
      windows: n,
      windowsPerS: round(n / seconds, 0),
      p50Ms: round(percentile(latencies, 50) ?? 0, 4),
      p99Ms: round(percentile(latencies, 99) ?? 0, 4),
    });
  }
  const find = (streams: number, mode: string) => rows.find((r) => r.streams === streams && r.mode === mode)!;
  log('decoders: memory when batch sizes and lengths vary, memory pattern on and off (one process each)');
  const memory = memoryRows(quick ? 20 : 60);
  const [on, off] = memory as [DecoderMemoryRow, DecoderMemoryRow];
  return {
    model: decoder.manifest.name,
    maxNewTokens,
    prefixTokens,
    promptTokens,
    rows,
    speedupBatched: round(find(32, 'batched').windowsPerS / find(32, 'unbatched').windowsPerS),
    // one camera's consecutive windows (the prefix's own effect) and eight cameras batched (as the analyzer runs)
    speedupPrefix: round(find(1, 'unbatched').windowsPerS / noPrefix1.windowsPerS),
    speedupPrefixBatched8: round(find(8, 'batched').windowsPerS / noPrefix8.windowsPerS),
    groundedP99Ms: Math.max(...rows.filter((r) => r.backend === 'grounded').map((r) => r.p99Ms)),
    memory,
    /** pattern off over on: the process's size at the end, and windows per second */
    memoryOffEndRatio: round(off.rssEndMb / on.rssEndMb),
    memoryOffSpeedRatio: round(off.windowsPerS / on.windowsPerS),
  };
}
