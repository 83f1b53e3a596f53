import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import {
  NearDuplicateGate,
  ObjectDetector,
  Preprocessor,
  VisionModel,
  createDetectPath,
  createEncodePath,
  grayThumbnail,
  shippedModel,
} from '@vigil/vision';
import { FOOTAGE, generateClip, repoRoot, testDir, videoJpegs } from '@vigil/testing';
import { runBenchWorker } from './up-env.js';
import { round3 as round } from './stats.js';

interface ThroughputRow {
  readonly model: string;
  readonly batch: number;
  readonly frames: number;
  readonly fps: number;
  readonly cpuMsPerFrame: number;
  readonly meanBatch: number;
}

/** 16 distinct 640×360 JPEG camera frames (noise over a colour each), made with sharp. */
async function cameraFrames(n: number): Promise<Buffer[]> {
  return Promise.all(
    Array.from({ length: n }, (_, i) =>
      sharp({
        create: {
          width: 640,
          height: 360,
          channels: 3,
          background: { r: (i * 37) % 255, g: (i * 91) % 255, b: (i * 53) % 255 },
          noise: { type: 'gaussian', mean: 120, sigma: 40 },
        },
      })
        .jpeg({ quality: 80 })
        .toBuffer(),
    ),
  );
}

/** The analyzer's encode path (createEncodePath), with a queue deep enough that nothing is dropped. */
function encodePath(
  model: VisionModel,
  maxBatch: number,
  maxWaitMs: number,
  onBatch?: (start: number, end: number, n: number) => void,
) {
  return createEncodePath(model, {
    maxBatch,
    maxWaitMs,
    maxQueuePerStream: 1000,
    ...(onBatch ? { onBatch } : {}),
  });
}

async function throughput(
  model: VisionModel,
  name: string,
  batch: number,
  frames: Buffer[],
  perStream: number,
): Promise<ThroughputRow> {
  let batches = 0;
  const b = encodePath(model, batch, 20, () => void batches++);
  // warm the path once at this batch size
  await Promise.all(frames.slice(0, batch).map((f, i) => b.submit(`w${i}`, f)));
  batches = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  // 16 streams with a backlog: every stream's frames are queued at once
  await Promise.all(frames.flatMap((f, s) => Array.from({ length: perStream }, () => b.submit(`s${s}`, f))));
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const n = frames.length * perStream;
  return {
    model: name,
    batch,
    frames: n,
    fps: round(n / wall),
    cpuMsPerFrame: round((cpu.user + cpu.system) / 1000 / n),
    meanBatch: round(n / batches),
  };
}

interface DetectorRow {
  readonly batch: number;
  readonly frames: number;
  readonly fps: number;
  readonly cpuMsPerFrame: number;
  /** The encoder (vigil-patch-v1) on the same frames, same batch, side by side. */
  readonly encoderCpuMsPerFrame: number;
}

/**
 * The object detector's cost in the analyzer's own path (createDetectPath: decode, resize to 416×416, model,
 * box decoding), 1 intra-op thread, on real 640×480 footage where setup fetched it, beside the encoder's
 * cost on the same frames.
 */
async function detectorCost(frames: Buffer[], perStream: number): Promise<DetectorRow[]> {
  const det = await ObjectDetector.load(shippedModel('nanodet-coco'), {
    provider: { kind: 'cpu' },
    intraOpThreads: 1,
  });
  const enc = await VisionModel.load(shippedModel('vigil-patch-v1'), {
    provider: { kind: 'cpu' },
    intraOpThreads: 1,
  });
  const rows: DetectorRow[] = [];
  try {
    for (const batch of [1, 8]) {
      const path = createDetectPath(det, { maxBatch: batch, maxWaitMs: 20, maxQueuePerStream: 1000 });
      await Promise.all(frames.slice(0, batch).map((f, i) => path.submit(`w${i}`, f)));
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      await Promise.all(
        frames.flatMap((f, s) => Array.from({ length: perStream }, () => path.submit(`s${s}`, f))),
      );
      const wall = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      await path.close();
      const n = frames.length * perStream;
      const encoder = await throughput(enc, 'vigil-patch-v1', batch, frames, perStream);
      rows.push({
        batch,
        frames: n,
        fps: round(n / wall),
        cpuMsPerFrame: round((cpu.user + cpu.system) / 1000 / n),
        encoderCpuMsPerFrame: encoder.cpuMsPerFrame,
      });
    }
  } finally {
    await det.release();
    await enc.release();
  }
  return rows;
}

/** 16 frames of the real courtyard footage at 640×480 (null where setup has not fetched it). */
function footageFrames(): Buffer[] | null {
  try {
    return videoJpegs(join(repoRoot(), FOOTAGE), 'fps=0.2,scale=640:480').slice(0, 16);
  } catch {
    return null;
  }
}

