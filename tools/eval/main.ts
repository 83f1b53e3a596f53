// npm run eval [-- --quick] [-- --footage]: anomaly detection through the real pipeline on camera clips.
//
// --footage: the same on real footage instead (OpenCV's vtest.avi, people crossing a courtyard, played
// forwards and backwards so the loop has no jump cut, each stream at its own phase), with the object
// detector on; 8 normal streams of 15 minutes (2 camera-hours) and the injected kinds that footage of a
// courtyard can show (no machine: no activity_stopped). Writes bench-results/eval-footage.json.
//
// Clips of a busy normal scene (a walker crossing, a conveyor belt, sensor noise, a slow light drift, a
// burnt-in OSD timecode the streams ignore) with scheduled anomalies of every kind are served by the local
// RTSP server to ingest and the analyzer, exactly as cameras are; the anomaly events and the per-sample
// scores are read back from Kafka. The timecode in each sampled frame ties every sample to clip time, so
// ground truth needs no clock guessing. Writes bench-results/eval.json.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type INestApplicationContext } from '@nestjs/common';
import {
  AnomalyEventSchema,
  FrameMetaSchema,
  ScoreSampleSchema,
  StreamSpecSchema,
  TOPICS,
  headerValue,
  type AnomalyEvent,
  type ScoreSample,
} from '@vigil/contracts';
import { loadAnalyzerConfig, loadIngestConfig } from '@vigil/config';
import { KafkaPublisher, KafkaSubscriber, StreamRegistry, createKafka, ensureTopics } from '@vigil/kafka';
import { Logger } from '@vigil/observability';
import {
  LocalKafka,
  RtspTestServer,
  type SceneFrame,
  TIMECODE_BOX,
  readTimecode,
  repoRoot,
  sceneClip,
  sceneJpeg,
  withTimecode,
  FOOTAGE,
  handOverLens,
  lightsOut,
  videoJpegs,
} from '@vigil/testing';
import { type SceneKind, SCENE_KINDS } from '@vigil/anomaly';
import { startAnalyzer } from '../../apps/analyzer/src/index.js';
import { startIngest } from '../../apps/ingest/src/index.js';

const quick = process.argv.includes('--quick');
const footageMode = process.argv.includes('--footage');
/** Stream ids are new every run: a shared broker may hold an earlier run's events and saved baselines. */
const RUN = Date.now().toString(36);
const FPS = 5; // clip frame rate; streams sample at the StreamSpec default (1 fps, 5 fps bursts)
const CLIP_S = quick ? 110 : footageMode ? 900 : 230;
const WINDOWS: [number, number][] = quick
  ? [[75, 90]]
  : footageMode
    ? [
        [75, 90],
        [400, 415],
        [750, 765],
      ]
    : [
        [75, 90],
        [130, 145],
        [190, 205],
      ];
/** An object that enters and stays: one long window to the end of the clip. */
const STAYS: [number, number][] = [[75, CLIP_S]];
// the full runs watch about an hour of the synthetic scene, two hours of the footage
const NORMAL_STREAMS = quick ? 1 : footageMode ? 8 : 16;
const WARMUP_SAMPLES = 55; // at 1 fps: learned from the first minute, before the first anomaly at 75 s
/** A start this long after a window's end still counts as its detection (the anomaly was seen late). */
const GRACE_S = 5;

const log = new Logger('eval', { level: (process.env.VIGIL_LOG_LEVEL as 'warn' | undefined) ?? 'warn' });
const say = (line: string) => process.stderr.write(`eval: ${line}\n`);

interface StreamPlan {
  readonly id: string;
  readonly kind: SceneKind | null;
  readonly windows: [number, number][];
  readonly file: string;
}

/** The footage at FPS, cropped to 16:9 and scaled to the scene's size, forwards then backwards. */
function loadFootage(): Buffer[] {
  const forward = videoJpegs(join(repoRoot(), FOOTAGE), `fps=${FPS},crop=768:432:0:72,scale=640:360`);
  return [...forward, ...[...forward].reverse()];
}
let footage: Buffer[] = [];
const footageFrame = (i: number, phase: number) => footage[(i + phase) % footage.length]!;

