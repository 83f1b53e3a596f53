// End-to-end latency through `vigil up`: cameras on the local RTSP server, each with scheduled lens
// occlusions, registered on vigil.streams.v1 of a `vigil up` process; an independent consumer (another
// process) timestamps every anomaly start it receives. pipeline = receipt − capturedAt of the frame that
// started the event (its observedAt); onset = receipt − the moment the occlusion began in the clip (mapped
// to wall time through the timecode burnt into every frame).
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FrameMetaSchema, StreamSpecSchema, TOPICS, headerValue } from '@vigil/contracts';
import { KafkaPublisher, KafkaSubscriber, StreamRegistry, createKafka, ensureTopics } from '@vigil/kafka';
import { Logger } from '@vigil/observability';
import { percentile } from './stats.js';
import { upEnv } from './up-env.js';
import {
  LocalKafka,
  RtspTestServer,
  TIMECODE_BOX,
  freePort,
  readTimecode,
  repoRoot,
  sceneClip,
} from '@vigil/testing';

const FPS = 5;
const CLIP_S = 60;
/** Occlusions in clip time (s); the clip loops, so each repeats every CLIP_S. */
const COVERED: [number, number][] = [
  [24, 32],
  [44, 52],
];

export async function e2eBench(quick: boolean, say: (l: string) => void) {
  const cameras = 10;
  const runS = quick ? 75 : 150;
  const log = new Logger('bench-e2e', { level: 'warn' });
  const clip = await sceneClip(
    join(repoRoot(), '.cache/bench', `e2e-covered-${CLIP_S}s-v1.mp4`),
    CLIP_S,
    FPS,
    (i, t) => ({ i, timecode: i, covered: COVERED.some(([a, b]) => t >= a && t < b) }),
  );
  const kafka = new LocalKafka({
    port: await freePort(),
    dataDir: mkdtempSync(join(tmpdir(), 'vigil-e2e-kafka-')),
  });
  await kafka.start();
  const brokers = kafka.brokers;
  const prefix = `e2e-${Date.now().toString(36)}-`;
  const ids = Array.from({ length: cameras }, (_, i) => `${prefix}${i + 1}`);
  const rtsp = new RtspTestServer(
    ids.map((id) => ({ name: id, h264loop: clip })),
    await freePort(),
  );
  const conn = { brokers, clientId: 'vigil-e2e-bench', connectTimeoutMs: 5000 };
  const children: ReturnType<typeof spawn>[] = [];
  const receipts: {
    receivedAt: number;
    streamId: string;
    kind: string;
    startedAt: string;
    observedAt: string;
  }[] = [];
  const samples = new Map<string, [number, number][]>();
  const decoding: Promise<void>[] = [];
  let frames: KafkaSubscriber | undefined;
  try {
    await rtsp.start();
    const k = createKafka(conn, log);
    await ensureTopics(k, conn, [TOPICS.streams, TOPICS.frames, TOPICS.anomalies]);
    const up = spawn(process.execPath, [join(repoRoot(), 'bin/vigil.js'), 'up'], {
      env: {
        ...process.env,
        ...(await upEnv(brokers, 'e2e')),
        VIGIL_ANALYZER_WARMUP_SAMPLES: '30',
        // info: its "Vigil is up" line says when to register the cameras
        VIGIL_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(up);
    let upErr = '';
    up.stderr.on('data', (d: Buffer) => (upErr = (upErr + d.toString()).slice(-20_000)));
    const consumer = spawn(
      process.execPath,
      [join(repoRoot(), 'dist/tools/bench/e2e-consumer.js'), brokers.join(','), prefix],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    children.push(consumer);
    let ready = false;
    let buf = '';
    consumer.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = JSON.parse(buf.slice(0, nl)) as { ready?: boolean } & (typeof receipts)[number];
        buf = buf.slice(nl + 1);
        if (line.ready) ready = true;
        else receipts.push(line);
      }
    });
    // the frames, read here, tie clip time to wall time (the timecode in each picture)
    frames = new KafkaSubscriber(k, conn, { groupId: `${prefix}frames`, topics: [TOPICS.frames.name] }, log);
    await frames.start((batch) => {
      for (const m of batch) {
        if (!m.key?.startsWith(prefix) || !m.value) continue;
        const meta = FrameMetaSchema.parse(JSON.parse(headerValue(m.headers, 'vigil_meta') ?? '{}'));
        const key = m.key;
        decoding.push(
          readTimecode(m.value).then((tc) => {
            const list = samples.get(key) ?? [];
            list.push([Date.parse(meta.capturedAt), tc]);
            samples.set(key, list);
          }),
        );
      }
      return Promise.resolve();
    });
    const t0 = Date.now();
    let upSeen = false;
    while (!ready || !(upSeen ||= /Vigil is up/.test(upErr))) {
      if (up.exitCode !== null) throw new Error(`vigil up exited: ${upErr}`);
      if (Date.now() - t0 > 120_000)
        throw new Error(`vigil up or the consumer did not start: ${upErr.slice(-2000)}`);
      await sleep(200);
    }
    const pub = new KafkaPublisher(k, conn);
    await pub.connect();
    await new StreamRegistry(pub, 'urn:vigil:bench').put(
      ids.map((id) =>
        StreamSpecSchema.parse({
          id,
          url: rtsp.url(id),
          sampling: { mode: 'fps', fps: 2 },
          analysis: { ignore: [TIMECODE_BOX] },
        }),
      ),
    );
    say(`${cameras} cameras registered with vigil up; watching for ${runS} s`);
    const startedAt = Date.now();
    while (Date.now() - startedAt < runS * 1000) {
      await sleep(5000);
      say(`${Math.round((Date.now() - startedAt) / 1000)} s: ${receipts.length} anomaly starts received`);
    }
    await new StreamRegistry(pub, 'urn:vigil:bench').remove(ids);
    await pub.disconnect();
    await Promise.all(decoding);
  } finally {
    for (const c of children) c.kill('SIGINT');
    await Promise.all(
      children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('close', r)))),
    );
    await frames?.stop();
    await rtsp.stop();
    await kafka.stop();
  }

  // clip time → wall time per camera and loop: capturedAt − timecode/FPS, the median per loop
  const covered = receipts.filter((r) => r.kind === 'lens_covered');
  const pipeline = covered.map((r) => r.receivedAt - Date.parse(r.observedAt));
  const onset: number[] = [];
  for (const r of covered) {
    const list = (samples.get(r.streamId) ?? []).filter(
      ([at]) => Math.abs(at - Date.parse(r.startedAt)) < CLIP_S * 500,
    );
    const offsets = list.map(([at, tc]) => at - (tc * 1000) / FPS).sort((a, b) => a - b);
    const offset = offsets[Math.floor(offsets.length / 2)];
    if (offset === undefined) continue;
    const clipT = (Date.parse(r.startedAt) - offset) / 1000;
    const [a] = COVERED.find(([s, e]) => clipT >= s - 2 && clipT < e) ?? [];
    if (a !== undefined) onset.push(r.receivedAt - (offset + a * 1000));
  }
  const others = receipts.filter((r) => r.kind !== 'lens_covered').map((r) => r.kind);
  return {
    cameras,
    seconds: runS,
    sampleFps: 2,
    anomalyStarts: covered.length,
    otherStarts: others.length,
    otherKinds: [...new Set(others)],
    pipelineP50Ms: percentile(pipeline, 50),
    pipelineP99Ms: percentile(pipeline, 99),
    pipelineMaxMs: pipeline.length ? Math.max(...pipeline) : null,
    onsetP50Ms: percentile(onset, 50),
    onsetP95Ms: percentile(onset, 95),
    onsetMatched: onset.length,
    targets: { pipelineP50Ms: 500, pipelineP99Ms: 1500 },
  };
}
