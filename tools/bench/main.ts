// `npm run bench -- <suite…> [--quick]`: runs benchmarks, prints a table, writes bench-results/<suite>.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@vigil/testing';
import { decodersBench } from './decoders.bench.js';
import { e2eBench } from './e2e.bench.js';
import { ingestBench } from './ingest.bench.js';
import { searchBench } from './search.bench.js';
import { visionBench } from './vision.bench.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const suites = args.filter((a) => !a.startsWith('--'));
const known = ['ingest', 'vision', 'decoders', 'e2e', 'search'];
const chosen = suites.length ? suites : known;
for (const s of chosen) {
  if (!known.includes(s)) {
    console.error(`bench: unknown suite "${s}"; choose from ${known.join(', ')}`);
    process.exit(2);
  }
}

const machine = { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version };
const outDir = join(repoRoot(), 'bench-results');
mkdirSync(outDir, { recursive: true });
const log = (line: string) => console.error(`bench: ${line}`);

/** Writes bench-results/<suite>.json: the figures with the run's mode, time and machine; returns its path. */
function save(suite: string, figures: object): string {
  const file = join(outDir, `${suite}.json`);
  const at = new Date().toISOString();
  writeFileSync(file, JSON.stringify({ suite, quick, at, machine, ...figures }, null, 2) + '\n');
  return file;
}

if (chosen.includes('ingest')) {
  const r = await ingestBench(quick, log);
  const file = save('ingest', r);
  console.log(
    `\ningest — CPU per sampled frame (${r.clip}), Vigil vs bare ffmpeg, same decode and scale to ${640}x${360}`,
  );
  console.table(
    r.cpuPerFrame.map((row) => ({
      mode: row.mode,
      frames: row.frames,
      'vigil ms/frame': row.vigilCpuPerFrameMs,
      'bare ffmpeg ms/frame': row.bareCpuPerFrameMs,
      ratio: row.ratio,
    })),
  );
  console.log('ingest — concurrent 1080p25 streams, keyframes mode, one ingest process');
  console.table(
    r.scaling.map((s) => ({
      streams: s.streams,
      'kept up': s.keptUp,
      'frames seen/expected': `${s.framesSeen}/${s.framesExpected}`,
      drops: s.drops,
      'max frame age s': s.maxFrameAgeS,
      'node RSS MB': s.nodeRssMb,
      'ffmpeg RSS MB/stream': s.ffmpegRssPerStreamMb,
      'ffmpeg PSS MB/stream': s.ffmpegPssPerStreamMb,
      'cores node/ffmpeg/rtsp': `${s.cpuCores.node}/${s.cpuCores.ffmpeg}/${s.cpuCores.rtspServer}`,
    })),
  );
  console.log(
    `ratioKeyframes=${r.ratioKeyframes} ratioFps=${r.ratioFps} maxStreamsKeyframes=${r.maxStreamsKeyframes} nodeRssPerStreamMb=${r.nodeRssPerStreamMb}`,
  );
  console.log(`wrote ${file}`);
}

if (chosen.includes('vision')) {
  const r = await visionBench(quick, log);
  const file = save('vision', r);
  console.log('\nvision — 16 streams feeding the batcher (preprocessing + encode), CPU, 1 intra-op thread');
  console.table(
    r.throughput.map((t) => ({
      model: t.model,
      batch: t.batch,
      frames: t.frames,
      'frames/s': t.fps,
      'CPU ms/frame': t.cpuMsPerFrame,
      'mean batch': t.meanBatch,
    })),
  );
  for (const b of r.breakdown)
    console.log(
      `${b.model}: preprocessing ${b.preprocessCpuMs} CPU ms/frame; model alone ${Object.entries(
        b.modelMsPerFrame,
      )
        .map(([n, ms]) => `${ms} ms/frame at batch ${n}`)
        .join(', ')}`,
    );
  console.log(
    `speedupBatched=${r.speedupBatched} (tiny-vit-test) maxBatchingWaitMs=${r.maxBatchingWaitMs} p99=${r.p99BatchingWaitMs} (maxWaitMs ${r.maxWaitMs}; a plain 5 ms timer fired up to ${r.timerLateMaxMs} ms late, p99 ${r.timerLateP99Ms}) skipStatic=${r.skipStatic} missedChanges=${r.missedChanges} skipOnChangingClip=${r.skipOnChangingClip}`,
  );
  console.log(
    'vision — encoder memory: vigil-patch-v1, batches of 1–3 for the first half, then 1–8 (RSS of one process each)',
  );
  console.table(
    r.memory.map((m) => ({
      variant: m.variant,
      'loaded MB': m.rssLoadedMb,
      'quiet MB': m.rssQuietMb,
      'end MB': m.rssEndMb,
      'max MB': m.rssMaxMb,
      'growth MB': m.growthMb,
      'frames/s': m.fps,
    })),
  );
  console.log(`memoryEndRatio=${r.memoryEndRatio} memoryFpsRatio=${r.memoryFpsRatio} (shipped / before)`);
  console.log(
    `\nvision — object detector nanodet-coco (416×416, 1 intra-op thread) on ${r.detectorFrames}, 16 streams`,
  );
  console.table(
    r.detector.map((d) => ({
      batch: d.batch,
      frames: d.frames,
      'frames/s': d.fps,
      'CPU ms/frame': d.cpuMsPerFrame,
      'encoder CPU ms/frame (same frames)': d.encoderCpuMsPerFrame,
    })),
  );
  console.log(
    `detectorCamerasPer2Cores=${r.detectorCamerasPer2Cores} (at 1 detection/s, detector alone) detectorVsEncoderCpu=${r.detectorVsEncoderCpu}`,
  );
  console.log(`wrote ${file}`);
}

