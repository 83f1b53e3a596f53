import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type INestApplicationContext } from '@nestjs/common';
import {
  AnomalyEventSchema,
  BaselineRecordSchema,
  TOPICS,
  type AnomalyEvent,
  type BaselineRecord,
  type StreamSpecInput,
} from '@vigil/contracts';
import { loadAnalyzerConfig } from '@vigil/config';
import { type KafkaSubscriber } from '@vigil/kafka';
import { Logger } from '@vigil/observability';
import {
  RtspTestServer,
  repoRoot,
  sceneClip,
  sumMetric,
  useTestKafka,
  waitFor,
  watchTopics,
} from '@vigil/testing';
import { startAnalyzer } from '../../apps/analyzer/src/main.js';
import { AnalyzerService } from '../../apps/analyzer/src/analyzer.service.js';
import { startStaticIngest } from '../harness.js';

// An analyzer restarted mid-stream resumes the stream's learned normal from vigil.baselines.v1: it scores
// from its first frame and raises no false alarm, while a stream with nothing saved must warm up first.

const run = randomUUID().slice(0, 6);
const KNOWN = `restore-known-${run}`;
const NEW = `restore-new-${run}`;
const log = new Logger('restore', { level: 'error' });
const WARMUP = 40; // samples: 20 s at 2 fps, several crossings of the walker and turns of the belt

let broker: Awaited<ReturnType<typeof useTestKafka>>;
let rtsp: RtspTestServer;
let ingest: INestApplicationContext | undefined;
let analyzer: INestApplicationContext | undefined;
let sub: KafkaSubscriber;
const anomalies: (AnomalyEvent & { receivedAt: number })[] = [];
const baselines: BaselineRecord[] = [];

const analyzerEnv = () => ({
  VIGIL_KAFKA_BROKERS: broker.brokers.join(','),
  VIGIL_LOG_LEVEL: 'error',
  VIGIL_ANALYZER_HTTP_PORT: '0',
  VIGIL_ANALYZER_GROUP_ID: `restore-${run}`,
  VIGIL_ANALYZER_WARMUP_SAMPLES: String(WARMUP),
  VIGIL_SUMMARY_INTERVAL_S: '30',
});
const spec = (id: string): StreamSpecInput => ({
  id,
  url: rtsp.url('scene'),
  sampling: { mode: 'fps', fps: 2 },
  output: { width: 640, height: 360 },
});

before(async () => {
  broker = await useTestKafka();
  // a busy normal scene: a walker crossing, a conveyor belt, sensor noise; 30 s looped
  const clip = await sceneClip(join(repoRoot(), '.cache/test-clips/scene-normal-30s-10fps.mp4'), 30, 10);
  rtsp = new RtspTestServer([{ name: 'scene', file: clip }]);
  await rtsp.start();
  analyzer = await startAnalyzer(loadAnalyzerConfig(analyzerEnv()), log);
  sub = await watchTopics(
    broker.brokers,
    { groupId: `restore-watch-${run}`, topics: [TOPICS.anomalies.name, TOPICS.baselines.name] },
    (m) => {
      if (!m.key?.endsWith(run) || !m.value) return;
      const v = JSON.parse(m.value.toString()) as unknown;
      if (m.topic === TOPICS.baselines.name) baselines.push(BaselineRecordSchema.parse(v));
      else anomalies.push({ ...AnomalyEventSchema.parse(v), receivedAt: Date.now() });
    },
    log,
  );
  ingest = await startStaticIngest(broker.brokers, [spec(KNOWN)], log);
});

after(async () => {
  await ingest?.close();
  await analyzer?.close();
  await sub?.stop();
  await rtsp?.stop();
  await broker?.stop();
});

async function learning(app: INestApplicationContext, id: string): Promise<number> {
  const text = await app.get(AnalyzerService).metricsText();
  return sumMetric(text, 'vigil_analyzer_baseline_learning', `stream="${id}"`);
}

test('an analyzer restarted mid-stream resumes the saved normal: scoring from the first frame, no false alarm in a minute', async (t) => {
  // 1. the first analyzer learns the scene and saves its normal once warm-up is over
  await waitFor('a baseline saved for the stream', () => baselines.some((b) => b.streamId === KNOWN), 90_000);
  const saved = baselines.find((b) => b.streamId === KNOWN)!;
  assert.ok(saved.samples >= WARMUP, `saved after ${saved.samples} samples`);
  assert.equal(saved.model, 'vigil-patch-v1');
  assert.equal(anomalies.length, 0, JSON.stringify(anomalies.map((a) => [a.kind, a.description])));

  // 2. it stops (saving again on the way out); a new analyzer takes over, and a second camera appears
  await analyzer!.close();
  analyzer = undefined;
  await ingest!.close();
  const restartedAt = Date.now();
  analyzer = await startAnalyzer(loadAnalyzerConfig(analyzerEnv()), log);
  ingest = await startStaticIngest(broker.brokers, [spec(KNOWN), spec(NEW)], log);
  const app = analyzer;
  await waitFor(
    'frames of both streams analyzed',
    async () => {
      const text = await app.get(AnalyzerService).metricsText();
      return (
        sumMetric(text, 'vigil_analyzer_frames_total', `stream="${KNOWN}"`) >= 2 &&
        sumMetric(text, 'vigil_analyzer_frames_total', `stream="${NEW}"`) >= 2
      );
    },
    60_000,
  );
  // the resumed stream is scored at once; the new one is still learning (it would be blind for 20 s)
  assert.equal(await learning(app, KNOWN), 0);
  assert.equal(await learning(app, NEW), 1);

  // 3. a minute of the same normal scene on the resumed stream: no alarm
  const watchUntil = restartedAt + 60_000;
  while (Date.now() < watchUntil) await sleep(1000);
  const text = await app.get(AnalyzerService).metricsText();
  const frames = sumMetric(text, 'vigil_analyzer_frames_total', `stream="${KNOWN}"`);
  t.diagnostic(`resumed stream: ${frames} frames scored in the first minute after the restart`);
  assert.ok(frames >= 60, `${frames} frames`);
  assert.deepEqual(
    anomalies
      .filter((a) => a.streamId === KNOWN)
      .map((a) => `${a.kind}: ${a.description} ${JSON.stringify(a.region)}`),
    [],
  );
  assert.equal(await learning(app, NEW), 0, 'the new stream finished its warm-up within the minute');
});
