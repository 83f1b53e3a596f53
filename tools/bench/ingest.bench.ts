import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalKafka, RtspTestServer, freePort, generateClip, repoRoot, testDir } from '@vigil/testing';
import { childPids, childrenCpuSeconds, cpuSeconds, pssMb, rssMb } from './proc-stats.js';
import { vigilEnv } from './up-env.js';
import { round3 as round } from './stats.js';

const OUT_W = 640;
const OUT_H = 360;

interface CpuRow {
  readonly mode: 'keyframes' | 'fps2';
  readonly frames: number;
  readonly vigilCpuS: number;
  readonly bareCpuS: number;
  readonly vigilCpuPerFrameMs: number;
  readonly bareCpuPerFrameMs: number;
  readonly ratio: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** CPU seconds (this process's reaped children) used by a command run to completion. */
function cpuOf(cmd: string, args: string[]): { cpu: number; stdout: string } {
  const before = childrenCpuSeconds();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return { cpu: childrenCpuSeconds() - before, stdout: r.stdout };
}

/** The bare ffmpeg command: the same decode (threads, frame skipping) and scale, no JPEG, no Node. */
function bareArgs(clip: string, mode: 'keyframes' | 'fps2'): string[] {
  const filters = [
    ...(mode === 'fps2' ? ['fps=2'] : []),
    `scale=${OUT_W}:${OUT_H}:force_original_aspect_ratio=decrease`,
    `pad=${OUT_W}:${OUT_H}:(ow-iw)/2:(oh-ih)/2`,
  ];
  return [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    ...(mode === 'keyframes' ? ['-skip_frame', 'nokey'] : []),
    '-threads',
    '1',
    '-i',
    clip,
    '-an',
    '-sn',
    '-dn',
    '-vf',
    filters.join(','),
    '-fps_mode',
    'passthrough',
    '-f',
    'null',
    '-',
  ];
}

export function cpuPerFrame(clip: string, repeats: number): CpuRow[] {
  const worker = join(repoRoot(), 'dist/tools/bench/sample-worker.js');
  // Node's own start-up and module loading, paid once per process, not per frame
  const boot = median(
    Array.from({ length: repeats }, () => cpuOf(process.execPath, [worker, clip, 'noop']).cpu),
  );
  const rows: CpuRow[] = [];
  for (const mode of ['keyframes', 'fps2'] as const) {
    const vigil: number[] = [];
    const bare: number[] = [];
    let frames = 0;
    for (let i = 0; i < repeats; i++) {
      const v = cpuOf(process.execPath, [worker, clip, mode]);
      const out = JSON.parse(v.stdout.trim().split('\n').at(-1)!) as { frames: number; error: string | null };
      if (out.error) throw new Error(`vigil sampling failed: ${out.error}`);
      frames = out.frames;
      vigil.push(v.cpu - boot);
      bare.push(cpuOf('ffmpeg', bareArgs(clip, mode)).cpu);
    }
    const v = median(vigil);
    const b = median(bare);
    rows.push({
      mode,
      frames,
      vigilCpuS: round(v),
      bareCpuS: round(b),
      vigilCpuPerFrameMs: round((v / frames) * 1000),
      bareCpuPerFrameMs: round((b / frames) * 1000),
      ratio: round(v / b),
    });
  }
  return rows;
}

interface ScaleRow {
  readonly streams: number;
  readonly keptUp: boolean;
  readonly windowS: number;
  readonly framesExpected: number;
  readonly framesSeen: number;
  /** The worst last-frame age seen across streams, sampled every second through the window. */
  readonly maxFrameAgeS: number;
  readonly drops: number;
  readonly nodeRssMb: number;
  readonly ffmpegRssPerStreamMb: number;
  readonly ffmpegPssPerStreamMb: number;
  readonly cpuCores: { readonly node: number; readonly ffmpeg: number; readonly rtspServer: number };
}

async function scrape(
  port: number,
): Promise<{ framesIn: number; dropped: number; streamsWithFrames: number; maxAgeS: number }> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    let framesIn = 0;
    let dropped = 0;
    let streamsWithFrames = 0;
    let maxAgeS = 0;
    for (const m of text.matchAll(/^vigil_ingest_last_frame_age_seconds\{[^}]*\} ([\d.e+-]+)$/gm)) {
      maxAgeS = Math.max(maxAgeS, Number(m[1]));
    }
    for (const m of text.matchAll(/^vigil_ingest_frames_in_total\{[^}]*\} (\d+)$/gm)) {
      framesIn += Number(m[1]);
      if (Number(m[1]) > 0) streamsWithFrames++;
    }
    for (const m of text.matchAll(/^vigil_ingest_frames_dropped_total\{[^}]*\} (\d+)$/gm))
      dropped += Number(m[1]);
    return { framesIn, dropped, streamsWithFrames, maxAgeS };
  } catch {
    return { framesIn: 0, dropped: 0, streamsWithFrames: 0, maxAgeS: Infinity };
  }
}

