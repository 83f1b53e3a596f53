import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { type INestApplicationContext } from '@nestjs/common';
import {
  AnomalyEventSchema,
  CE_TYPES,
  SummarySchema,
  TOPICS,
  fromCloudEventHeaders,
  type AnomalyEvent,
  type Summary,
} from '@vigil/contracts';
import { loadAnalyzerConfig, loadIngestConfig } from '@vigil/config';
import { type KafkaSubscriber } from '@vigil/kafka';
import { Logger } from '@vigil/observability';
import {
  RtspTestServer,
  cameraCredentials,
  findProcesses,
  generateClip,
  testDir,
  useTestKafka,
  waitFor as until,
  watchTopics,
  writeCameraSecret,
} from '@vigil/testing';
import { startAnalyzer } from '../../apps/analyzer/src/main.js';
import { startIngest } from '../../apps/ingest/src/main.js';

// Unique stream ids per run: the shared broker may hold messages of earlier runs.
const run = randomUUID().slice(0, 6);
const CHANGE = `e2e-box-${run}`;
const STEADY = `e2e-steady-${run}`;
const log = new Logger('e2e', { level: 'warn' });

let broker: Awaited<ReturnType<typeof useTestKafka>>;
let rtsp: RtspTestServer;
let analyzer: INestApplicationContext | undefined;
let ingest: INestApplicationContext | undefined;
let sub: KafkaSubscriber | undefined;
const anomalies: AnomalyEvent[] = [];
const summaries: Summary[] = [];
const ceTypes = new Set<string>();

before(async () => {
  broker = await useTestKafka();
  const dir = testDir('e2e');
  // 8 s clips looped by the RTSP server: the box appears at 4 s (and vanishes at each loop)
  const box = generateClip(join(dir, 'box.mp4'), {
    scenario: 'box',
    seconds: 8,
    width: 320,
    height: 180,
    changeAt: 4,
  });
  const steady = generateClip(join(dir, 'steady.mp4'), {
    scenario: 'steady',
    seconds: 8,
    width: 320,
    height: 180,
  });
  // the cameras ask for a login, as real ones do: ingest reads it from a mounted secret
  rtsp = new RtspTestServer(
    [
      { name: 'box', file: box },
      { name: 'steady', file: steady },
    ],
    undefined,
    { auth: cameraCredentials() },
  );
  const secrets = join(dir, 'secrets');
  writeCameraSecret(secrets, 'e2e-cameras');
  await rtsp.start();

  const env = { VIGIL_KAFKA_BROKERS: broker.brokers.join(','), VIGIL_LOG_LEVEL: 'warn' };
  analyzer = await startAnalyzer(
    loadAnalyzerConfig({
      ...env,
      VIGIL_SUMMARY_INTERVAL_S: '4',
      VIGIL_ANALYZER_HTTP_PORT: '0',
      // 3 s of the clip before its box appears at 4 s
      VIGIL_ANALYZER_WARMUP_SAMPLES: '6',
    }),
    log,
  );

  sub = await watchTopics(
    broker.brokers,
    { groupId: `e2e-${run}`, topics: [TOPICS.anomalies.name, TOPICS.summaries.name] },
    (m) => {
      if (m.key !== CHANGE && m.key !== STEADY) return;
      const ce = fromCloudEventHeaders(m.headers);
      if (ce.ok) ceTypes.add(ce.value.type);
      const value = JSON.parse(m.value!.toString()) as unknown;
      if (m.topic === TOPICS.anomalies.name) anomalies.push(AnomalyEventSchema.parse(value));
      else summaries.push(SummarySchema.parse(value));
    },
    log,
  );

  const streams = [
    {
      id: CHANGE,
      url: rtsp.url('box'),
      credentials: { secret: 'e2e-cameras' },
      sampling: { mode: 'fps', fps: 2 },
      output: { width: 320, height: 180 },
    },
    {
      id: STEADY,
      url: rtsp.url('steady'),
      credentials: { secret: 'e2e-cameras' },
      sampling: { mode: 'fps', fps: 2 },
      output: { width: 320, height: 180 },
    },
  ];
  ingest = await startIngest(
    loadIngestConfig({
      ...env,
      VIGIL_INGEST_HTTP_PORT: '0',
      VIGIL_SECRETS_DIR: secrets,
      VIGIL_STREAMS: JSON.stringify(streams),
    }),
    log,
  );
});

after(async () => {
  await ingest?.close();
  await analyzer?.close();
  await sub?.stop();
  await rtsp?.stop();
  await broker?.stop();
});

test('the clip with a scheduled change yields a start and an end event sharing one eventId', async () => {
  await until(
    'an object_appeared start and end on the box stream',
    () => {
      const starts = anomalies.filter((a) => a.streamId === CHANGE && a.phase === 'start');
      return starts.some((s) => anomalies.some((a) => a.eventId === s.eventId && a.phase === 'end'));
    },
    60_000,
  );
  const start = anomalies.find((a) => a.streamId === CHANGE && a.phase === 'start')!;
  const end = anomalies.find((a) => a.eventId === start.eventId && a.phase === 'end')!;
  assert.equal(start.kind, 'object_appeared');
  assert.ok(start.score >= 1, `score ${start.score}`);
  assert.equal(end.startedAt, start.startedAt);
  assert.ok(end.endedAt && Date.parse(end.endedAt) > Date.parse(start.startedAt));
  // the box covers the middle of the picture: the region must overlap the centre
  assert.ok(
    start.region && start.region.x < 0.5 && start.region.x + start.region.w > 0.5,
    JSON.stringify(start.region),
  );
  assert.ok(
    start.evidence &&
      Buffer.from(start.evidence.base64, 'base64')
        .subarray(0, 2)
        .equals(Buffer.from([0xff, 0xd8])),
  );
});

