// An analyzer that falls behind sheds its backlog from the old end: frames that waited longer than
// VIGIL_ANALYZER_MAX_FRAME_AGE_MS are dropped and counted per stream, the frames it does analyze stay
// current, and its health says "degraded: overloaded" (still ready) until a minute without drops.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { type INestApplicationContext } from '@nestjs/common';
import { ScoreSampleSchema, StreamSpecSchema, TOPICS } from '@vigil/contracts';
import { loadAnalyzerConfig } from '@vigil/config';
import { KafkaPublisher, type KafkaSubscriber, createKafka, ensureTopics, frameMessage } from '@vigil/kafka';
import { Logger } from '@vigil/observability';
import { sceneJpeg, sumMetric, useTestKafka, waitFor, watchTopics } from '@vigil/testing';
import { startAnalyzer } from '../../apps/analyzer/src/main.js';

const log = new Logger('test', { level: 'error' });
const RUN = randomUUID().slice(0, 6);
const CAMS = Array.from({ length: 6 }, (_, i) => `load-${RUN}-${i}`);
const MAX_AGE_MS = 2000;
let broker: Awaited<ReturnType<typeof useTestKafka>>;
let analyzer: INestApplicationContext | undefined;
let pub: KafkaPublisher;
let watcher: KafkaSubscriber;
/** Scores of live frames: capture time and when the test read the score. */
const scored: { streamId: string; capturedAt: number; readAt: number }[] = [];

before(async () => {
  broker = await useTestKafka();
  const conn = { brokers: broker.brokers, clientId: 'overload', connectTimeoutMs: 3000 };
  const kafka = createKafka(conn, log);
  await ensureTopics(kafka, conn, [TOPICS.frames, TOPICS.scores]);
  pub = new KafkaPublisher(kafka, conn);
  await pub.connect();
  watcher = await watchTopics(
    broker.brokers,
    { groupId: `overload-watch-${RUN}`, topics: [TOPICS.scores.name] },
    (m) => {
      if (!m.key || !CAMS.includes(m.key)) return;
      const s = ScoreSampleSchema.parse(JSON.parse(m.value!.toString()));
      scored.push({ streamId: s.streamId, capturedAt: Date.parse(s.capturedAt), readAt: Date.now() });
    },
    log,
  );
});

after(async () => {
  await analyzer?.close();
  await watcher?.stop();
  await pub?.disconnect();
  await broker?.stop();
});

const runId = randomUUID();
let seq = 0;
async function publishRound(): Promise<number> {
  const at = Date.now();
  seq++;
  const image = await sceneJpeg({ i: seq, noise: 4 });
  await pub.publish(
    TOPICS.frames.name,
    CAMS.map((id) =>
      frameMessage(
        StreamSpecSchema.parse({ id, url: `rtsp://cam.example/${id}` }),
        { image, seq, runId, capturedAt: at },
        'fps',
      ),
    ),
  );
  return at;
}

test('a backlog older than the age limit is shed and counted per stream; what is analyzed is current; health says overloaded', async (t) => {
  const config = loadAnalyzerConfig({
    VIGIL_KAFKA_BROKERS: broker.brokers.join(','),
    VIGIL_ANALYZER_GROUP_ID: `vigil-analyzer-overload-${RUN}`,
    VIGIL_ANALYZER_HTTP_PORT: '0',
    VIGIL_ANALYZER_MAX_FRAME_AGE_MS: String(MAX_AGE_MS),
    VIGIL_ANALYZER_WARMUP_SAMPLES: '5',
  });
  const { AnalyzerService } = await import('../../apps/analyzer/src/analyzer.service.js');
  // the group reads a little, so it has committed offsets, and stops
  analyzer = await startAnalyzer(config, log);
  await analyzer.get(AnalyzerService).whenReady();
  const live = (ms: number) => setInterval(() => void publishRound(), ms);
  let timer = live(500);
  await waitFor('first scores', () => CAMS.every((id) => scored.some((s) => s.streamId === id)), 60_000);
  clearInterval(timer);
  await analyzer.close();
  // a backlog builds while no analyzer runs: 40 rounds, all older than the limit when read
  for (let i = 0; i < 40; i++) await publishRound();
  await new Promise((r) => setTimeout(r, MAX_AGE_MS + 500));
  analyzer = await startAnalyzer(config, log);
  const service = analyzer.get(AnalyzerService);
  const base = `http://127.0.0.1:${service.httpPort}`;
  const liveFrom = Date.now();
  timer = live(500);
  try {
    await waitFor(
      'scores of live frames from every camera',
      () =>
        CAMS.every((id) => scored.filter((s) => s.streamId === id && s.capturedAt >= liveFrom).length >= 4),
      60_000,
    );
  } finally {
    clearInterval(timer);
  }
  const text = await service.metricsText();
  const dropped = CAMS.map((id) =>
    sumMetric(text, 'vigil_analyzer_frames_dropped_total', `stream="${id}"`, 'reason="stale"'),
  );
  const worst = Math.max(
    ...scored.filter((s) => s.capturedAt >= liveFrom).map((s) => s.readAt - s.capturedAt),
  );
  t.diagnostic(
    `stale frames dropped per camera: ${dropped.join(', ')}; slowest live frame scored ${worst} ms after capture`,
  );
  assert.ok(worst < MAX_AGE_MS + 3000, `live frames are analyzed while current (${worst} ms)`);
  const health = (await (await fetch(`${base}/health/ready`)).json()) as { status: string; detail: string };
  assert.ok(
    dropped.every((d) => d >= 30),
    'each camera’s stale backlog was dropped and counted',
  );
  assert.ok(
    scored.every((s) => s.capturedAt >= liveFrom || s.readAt < liveFrom),
    'no backlog frame was analyzed after the restart',
  );
  assert.equal(health.status, 'degraded');
  assert.match(health.detail, /^degraded: overloaded — dropped \d+ frames in the last minute/);
  assert.match(text, /^vigil_analyzer_overloaded 1$/m);
});