interface BreakdownRow {
  readonly model: string;
  /** CPU ms to decode, resize and normalize one frame (one at a time). */
  readonly preprocessCpuMs: number;
  /** Model run alone, ms of wall per frame at each batch size (1 intra-op thread). */
  readonly modelMsPerFrame: Record<number, number>;
}

/** Where a frame's time goes: preprocessing (per frame, whatever the batch) against the model run per batch. */
async function breakdown(model: VisionModel, name: string, frames: Buffer[]): Promise<BreakdownRow> {
  const pre = new Preprocessor(model.manifest, 32);
  for (let i = 0; i < 32; i++) await pre.write(frames[i % frames.length]!, i);
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < 64; i++) await pre.write(frames[i % frames.length]!, i % 32);
  const cpu = process.cpuUsage(cpu0);
  const modelMsPerFrame: Record<number, number> = {};
  for (const batch of [1, 8, 32]) {
    await model.encode(pre.pixels, batch);
    const runs = Math.ceil(128 / batch);
    const t0 = performance.now();
    for (let r = 0; r < runs; r++) await model.encode(pre.pixels, batch);
    modelMsPerFrame[batch] = round((performance.now() - t0) / (runs * batch));
  }
  return { model: name, preprocessCpuMs: round((cpu.user + cpu.system) / 1000 / 64), modelMsPerFrame };
}

/**
 * Light load: how long a frame waits for its batch beyond the encoder being free; must stay ≤ maxWaitMs.
 * A probe measures, at the same time, how late a plain 5 ms timer fires on this machine: the floor under
 * any timer-driven wait here (a loaded 2-vCPU VM wakes the main thread late now and then).
 */
async function batchingWait(
  model: VisionModel,
  frames: Buffer[],
  maxWaitMs: number,
  seconds: number,
): Promise<{ max: number; p99: number; timerLateMax: number; timerLateP99: number }> {
  const submits: number[] = [];
  const waits: number[] = [];
  let prevEnd = 0;
  const b = encodePath(model, 32, maxWaitMs, (start, end, n) => {
    for (const s of submits.splice(0, n)) waits.push(start - Math.max(s, prevEnd));
    prevEnd = end;
  });
  const late: number[] = [];
  let probing = true;
  const probe = (async () => {
    while (probing) {
      const t = performance.now();
      await sleep(5);
      late.push(performance.now() - t - 5);
    }
  })();
  const end = performance.now() + seconds * 1000;
  const pending: Promise<Float32Array>[] = [];
  while (performance.now() < end) {
    const s = Math.floor(Math.random() * frames.length);
    submits.push(performance.now());
    pending.push(b.submit(`s${s}`, frames[s]!));
    await sleep(15 + Math.random() * 30);
  }
  await Promise.all(pending);
  probing = false;
  await probe;
  await b.close();
  const p99 = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length * 0.99)] ?? 0;
  return {
    max: round(Math.max(...waits)),
    p99: round(p99(waits)),
    timerLateMax: round(Math.max(...late)),
    timerLateP99: round(p99(late)),
  };
}

function sampleClip(clip: string, dir: string): Buffer[] {
  const r = spawnSync('ffmpeg', [
    '-v',
    'error',
    '-i',
    clip,
    '-vf',
    'fps=2,scale=640:360',
    '-q:v',
    '5',
    join(dir, 'f%04d.jpg'),
  ]);
  if (r.status !== 0) throw new Error(`cannot sample ${clip}: ${r.stderr.toString()}`);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jpg'))
    .sort()
    .map((f) => readFileSync(join(dir, f)));
}

/** The analyzer's gate settings on 2 fps samples: skip ratio, and whether each scheduled change got encoded. */
async function gateRun(
  jpegs: Buffer[],
  changesAtS: number[],
): Promise<{ skipRatio: number; missed: number }> {
  const gate = new NearDuplicateGate<number>({ threshold: 0.004, maxReuseMs: 10_000 });
  const encodedAt = new Set<number>();
  for (const [i, jpeg] of jpegs.entries()) {
    const at = i * 500;
    const thumb = await grayThumbnail(jpeg, 32, 18);
    if (!gate.check('cam', thumb.pixels, at).reuse) {
      gate.encoded('cam', thumb.pixels, at, i);
      encodedAt.add(i);
    }
  }
  // the first sample at or after each change must have been encoded
  const missed = changesAtS.filter((t) => !encodedAt.has(Math.ceil(t * 2))).length;
  return { skipRatio: round(gate.skipRatio('cam')), missed };
}

interface MemoryRow {
  readonly variant: string;
  readonly memoryPattern: boolean;
  readonly warmBatch: number;
  readonly rssLoadedMb: number;
  readonly rssQuietMb: number;
  readonly rssEndMb: number;
  readonly rssMaxMb: number;
  /** rssEndMb − rssQuietMb: what the process grew when batches of up to 8 first came */
  readonly growthMb: number;
  readonly fps: number;
}