const CRATE = Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" width="125" height="92"><rect width="125" height="92" fill="#8a5a2b"/><path d="M0 0 L125 92 M125 0 L0 92" stroke="#4a2f12" stroke-width="6"/></svg>',
);

/** A footage frame with `kind` injected (frozen: the window's first frame again), timecode burnt in last. */
async function footageAnomaly(
  kind: SceneKind,
  i: number,
  windowStart: number,
  phase: number,
): Promise<Buffer> {
  const base = footageFrame(i, phase);
  const img = sharp(base);
  let out: Buffer;
  switch (kind) {
    case 'lens_covered':
      out = await (await handOverLens(base, 640, 360, i)).jpeg().toBuffer();
      break;
    case 'too_dark':
      out = await (await lightsOut(base, 640, 360, i)).jpeg().toBuffer();
      break;
    case 'overexposed':
      out = await img.linear(3.5, 0).jpeg().toBuffer();
      break;
    case 'blur':
      out = await img.blur(6).jpeg().toBuffer();
      break;
    case 'camera_moved': // turned: the view shifted 160 px
      out = await img
        .extend({ left: 160, background: '#303030' })
        .extract({ left: 0, top: 0, width: 640, height: 360 })
        .jpeg()
        .toBuffer();
      break;
    case 'object_appeared': // a crate put on the floor at the bottom right
      out = await img
        .composite([{ input: CRATE, left: 500, top: 250 }])
        .jpeg()
        .toBuffer();
      break;
    case 'frozen':
      return footageFrameWithTimecode(Math.round(windowStart * FPS), phase);
    case 'activity_stopped':
      throw new Error('the footage has no machine to stop');
  }
  return withTimecode(out, i);
}
const footageFrameWithTimecode = (i: number, phase: number) => withTimecode(footageFrame(i, phase), i);

const drift = (t: number) => 1 + 0.08 * Math.sin((2 * Math.PI * t) / 200);
const normalCache = new Map<number, Promise<Buffer>>();
const normalFrame = (i: number): Promise<Buffer> => {
  let f = normalCache.get(i);
  if (!f) {
    f = sceneJpeg({ i, gain: drift(i / FPS), timecode: i });
    normalCache.set(i, f);
  }
  return f;
};

function anomalyFrame(kind: SceneKind, i: number, windowStart: number): SceneFrame | Promise<Buffer> {
  const t = i / FPS;
  const base = { i, gain: drift(t), timecode: i };
  switch (kind) {
    case 'lens_covered':
      return { ...base, covered: true };
    case 'too_dark':
      return { ...base, gain: drift(t) * 0.15 };
    case 'overexposed':
      return { ...base, gain: drift(t) * 3.5 };
    case 'blur':
      return { ...base, blur: 6 };
    case 'camera_moved':
      return { ...base, shiftX: 160 };
    case 'activity_stopped':
      return { ...base, machineStopped: true, stoppedAt: Math.round(windowStart * FPS) };
    case 'object_appeared':
      return { ...base, crate: true };
    case 'frozen':
      // the encoder hangs: the picture of the window's first frame, timecode included, over and over
      return normalFrame(Math.round(windowStart * FPS));
  }
}

async function makeClip(plan: Omit<StreamPlan, 'file'>, dir: string, phase = 0): Promise<string> {
  const name = `${plan.kind ?? 'normal'}-${CLIP_S}s-${plan.windows.map((w) => w.join('-')).join('_') || 'none'}-v1.mp4`;
  if (footageMode)
    return sceneClip(join(dir, `footage-p${phase}-${name}`), CLIP_S, FPS, (i) => {
      const t = i / FPS;
      const w = plan.windows.find(([a, b]) => t >= a && t < b);
      return w && plan.kind ? footageAnomaly(plan.kind, i, w[0], phase) : footageFrameWithTimecode(i, phase);
    });
  return sceneClip(join(dir, name), CLIP_S, FPS, (i) => {
    const t = i / FPS;
    const w = plan.windows.find(([a, b]) => t >= a && t < b);
    return w && plan.kind ? anomalyFrame(plan.kind, i, w[0]) : normalFrame(i);
  });
}

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
};
const r3 = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 1000);

