import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type INestApplicationContext } from '@nestjs/common';
import { CE_TYPES, TOPICS, toCloudEventHeaders } from '@vigil/contracts';
import { loadIngestConfig } from '@vigil/config';
import { KafkaPublisher, createKafka } from '@vigil/kafka';
import { Logger } from '@vigil/observability';
import { RtspTestServer, generateClip, testDir, useTestKafka, sumMetric } from '@vigil/testing';
import { startIngest } from '../../apps/ingest/src/main.js';
import { IngestService } from '../../apps/ingest/src/ingest.service.js';
import { ControlService } from '../../apps/ingest/src/control.service.js';

const run = randomUUID().slice(0, 6);
const BALL = `adapt-ball-${run}`;
const BOX = `adapt-box-${run}`;
const log = new Logger('adaptive', { level: 'error' });
let broker: Awaited<ReturnType<typeof useTestKafka>>;
let rtsp: RtspTestServer;
let app: INestApplicationContext;
let ingest: IngestService;
let publisher: KafkaPublisher;

before(async () => {
  broker = await useTestKafka();
  const box = generateClip(join(testDir('adaptive'), 'box.mp4'), {
    scenario: 'box',
    seconds: 8,
    width: 320,
    height: 180,
    changeAt: 4,
  });
  // both mounts are encoded with one keyframe per second
  rtsp = new RtspTestServer([
    { name: 'ball', pattern: 'ball', width: 320, height: 180, fps: 10 },
    { name: 'box', file: box },
  ]);
  await rtsp.start();
  const adaptive = { mode: 'adaptive', fps: 1, burstFps: 5, burstSeconds: 4 };
  app = await startIngest(
    loadIngestConfig({
      VIGIL_KAFKA_BROKERS: broker.brokers.join(','),
      VIGIL_INGEST_ASSIGNMENT: 'static',
      VIGIL_INGEST_HTTP_PORT: '0',
      VIGIL_LOG_LEVEL: 'error',
      VIGIL_STREAMS: JSON.stringify([
        { id: BALL, url: rtsp.url('ball'), sampling: adaptive, output: { width: 160, height: 90 } },
        { id: BOX, url: rtsp.url('box'), sampling: adaptive, output: { width: 160, height: 90 } },
      ]),
    }),
    log,
  );
  ingest = app.get(IngestService);
  await app.get(ControlService).whenReady();
  const conn = { brokers: broker.brokers, clientId: 'adaptive', connectTimeoutMs: 3000 };
  publisher = new KafkaPublisher(createKafka(conn, log), conn);
  await publisher.connect();
});

after(async () => {
  await publisher?.disconnect();
  await app?.close();
  await rtsp?.stop();
  await broker?.stop();
});

async function metric(name: string, id: string, ...labels: string[]): Promise<number> {
  return sumMetric(await ingest.metrics.registry.metrics(), name, `stream="${id}"`, ...labels);
}

/** Samples read from the stream during the next `ms`. */
async function framesDuring(id: string, ms: number): Promise<number> {
  const before = await metric('vigil_ingest_frames_in_total', id);
  await sleep(ms);
  return (await metric('vigil_ingest_frames_in_total', id)) - before;
}

test('keyframes while quiet; the analyzer’s burst request raises sampling to burstFps, then it falls back', async (t) => {
  const deadline = Date.now() + 20_000;
  while ((await metric('vigil_ingest_frames_in_total', BALL)) < 2 && Date.now() < deadline) await sleep(200);
  const quiet = await framesDuring(BALL, 4000);
  const requestedAt = new Date().toISOString();
  await publisher.publish(TOPICS.control.name, [
    {
      key: BALL,
      value: JSON.stringify({ streamId: BALL, action: 'burst', seconds: 5, reason: 'test', requestedAt }),
      headers: toCloudEventHeaders({
        id: `c-${run}`,
        source: 'urn:test',
        type: CE_TYPES.control,
        time: requestedAt,
        subject: BALL,
        contentType: 'application/json',
      }),
    },
  ]);
  const burst = await framesDuring(BALL, 5000);
  await sleep(2000); // the switch back restarts ffmpeg
  const after = await framesDuring(BALL, 4000);
  t.diagnostic(`samples in 4 s quiet: ${quiet}; in the 5 s burst: ${burst}; in 4 s after: ${after}`);
  assert.ok(quiet >= 2 && quiet <= 6, `keyframes only: ~1 per second, got ${quiet} in 4 s`);
  assert.ok(burst >= 10, `burst at 5 fps: got ${burst} in 5 s (including the switch)`);
  assert.ok(after <= 6, `back to keyframes: got ${after} in 4 s`);
  assert.equal(await metric('vigil_ingest_bursts_total', BALL, 'reason="analyzer"'), 1);
});

test('ingest’s own change check (keyframe thumbnails) starts a burst when the box appears', async () => {
  const deadline = Date.now() + 30_000;
  while ((await metric('vigil_ingest_bursts_total', BOX, 'reason="change"')) < 1) {
    if (Date.now() > deadline) assert.fail('no change-triggered burst within 30 s');
    await sleep(250);
  }
  assert.equal(
    await metric('vigil_ingest_bursts_total', BALL, 'reason="change"'),
    0,
    'the steady ball scene never triggers',
  );
});