/**
 * The encoder's memory when batch sizes vary, one process per variant (vision-memory-worker.ts, with the
 * image's allocator settings): ONNX Runtime's defaults as the analyzer had them (memory pattern on, warm-up
 * at batch 1), each change alone, and what ships (pattern off, warm-up at the batcher's maxBatch).
 */
function memoryRows(seconds: number): MemoryRow[] {
  const variants = [
    { variant: 'before: pattern on, warm 1', memoryPattern: true, warmBatch: 1 },
    { variant: 'pattern on, warm 8', memoryPattern: true, warmBatch: 8 },
    { variant: 'pattern off, warm 1', memoryPattern: false, warmBatch: 1 },
    { variant: 'shipped: pattern off, warm 8', memoryPattern: false, warmBatch: 8 },
  ];
  return variants.map((v) => {
    const out = runBenchWorker<Omit<MemoryRow, 'variant' | 'memoryPattern' | 'warmBatch' | 'growthMb'>>(
      'vision-memory-worker',
      [v.memoryPattern ? 'on' : 'off', String(v.warmBatch), String(seconds)],
    );
    return { ...v, ...out, growthMb: round(out.rssEndMb - out.rssQuietMb) };
  });
}

export async function visionBench(quick: boolean, log: (l: string) => void) {
  const frames = await cameraFrames(16);
  const rows: ThroughputRow[] = [];
  const parts: BreakdownRow[] = [];
  for (const name of ['vigil-patch-v1', 'tiny-vit-test']) {
    const model = await VisionModel.load(shippedModel(name), {
      provider: { kind: 'cpu' },
      intraOpThreads: 1,
    });
    for (const batch of [1, 8, 32]) {
      log(`vision: ${name} at batch ${batch}, 16 streams`);
      rows.push(await throughput(model, name, batch, frames, quick ? 4 : 12));
    }
    parts.push(await breakdown(model, name, frames));
    await model.release();
  }
  const vit = rows.filter((r) => r.model === 'tiny-vit-test');
  const speedupBatched = round(
    Math.max(...vit.filter((r) => r.batch > 1).map((r) => r.fps)) / vit.find((r) => r.batch === 1)!.fps,
  );
  const patch = await VisionModel.load(shippedModel('vigil-patch-v1'), {
    provider: { kind: 'cpu' },
    intraOpThreads: 1,
  });
  log('vision: batching wait under light load (maxWaitMs 20)');
  const wait = await batchingWait(patch, frames, 20, quick ? 3 : 8);
  await patch.release();

  log('vision: encoder memory when batch sizes vary (one process per variant)');
  const memory = memoryRows(quick ? 20 : 60);
  const before = memory[0]!;
  const shipped = memory.at(-1)!;

  log('vision: near-duplicate gate on a static scene and on small scheduled changes');
  const dir = testDir('vision-bench');
  const steady = generateClip(join(repoRoot(), '.cache/bench/steady-640x360-30s.mp4'), {
    scenario: 'steady',
    seconds: 30,
    width: 640,
    height: 360,
  });
  const small = generateClip(join(repoRoot(), '.cache/bench/small-changes-640x360-30s.mp4'), {
    scenario: 'small-changes',
    seconds: 30,
    width: 640,
    height: 360,
    changeAt: 10,
  });
  const sub = (name: string) => {
    const d = join(dir, name);
    spawnSync('mkdir', ['-p', d]);
    return d;
  };
  const staticRun = await gateRun(sampleClip(steady, sub('steady')), []);
  const changeRun = await gateRun(sampleClip(small, sub('small')), [10, 20]);

  log('vision: object detector (nanodet-coco, 416×416) beside the encoder, 16 streams');
  const footage = footageFrames();
  const detector = await detectorCost(footage ?? frames, quick ? 2 : 6);
  const best = Math.min(...detector.map((d) => d.cpuMsPerFrame));
  return {
    detector,
    detectorFrames: footage ? 'vtest.avi at 640×480' : 'synthetic 640×360',
    /** cameras one 2-core node can detect at one frame a second, the detector alone on both cores */
    detectorCamerasPer2Cores: Math.floor(2000 / best),
    /** the detector's CPU per frame over the encoder's, at the detector's best batch */
    detectorVsEncoderCpu: round(best / detector.find((d) => d.cpuMsPerFrame === best)!.encoderCpuMsPerFrame),
    throughput: rows,
    breakdown: parts,
    speedupBatched,
    maxBatchingWaitMs: wait.max,
    p99BatchingWaitMs: wait.p99,
    maxWaitMs: 20,
    timerLateMaxMs: wait.timerLateMax,
    timerLateP99Ms: wait.timerLateP99,
    skipStatic: staticRun.skipRatio,
    missedChanges: changeRun.missed,
    skipOnChangingClip: changeRun.skipRatio,
    memory,
    /** shipped vs before: end RSS, and encode speed */
    memoryEndRatio: round(shipped.rssEndMb / before.rssEndMb),
    memoryFpsRatio: round(shipped.fps / before.fps),
  };
}
