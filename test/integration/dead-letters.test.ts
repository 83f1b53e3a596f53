// Poison messages against a real broker, analyzer and gateway: a corrupt JPEG, frame metadata that fails
// its schema, a frame of an unknown version, a malformed control message and an anomaly that is not JSON
// are each set aside on vigil.dlq.v1 — unchanged, with the reason and the topic, partition and offset they
// came from — and the consumers move on: a good frame published after them is analyzed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type INestApplicationContext } from '@nestjs/common';
import {
  CE_TYPES,
  DEAD_LETTER_HEADER,
  DeadLetterSchema,
  StreamSpecSchema,
  TOPICS,
  toCloudEventHeaders,
} from '@vigil/contracts';
import { loadAnalyzerConfig, loadGatewayConfig } from '@vigil/config';
import {
  type IncomingMessage,
  KafkaPublisher,
  type KafkaSubscriber,
  createKafka,
  ensureTopics,
  frameMessage,
} from '@vigil/kafka';
import { Logger } from '@vigil/observability';
import { sceneJpeg, testDir, useTestKafka, waitFor, watchTopics } from '@vigil/testing';
import { startAnalyzer } from '../../apps/analyzer/src/main.js';
import { type RunningGateway, startGateway } from '../../apps/gateway/src/main.js';

const log = new Logger('test', { level: 'error' });
const CAM = `dlq-${randomUUID().slice(0, 8)}`;
let broker: Awaited<ReturnType<typeof useTestKafka>>;
let analyzer: INestApplicationContext | undefined;
let gateway: RunningGateway | undefined;
let pub: KafkaPublisher;
let watcher: KafkaSubscriber;
const dead: IncomingMessage[] = [];
const scores: IncomingMessage[] = [];

before(async () => {
  broker = await useTestKafka();
  const conn = { brokers: broker.brokers, clientId: 'dlq-test', connectTimeoutMs: 3000 };
  const kafka = createKafka(conn, log);
  await ensureTopics(kafka, conn, [
    TOPICS.dlq,
    TOPICS.frames,
    TOPICS.scores,
    TOPICS.anomalies,
    TOPICS.control,
  ]);
  pub = new KafkaPublisher(kafka, conn);
  await pub.connect();
  watcher = await watchTopics(
    broker.brokers,
    { groupId: `dlq-watch-${randomUUID()}`, topics: [TOPICS.dlq.name, TOPICS.scores.name] },
    (m) => {
      if (m.key !== CAM) return;
      (m.topic === TOPICS.dlq.name ? dead : scores).push(m);
    },
    log,
  );
  const brokers = broker.brokers.join(',');
  analyzer = await startAnalyzer(
    loadAnalyzerConfig({
      VIGIL_KAFKA_BROKERS: brokers,
      VIGIL_ANALYZER_HTTP_PORT: '0',
      VIGIL_ANALYZER_WARMUP_SAMPLES: '5',
    }),
    log,
  );
  const dir = testDir('vigil-dlq');
  writeFileSync(join(dir, 'keys'), `read ${randomUUID()}\n`);
  gateway = await startGateway(
    loadGatewayConfig({
      VIGIL_KAFKA_BROKERS: brokers,
      VIGIL_GATEWAY_PORT: '0',
      VIGIL_GATEWAY_HTTP_PORT: '0',
      VIGIL_GATEWAY_API_KEYS_FILE: join(dir, 'keys'),
      VIGIL_GATEWAY_DB: join(dir, 'gateway.db'),
    }),
    log,
  );
});

after(async () => {
  await gateway?.close();
  await analyzer?.close();
  await watcher?.stop();
  await pub?.disconnect();
  await broker?.stop();
});

const header = (m: IncomingMessage, name: string) => m.headers[name]?.toString();

test('poison frames, control messages and records go to vigil.dlq.v1 with why and where; the consumers move on', async () => {
  const spec = StreamSpecSchema.parse({ id: CAM, url: 'rtsp://cam.example/dlq' });
  const runId = randomUUID();
  const frame = async (seq: number, image?: Buffer) =>
    frameMessage(
      spec,
      { image: image ?? (await sceneJpeg({ i: seq })), seq, runId, capturedAt: Date.now() },
      'fps',
    );

  const corrupt = await frame(1, Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.alloc(400, 7)]));
  const good2 = await frame(2);
  const badMeta = {
    ...good2,
    headers: { ...good2.headers, vigil_meta: '{"streamId":"x"}' } as Record<string, string>,
  };
  const good3 = await frame(3);
  const v2 = { ...good3, headers: { ...good3.headers, ce_type: 'dev.vigil.frame.v2' } };
  await pub.publish(TOPICS.frames.name, [corrupt, badMeta, v2]);
  const at = new Date().toISOString();
  await pub.publish(TOPICS.control.name, [
    {
      key: CAM,
      value: '{"streamId":"' + CAM + '","action":"reboot"}',
      headers: toCloudEventHeaders({
        id: randomUUID(),
        source: 'urn:vigil:test',
        type: CE_TYPES.control,
        time: at,
        contentType: 'application/json',
      }),
    },
  ]);
  await pub.publish(TOPICS.anomalies.name, [
    {
      key: CAM,
      value: 'not json {',
      headers: toCloudEventHeaders({
        id: randomUUID(),
        source: 'urn:vigil:test',
        type: CE_TYPES.anomaly,
        time: at,
        contentType: 'application/json',
      }),
    },
  ]);
  // good frames after the poison ones: the analyzer has moved on when their scores come back
  for (let seq = 4; seq < 12; seq++) await pub.publish(TOPICS.frames.name, [await frame(seq)]);
  await waitFor('scores of the good frames', () => scores.length >= 8, 60_000);
  await waitFor('five dead letters', () => dead.length >= 5, 30_000);

  const infos = dead.map((m) => ({
    m,
    info: DeadLetterSchema.parse(JSON.parse(header(m, DEAD_LETTER_HEADER)!)),
  }));
  const of = (topic: string, re: RegExp) => {
    const hit = infos.find((d) => d.info.topic === topic && re.test(d.info.reason));
    assert.ok(hit, `a dead letter of ${topic} matching ${re}: ${JSON.stringify(infos.map((d) => d.info))}`);
    assert.match(hit.info.offset, /^\d+$/);
    return hit;
  };
  const c = of(TOPICS.frames.name, /^corrupt frame/);
  assert.equal(c.info.app, 'analyzer');
  assert.ok(c.m.value!.equals(corrupt.value as Buffer), 'the original JPEG bytes, unchanged');
  assert.equal(header(c.m, 'ce_id'), corrupt.headers.ce_id, 'the original headers');
  assert.equal(header(of(TOPICS.frames.name, /vigil_meta/).m, 'ce_id'), badMeta.headers.ce_id);
  of(TOPICS.frames.name, /unknown message type dev\.vigil\.frame\.v2/);
  assert.equal(of(TOPICS.control.name, /^control message/).info.app, 'analyzer');
  const g = of(TOPICS.anomalies.name, /JSON/);
  assert.equal(g.info.app, 'gateway');
  assert.equal(g.m.value!.toString(), 'not json {');
  // exactly these: nothing good was set aside
  assert.equal(dead.length, 5);

  const { AnalyzerService } = await import('../../apps/analyzer/src/analyzer.service.js');
  const metrics = await analyzer!.get(AnalyzerService).metricsText();
  assert.match(metrics, /^vigil_analyzer_messages_rejected_total 3$/m);
});