/** N concurrent 1080p25 RTSP streams (GOP 50: one keyframe per 2 s) in keyframes mode, one ingest process. */
async function scaleStep(
  n: number,
  rtsp: RtspTestServer,
  brokers: string[],
  windowS: number,
): Promise<ScaleRow> {
  const port = await freePort();
  const streams = Array.from({ length: n }, (_, i) => ({
    id: `bench-${i}`,
    url: rtsp.url('cam'),
    sampling: { mode: 'keyframes' },
    output: { width: OUT_W, height: OUT_H },
  }));
  const child = spawn(process.execPath, [join(repoRoot(), 'bin/vigil.js'), 'ingest'], {
    env: {
      ...process.env,
      // the image's allocator settings, so the memory columns measure what ships
      ...vigilEnv,
      VIGIL_KAFKA_BROKERS: brokers.join(','),
      VIGIL_INGEST_ASSIGNMENT: 'static',
      VIGIL_INGEST_HTTP_PORT: String(port),
      VIGIL_INGEST_STALL_TIMEOUT_MS: '20000',
      VIGIL_LOG_LEVEL: 'warn',
      VIGIL_STREAMS: JSON.stringify(streams),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    const deadline = Date.now() + 60_000 + n * 500;
    while ((await scrape(port)).streamsWithFrames < n) {
      if (Date.now() > deadline || child.exitCode !== null) break;
      await sleep(500);
    }
    await sleep(3000); // let start-up bursts settle
    const pid = child.pid!;
    const ffmpegs = () => childPids(pid);
    const cpu = () => ({
      node: cpuSeconds(pid),
      ffmpeg: ffmpegs().reduce((a, p) => a + cpuSeconds(p), 0),
      rtsp: rtsp.pid ? cpuSeconds(rtsp.pid) : 0,
    });
    const c0 = cpu();
    const m0 = await scrape(port);
    let maxAge = 0;
    const end = Date.now() + windowS * 1000;
    while (Date.now() < end) {
      await sleep(1000);
      maxAge = Math.max(maxAge, (await scrape(port)).maxAgeS);
    }
    const m2 = await scrape(port);
    const c1 = cpu();
    const ff = ffmpegs();
    const row = {
      streams: n,
      windowS,
      framesExpected: (n * windowS) / 2,
      framesSeen: m2.framesIn - m0.framesIn,
      maxFrameAgeS: round(maxAge),
      drops: m2.dropped - m0.dropped,
      nodeRssMb: round(rssMb(pid)),
      ffmpegRssPerStreamMb: round(ff.reduce((a, p) => a + rssMb(p), 0) / Math.max(1, ff.length)),
      ffmpegPssPerStreamMb: round(ff.reduce((a, p) => a + pssMb(p), 0) / Math.max(1, ff.length)),
      cpuCores: {
        node: round((c1.node - c0.node) / windowS),
        ffmpeg: round((c1.ffmpeg - c0.ffmpeg) / windowS),
        rtspServer: round((c1.rtsp - c0.rtsp) / windowS),
      },
    };
    // keeping up: ≥ 97 % of the keyframes due in the window (edges cost one per stream at most), under 1 %
    // dropped, and no lag building up: with a keyframe every 2 s no stream's last sample is older than 4 s
    const keptUp =
      row.framesSeen >= 0.97 * row.framesExpected &&
      row.drops < 0.01 * Math.max(1, row.framesSeen) &&
      row.maxFrameAgeS <= 4;
    return { ...row, keptUp };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

export interface IngestBenchResult {
  readonly clip: string;
  readonly cpuPerFrame: CpuRow[];
  readonly ratioKeyframes: number;
  readonly ratioFps: number;
  readonly scaling: ScaleRow[];
  readonly maxStreamsKeyframes: number;
  readonly nodeRssPerStreamMb: number | null;
}

export async function ingestBench(quick: boolean, log: (line: string) => void): Promise<IngestBenchResult> {
  const cacheDir = join(repoRoot(), '.cache/bench');
  log('generating the 1080p25 H.264 clip (GOP 50) once; cached in .cache/bench');
  const clip = generateClip(join(cacheDir, 'moving-1080p25-gop50-40s.mp4'), {
    scenario: 'moving',
    seconds: 40,
    width: 1920,
    height: 1080,
    fps: 25,
    gop: 50,
  });
  log('measuring CPU per sampled frame: Vigil (ffmpeg child + Node) vs the bare ffmpeg command');
  const cpuRows = cpuPerFrame(clip, quick ? 1 : 3);

  const kafka = new LocalKafka({ dataDir: testDir('bench-kafka') });
  await kafka.start();
  const rtsp = new RtspTestServer([{ name: 'cam', h264loop: clip }]);
  await rtsp.start();
  const scaling: ScaleRow[] = [];
  try {
    const steps = quick ? [10, 25] : [25, 50, 100, 150];
    for (const n of steps) {
      log(`scaling: ${n} concurrent 1080p25 streams in keyframes mode`);
      const row = await scaleStep(n, rtsp, kafka.brokers, quick ? 16 : 30);
      scaling.push(row);
      log(
        `  ${row.keptUp ? 'kept up' : 'fell behind'}: ${row.framesSeen}/${row.framesExpected} frames, ${row.drops} dropped`,
      );
      if (!row.keptUp) break;
    }
  } finally {
    await rtsp.stop();
    await kafka.stop();
  }
  const kept = scaling.filter((r) => r.keptUp);
  const biggest = kept.at(-1);
  const smallest = scaling[0];
  return {
    clip: 'testsrc2 + noise, 1920x1080, 25 fps, GOP 50, 40 s, H.264 veryfast',
    cpuPerFrame: cpuRows,
    ratioKeyframes: cpuRows.find((r) => r.mode === 'keyframes')!.ratio,
    ratioFps: cpuRows.find((r) => r.mode === 'fps2')!.ratio,
    scaling,
    maxStreamsKeyframes: biggest?.streams ?? 0,
    // Node's RSS growth per added stream between the smallest and the largest step that kept up
    nodeRssPerStreamMb:
      biggest && smallest && biggest.streams > smallest.streams
        ? round((biggest.nodeRssMb - smallest.nodeRssMb) / (biggest.streams - smallest.streams))
        : null,
  };
}