if (chosen.includes('decoders')) {
  const r = await decodersBench(quick, log);
  const file = save('decoders', r);
  console.log(
    `\ndecoders — windows falling due together per stream, ${r.model} (${r.prefixTokens}-token prefix, ${r.promptTokens}-token prompt, ${r.maxNewTokens} new tokens, greedy), CPU, 1 thread`,
  );
  console.table(
    r.rows.map((x) => ({
      backend: x.backend,
      streams: x.streams,
      mode: x.mode,
      windows: x.windows,
      'windows/s': x.windowsPerS,
      'p50 ms': x.p50Ms,
      'p99 ms': x.p99Ms,
    })),
  );
  console.log(
    `speedupBatched=${r.speedupBatched} (32 streams) speedupPrefix=${r.speedupPrefix} (1 stream; ${r.speedupPrefixBatched8} at 8 streams batched) groundedP99Ms=${r.groundedP99Ms}`,
  );
  console.log(
    '\ndecoder memory — 1–2 streams a call for the first half, then 1–8, every window its own length (one process each)',
  );
  console.table(
    r.memory.map((m) => ({
      'memory pattern': m.memoryPattern ? 'on' : 'off',
      'loaded MB': m.rssLoadedMb,
      'after quiet half MB': m.rssQuietMb,
      'end MB': m.rssEndMb,
      'max MB': m.rssMaxMb,
      'growth MB': m.growthMb,
      'windows/s': m.windowsPerS,
    })),
  );
  console.log(
    `memoryOffEndRatio=${r.memoryOffEndRatio} memoryOffSpeedRatio=${r.memoryOffSpeedRatio} (off / on)`,
  );
  console.log(`wrote ${file}`);
}

if (chosen.includes('e2e')) {
  const r = await e2eBench(quick, log);
  const file = save('e2e', r);
  console.log(
    `\ne2e — ${r.cameras} cameras at ${r.sampleFps} fps through vigil up for ${r.seconds} s: ${r.anomalyStarts} lens_covered starts (${r.otherStarts} others: ${r.otherKinds.join(', ') || 'none'})`,
  );
  console.log(
    `pipelineP50Ms=${r.pipelineP50Ms} pipelineP99Ms=${r.pipelineP99Ms} (max ${r.pipelineMaxMs}; targets ≤ 500 / ≤ 1500) onsetP50Ms=${r.onsetP50Ms} onsetP95Ms=${r.onsetP95Ms} (${r.onsetMatched} matched to a scheduled onset)`,
  );
  console.log(`wrote ${file}`);
}

if (chosen.includes('search')) {
  const r = await searchBench(quick, log);
  const file = save('search', r);
  console.log(
    `\nsearch — ${r.queries} questions over the history (${r.model}; ${r.texts} real texts, the rest noisy copies of their vectors), one query at a time, 1 core`,
  );
  console.table(
    r.table.map((t) => ({
      rows: t.rows,
      'vigil p50 ms': t.vigilP50Ms,
      'vigil p99 ms': t.vigilP99Ms,
      'one camera p50/p99 ms': `${t.vigilFilteredP50Ms}/${t.vigilFilteredP99Ms}`,
      'exact p50 ms': t.exactP50Ms,
      'exact p99 ms': t.exactP99Ms,
      'exact/vigil': t.speedup,
      'recall@10 rows/texts': `${t.recallAt10}/${t.textRecallAt10}`,
      'index MB': t.indexMb,
    })),
  );
  console.log(
    `embedding the question: p50 ${r.embedQueryP50Ms} ms (add it to the figures above for a whole search)`,
  );
  console.log(`wrote ${file}`);
}