/** Area under the ROC curve (Mann–Whitney U), ties counted half. */
function auroc(pos: number[], neg: number[]): number | null {
  if (!pos.length || !neg.length) return null;
  const all = [...pos.map((v) => [v, 1] as const), ...neg.map((v) => [v, 0] as const)].sort(
    (a, b) => a[0] - b[0],
  );
  let rankSum = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j < all.length && all[j]![0] === all[i]![0]) j++;
    const rank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) if (all[k]![1] === 1) rankSum += rank;
    i = j;
  }
  return (rankSum - (pos.length * (pos.length + 1)) / 2) / (pos.length * neg.length);
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const clipDir = join(repoRoot(), '.cache/eval');
  mkdirSync(clipDir, { recursive: true });
  const kinds = footageMode ? SCENE_KINDS.filter((k) => k !== 'activity_stopped') : SCENE_KINDS;
  if (footageMode) footage = loadFootage();
  const plans: StreamPlan[] = [];
  say(
    `rendering ${kinds.length + NORMAL_STREAMS} clips of ${CLIP_S} s${footageMode ? ' of real footage' : ''} (cached in .cache/eval)`,
  );
  // each footage stream plays the loop from its own point (37 s apart), so they are not one stream n times
  const phaseOf = (n: number) => (footageMode ? (n * 37 * FPS) % footage.length : 0);
  for (let n = 0; n < NORMAL_STREAMS; n++) {
    const p = { id: `eval-${RUN}-normal-${n + 1}`, kind: null, windows: [] as [number, number][] };
    plans.push({ ...p, file: await makeClip(p, clipDir, phaseOf(n)) });
  }
  for (const [k, kind] of kinds.entries()) {
    const p = {
      id: `eval-${RUN}-${kind.replaceAll('_', '-')}`,
      kind,
      windows: kind === 'object_appeared' ? STAYS : WINDOWS,
    };
    plans.push({ ...p, file: await makeClip(p, clipDir, phaseOf(NORMAL_STREAMS + k)) });
  }
  footage = [];
  normalCache.clear();

  let kafka: LocalKafka | null = null;
  let brokers = process.env.VIGIL_KAFKA_BROKERS?.split(',').filter(Boolean);
  if (!brokers?.length) {
    kafka = new LocalKafka({ dataDir: mkdtempSync(join(tmpdir(), 'vigil-eval-kafka-')) });
    await kafka.start();
    brokers = kafka.brokers;
  }
  // each clip under its own mount; the normal clips are the same file, each mount plays it on its own
  const rtsp = new RtspTestServer(plans.map((p) => ({ name: p.id, h264loop: p.file })));
  let analyzer: INestApplicationContext | undefined;
  let ingest: INestApplicationContext | undefined;
  let sub: KafkaSubscriber | undefined;
  let publisher: KafkaPublisher | undefined;
  let registered = false;
  const conn = { brokers, clientId: 'vigil-eval', connectTimeoutMs: 5000 };
  const anomalies: (AnomalyEvent & { receivedAt: number })[] = [];
  const scores: ScoreSample[] = [];
  /** Per stream: [capturedAt ms, clip frame index] of sampled frames. */
  const samples = new Map<string, [number, number][]>();
  const decoding: Promise<void>[] = [];
  try {
    await rtsp.start();
    const k = createKafka(conn, log);
    await ensureTopics(k, conn, [TOPICS.streams]);
    publisher = new KafkaPublisher(k, conn);
    await publisher.connect();
    registered = true;
    await new StreamRegistry(publisher, 'urn:vigil:eval').put(
      plans.map((p) =>
        StreamSpecSchema.parse({
          id: p.id,
          name: p.kind ? `eval: ${p.kind}` : 'eval: normal scene',
          url: rtsp.url(p.id),
          analysis: { ignore: [TIMECODE_BOX] },
        }),
      ),
    );

    const env = {
      VIGIL_KAFKA_BROKERS: brokers.join(','),
      VIGIL_LOG_LEVEL: process.env.VIGIL_LOG_LEVEL ?? 'warn',
    };
    analyzer = await startAnalyzer(
      loadAnalyzerConfig({
        ...env,
        VIGIL_ANALYZER_HTTP_PORT: '0',
        VIGIL_ANALYZER_WARMUP_SAMPLES: String(WARMUP_SAMPLES),
        VIGIL_SUMMARY_INTERVAL_S: '60',
        // synthetic shapes hold nothing a COCO detector knows, and 24 streams at a detection a second
        // are far beyond what 2 cores run (npm run bench -- vision); the detector's own evaluation is on
        // real footage (test/integration/objects-footage.test.ts)
        VIGIL_DETECTOR: process.env.VIGIL_DETECTOR ?? (footageMode ? 'nanodet-coco' : 'off'),
      }),
      log,
    );
    sub = new KafkaSubscriber(
      createKafka(conn, log),
      conn,
      {
        groupId: `vigil-eval-${Date.now()}`,
        topics: [TOPICS.anomalies.name, TOPICS.scores.name, TOPICS.frames.name],
        // joined before ingest starts: everything of this run is still ahead
        fromBeginning: false,
      },
      log,
    );
    const ids = new Set(plans.map((p) => p.id));
    await sub.start((batch) => {
      for (const m of batch) {
        if (!m.value || !m.key || !ids.has(m.key)) continue;
        if (m.topic === TOPICS.anomalies.name)
          anomalies.push({
            ...AnomalyEventSchema.parse(JSON.parse(m.value.toString())),
            receivedAt: Date.now(),
          });
        else if (m.topic === TOPICS.scores.name)
          scores.push(ScoreSampleSchema.parse(JSON.parse(m.value.toString())));
        else {
          const meta = FrameMetaSchema.parse(JSON.parse(headerValue(m.headers, 'vigil_meta') ?? '{}'));
          const jpeg = m.value;
          decoding.push(
            readTimecode(jpeg).then((tc) => {
              const list = samples.get(meta.streamId) ?? [];
              list.push([Date.parse(meta.capturedAt), tc]);
              samples.set(meta.streamId, list);
            }),
          );
        }
      }
      return Promise.resolve();
    });
    await sub.whenJoined();
    ingest = await startIngest(loadIngestConfig({ ...env, VIGIL_INGEST_HTTP_PORT: '0' }), log);
    say(`${plans.length} streams running; watching until every clip has played to its end`);

    // the clips started playing with the RTSP server; stop once every stream is past its clip's end
    const endIndex = (CLIP_S - 2) * FPS;
    const deadline = Date.now() + (CLIP_S + 120) * 1000;
    let lastReport = 0;
    for (;;) {
      await Promise.all(decoding.splice(0));
      const progress = plans.map((p) => Math.max(0, ...(samples.get(p.id) ?? []).map((s) => s[1])));
      if (progress.every((i) => i >= endIndex)) break;
      if (Date.now() > deadline) {
        say('deadline reached before every clip ended; evaluating what was seen');
        break;
      }
      if (Date.now() - lastReport > 15_000) {
        lastReport = Date.now();
        say(
          `clip time ${(Math.min(...progress) / FPS).toFixed(0)} s of ${CLIP_S}; ${anomalies.length} event messages so far`,
        );
      }
      await sleep(1000);
    }
    await sleep(3000); // events of the last samples
  } finally {
    // the eval's cameras leave the registry, so a shared broker's other users do not inherit them
    if (registered)
      await new StreamRegistry(publisher!, 'urn:vigil:eval')
        .remove(plans.map((p) => p.id))
        .catch((err: unknown) => say(`could not remove the eval streams: ${(err as Error).message}`));
    await publisher?.disconnect();
    await ingest?.close();
    await analyzer?.close();
    await sub?.stop();
    await rtsp.stop();
    await kafka?.stop();
  }

  // --- ground truth and scoring --------------------------------------------------------------------
  const offsets = new Map<string, number>(); // capturedAt ms − clip ms
  for (const p of plans) {
    const list = samples.get(p.id) ?? [];
    // frames whose timecode advanced (a frozen picture repeats its timecode); clip time is frames / FPS
    const moving = list.filter((s, i) => i === 0 || s[1] !== list[i - 1]![1]);
    const diffs = moving.map(([at, tc]) => at - (tc * 1000) / FPS);
    const off = pct(diffs, 0.5);
    if (off === null) throw new Error(`no frames of ${p.id} were read back; is the pipeline running?`);
    offsets.set(p.id, off);
  }
  const clipT = (id: string, iso: string | number) =>
    ((typeof iso === 'number' ? iso : Date.parse(iso)) - offsets.get(id)!) / 1000;
  const warmEnd = new Map<string, number>();
  for (const p of plans) {
    const first = scores
      .filter((s) => s.streamId === p.id && !s.learning)
      .map((s) => clipT(p.id, s.capturedAt));
    warmEnd.set(p.id, first.length ? Math.min(...first) : CLIP_S);
  }

  const perKind: Record<
    string,
    { windows: number; detected: number; onsetS: number[]; startedAtS: number[] }
  > = {};
  let falseAlarms = 0;
  const falseAlarmsByKind: Record<string, number> = {};
  let confusions = 0;
  let normalSeconds = 0;
  const falseAlarmList: string[] = [];
  const wrongKindList: string[] = [];
  for (const p of plans) {
    const starts = anomalies.filter((a) => a.streamId === p.id && a.phase === 'start');
    const matched = new Set<AnomalyEvent>();
    if (p.kind) {
      const k = (perKind[p.kind] ??= { windows: 0, detected: 0, onsetS: [], startedAtS: [] });
      for (const [a, b] of p.windows) {
        if (a < warmEnd.get(p.id)!) continue; // the analyzer was still learning: not a fair window
        k.windows++;
        const hit = starts
          .filter((e) => e.kind === p.kind && !matched.has(e))
          .find((e) => {
            const t = clipT(p.id, e.startedAt);
            return t >= a - 2 && t <= b + GRACE_S;
          });
        if (!hit) continue;
        matched.add(hit);
        k.detected++;
        k.onsetS.push((hit.receivedAt - offsets.get(p.id)!) / 1000 - a);
        k.startedAtS.push(clipT(p.id, hit.startedAt) - a);
      }
    }
    for (const e of starts) {
      if (matched.has(e)) continue;
      const t = clipT(p.id, e.startedAt);
      const inWindow = p.windows.some(([a, b]) => t >= a - 2 && t <= b + GRACE_S);
      if (inWindow) {
        confusions++;
        wrongKindList.push(`${p.id} ${e.kind} at clip ${t.toFixed(1)} s: ${e.description}`);
      } else {
        falseAlarms++;
        falseAlarmsByKind[e.kind] = (falseAlarmsByKind[e.kind] ?? 0) + 1;
        falseAlarmList.push(`${p.id} ${e.kind} at clip ${t.toFixed(1)} s: ${e.description}`);
      }
    }
    const lastT = Math.min(CLIP_S, Math.max(0, ...(samples.get(p.id) ?? []).map((x) => x[1] / FPS)));
    const watched = Math.max(0, lastT - warmEnd.get(p.id)!);
    const inWindows = p.windows.reduce(
      (sum, [a, b]) => sum + Math.max(0, Math.min(b + GRACE_S, CLIP_S) - Math.max(a, warmEnd.get(p.id)!)),
      0,
    );
    normalSeconds += Math.max(0, watched - inWindows);
  }

  // frame AUROC over scored samples: inside a window (after its first second) against clearly outside
  const pos: number[] = [];
  const neg: number[] = [];
  const posByKind: Record<string, number[]> = {};
  for (const s of scores) {
    if (s.learning) continue;
    const p = plans.find((x) => x.id === s.streamId)!;
    const t = clipT(p.id, s.capturedAt);
    const inside = p.windows.some(([a, b]) => t >= a + 1 && t < b);
    const near = p.windows.some(([a, b]) => t >= a - 2 && t < b + GRACE_S);
    if (inside && p.kind) {
      pos.push(s.score);
      (posByKind[p.kind] ??= []).push(s.score);
    } else if (!near) neg.push(s.score);
  }

  const kindsOut = Object.fromEntries(
    Object.entries(perKind).map(([kind, k]) => [
      kind,
      {
        windows: k.windows,
        detected: k.detected,
        recall: k.windows ? r3(k.detected / k.windows) : null,
        onsetDelayP50S: r3(pct(k.onsetS, 0.5)),
        onsetDelayP95S: r3(pct(k.onsetS, 0.95)),
        startedAtErrorP50S: r3(pct(k.startedAtS, 0.5)),
        frameAuroc: r3(auroc(posByKind[kind] ?? [], neg)),
      },
    ]),
  );
  const allOnsets = Object.values(perKind).flatMap((k) => k.onsetS);
  const hours = normalSeconds / 3600;
  const result = {
    suite: 'eval',
    quick,
    at: new Date().toISOString(),
    clipSeconds: CLIP_S,
    streams: plans.length,
    sampling: 'StreamSpec default: 1 fps, bursts of 5 fps when a score rises',
    warmupSamples: WARMUP_SAMPLES,
    kinds: kindsOut,
    minRecall: r3(Math.min(...Object.values(perKind).map((k) => (k.windows ? k.detected / k.windows : 0)))),
    onsetDelayP50S: r3(pct(allOnsets, 0.5)),
    onsetDelayP95S: r3(pct(allOnsets, 0.95)),
    falseAlarms,
    normalStreamHours: r3(hours),
    falseAlarmsPerStreamHour: hours > 0 ? r3(falseAlarms / hours) : null,
    falseAlarmsPerStreamHourByKind: Object.fromEntries(
      Object.entries(falseAlarmsByKind).map(([k, n]) => [k, hours > 0 ? r3(n / hours) : null]),
    ),
    footage: footageMode ? 'vtest.avi (OpenCV), forwards and backwards, detector on' : null,
    wrongKindDuringAnomaly: confusions,
    frameAuroc: r3(auroc(pos, neg)),
    scoredSamples: { anomalous: pos.length, normal: neg.length },
    falseAlarmEvents: falseAlarmList,
    wrongKindEvents: wrongKindList,
    wallSeconds: Math.round((Date.now() - t0) / 1000),
  };
  const outDir = join(repoRoot(), 'bench-results');
  mkdirSync(outDir, { recursive: true });
  const outFile = join(outDir, footageMode ? 'eval-footage.json' : 'eval.json');
  writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');
  console.log(
    `\neval — ${plans.length} streams, ${CLIP_S} s clips${footageMode ? ' of real footage (detector on)' : ''}, through RTSP, ingest, analyzer and Kafka${quick ? ' (quick)' : ''}`,
  );
  console.table(
    Object.entries(kindsOut).map(([kind, k]) => ({
      kind,
      windows: k.windows,
      recall: k.recall,
      'onset p50 s': k.onsetDelayP50S,
      'onset p95 s': k.onsetDelayP95S,
      'frame AUROC': k.frameAuroc,
    })),
  );
  console.log(
    `minRecall=${result.minRecall} onsetDelayP95S=${result.onsetDelayP95S} falseAlarms=${falseAlarms} over ${result.normalStreamHours} normal stream-hours (${result.falseAlarmsPerStreamHour}/h) wrongKind=${confusions} frameAuroc=${result.frameAuroc}`,
  );
  if (falseAlarms)
    console.log(
      `false alarms per stream-hour by kind: ${Object.entries(result.falseAlarmsPerStreamHourByKind)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
  for (const f of falseAlarmList) console.log(`  false alarm: ${f}`);
  for (const f of wrongKindList) console.log(`  also during an anomaly: ${f}`);
  console.log(`wrote ${outFile}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`eval failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