test('both cameras get grounded summaries; the box camera’s summary mentions its anomaly', async () => {
  await until(
    'summaries for both streams, one counting an anomaly',
    () =>
      summaries.some((s) => s.streamId === STEADY) &&
      summaries.some((s) => s.streamId === CHANGE && s.stats.anomalies > 0),
    60_000,
  );
  const windows = summaries.filter((s) => s.level === 'window');
  const withAnomaly = windows.find((s) => s.streamId === CHANGE && s.stats.anomalies > 0)!;
  assert.match(withAnomaly.text, /anomal(y|ies): object appeared at \d\d:\d\d:\d\d/);
  const { latencyMs, ...decoder } = withAnomaly.decoder;
  assert.deepEqual(decoder, { type: 'grounded', fallback: false });
  assert.ok(latencyMs !== undefined && latencyMs < 50, `grounded took ${latencyMs} ms`);
  assert.ok(withAnomaly.eventIds.length >= 1, 'the summary links its anomaly event');
  const steady = windows.find((s) => s.streamId === STEADY && s.trigger === 'cadence')!;
  assert.match(steady.text, /No anomalies\./);
  assert.ok(steady.stats.frames > 0);
  // windows of twice the 4 s summary interval, one every 4 s
  assert.equal(Date.parse(steady.windowEnd) - Date.parse(steady.windowStart), 8000);
  assert.deepEqual([...ceTypes].sort(), [CE_TYPES.anomaly, CE_TYPES.summary].sort());
});

test('the clip without a change yields no anomaly event', async () => {
  // by now the steady stream has been watched for as long as the box stream needed to alarm, and more
  await until(
    'three summaries of the steady stream',
    () => summaries.filter((s) => s.streamId === STEADY).length >= 3,
    60_000,
  );
  assert.deepEqual(
    anomalies.filter((a) => a.streamId === STEADY),
    [],
  );
});

test('summary ids are deterministic: one per stream and window', () => {
  const keys = summaries.map((s) => `${s.streamId}|${s.windowStart}`);
  const ids = summaries.map((s) => s.summaryId);
  assert.equal(new Set(ids).size, new Set(keys).size);
});

test('the analyzer works on vision tokens: frames go through vigil-patch-v1, the steady camera mostly reuses tokens', async (t) => {
  const { AnalyzerService } = await import('../../apps/analyzer/src/analyzer.service.js');
  const port = analyzer!.get(AnalyzerService).httpPort;
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
  const encoded = value(/^vigil_analyzer_encoder_frames_total (\d+)$/m);
  const batches = value(/^vigil_analyzer_encoder_batches_total (\d+)$/m);
  const steadySkip = value(
    new RegExp(`^vigil_analyzer_gate_skip_ratio\\{stream="${STEADY}"\\} ([\\d.e+-]+)$`, 'm'),
  );
  t.diagnostic(`encoded ${encoded} frames in ${batches} batches; steady camera skip ratio ${steadySkip}`);
  assert.ok(encoded > 0 && batches > 0, 'frames went through vigil-patch-v1');
  assert.ok(steadySkip >= 0.5, `a static scene reuses tokens for most frames: ${steadySkip}`);
  assert.equal((await fetch(`http://127.0.0.1:${port}/health/ready`)).status, 200);
  // what the Grafana dashboard (k8s/monitoring) plots: encoder and decoder latency, events, summaries, lag
  assert.equal(value(/^vigil_analyzer_encoder_batch_seconds_count (\d+)$/m), batches);
  const windows = summaries.filter((s) => s.level === 'window').length;
  assert.ok(
    value(/^vigil_analyzer_decoder_seconds_count\{decoder="grounded",fallback="false"\} (\d+)$/m) >= windows,
  );
  assert.ok(value(/^vigil_analyzer_summaries_total\{level="window"\} (\d+)$/m) >= windows);
  const started = anomalies.filter((a) => a.phase === 'start');
  // counted when published, so at least what the test's consumer has read by now
  const counted = [
    ...text.matchAll(
      /^vigil_analyzer_anomaly_events_total\{kind="object_appeared",severity="[a-z]+"\} (\d+)$/gm,
    ),
  ].reduce((n, m) => n + Number(m[1]), 0);
  assert.ok(counted >= Math.max(1, started.filter((a) => a.kind === 'object_appeared').length), `${counted}`);
  assert.match(text, /^vigil_analyzer_consumer_lag\{topic="vigil\.frames\.v1",partition="\d+"\} \d+$/m);
});

test('closing ingest stops every ffmpeg it started', async () => {
  await ingest!.close();
  ingest = undefined;
  assert.deepEqual(findProcesses(new RegExp(`ffmpeg.*${rtsp.url('box').replaceAll('.', '\\.')}`)), []);
  assert.deepEqual(findProcesses(new RegExp(`ffmpeg.*${rtsp.url('steady').replaceAll('.', '\\.')}`)), []);
});
