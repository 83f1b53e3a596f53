// The durable outbox against a real broker that is stopped and started again on the same port: what is
// published while Kafka is away lands on disk (and survives a restart of the publishing process), is sent
// in order once Kafka is back, and nothing is lost or repeated; a full outbox refuses and counts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TOPICS } from '@vigil/contracts';
import {
  DurableOutbox,
  type IncomingMessage,
  KafkaPublisher,
  KafkaSubscriber,
  createKafka,
  ensureTopics,
} from '@vigil/kafka';
import { Logger } from '@vigil/observability';
import { LocalKafka, freePort, testDir, waitFor } from '@vigil/testing';

const log = new Logger('test', { level: 'error' });
const TOPIC = { ...TOPICS.summaries, name: 'vigil.outbox-test', partitions: 1 };
let kafka: LocalKafka;
let dir: string;
const conn = () => ({ brokers: kafka.brokers, clientId: 'outbox-test', connectTimeoutMs: 2000 });
const message = (seq: number) => ({
  key: 'cam',
  value: JSON.stringify({ seq }),
  headers: { ce_id: `m-${seq}` },
});

before(async () => {
  dir = testDir('vigil-outbox');
  kafka = new LocalKafka({ dataDir: join(dir, 'kafka'), port: await freePort() });
  await kafka.start();
  await ensureTopics(createKafka(conn(), log), conn(), [TOPIC]);
});

after(async () => {
  await kafka?.stop();
});

async function publisher(): Promise<KafkaPublisher> {
  const p = new KafkaPublisher(createKafka(conn(), log), conn());
  await p.connect();
  return p;
}

test('a Kafka outage: messages go to disk, survive a restart, and are sent in order, once, when Kafka is back', async (t) => {
  const pub1 = await publisher();
  const outbox1 = new DurableOutbox(pub1, { dir: join(dir, 'outbox'), maxBytes: 1_000_000 }, log);
  for (let seq = 0; seq < 3; seq++) await outbox1.publish(TOPIC.name, [message(seq)]);
  assert.equal(outbox1.snapshot().pending, 0, 'sent straight to Kafka while it answers');

  await kafka.stop();
  const t0 = Date.now();
  await outbox1.publish(TOPIC.name, [message(3)]);
  t.diagnostic(
    `the first publish after the broker stopped resolved in ${Date.now() - t0} ms (kafkajs retries)`,
  );
  const t1 = Date.now();
  for (let seq = 4; seq < 20; seq++) await outbox1.publish(TOPIC.name, [message(seq)]);
  assert.ok(Date.now() - t1 < 2000, 'once spooling, publishes resolve at disk speed');
  assert.equal(outbox1.snapshot().pending, 17);
  assert.equal(readFileSync(join(dir, 'outbox/outbox.jsonl'), 'utf8').trim().split('\n').length, 17);

  // bounded: a small outbox refuses what does not fit, and counts it
  const small = new DurableOutbox(pub1, { dir: join(dir, 'small'), maxBytes: 600 }, log);
  for (let seq = 0; seq < 10; seq++) await small.publish(TOPIC.name, [message(1000 + seq)]);
  assert.ok(small.snapshot().pendingBytes <= 600);
  assert.equal(small.snapshot().pending + small.snapshot().refused, 10);
  assert.ok(small.snapshot().refused > 0);
  await small.close();

  // the publishing process restarts during the outage: the new one starts from the file
  await outbox1.close();
  await pub1.disconnect().catch(() => undefined);
  const restartedAt = Date.now();
  await kafka.start();
  const brokerBack = Date.now() - restartedAt;
  const pub2 = await publisher();
  const outbox2 = new DurableOutbox(pub2, { dir: join(dir, 'outbox'), maxBytes: 1_000_000 }, log);
  await outbox2.publish(TOPIC.name, [message(20)]);
  const drained = Date.now();
  assert.ok(await outbox2.flushed(30_000), 'the outbox drained');
  t.diagnostic(`broker back in ${brokerBack} ms; outbox drained ${Date.now() - drained} ms after`);
  assert.ok(Date.now() - drained <= 15_000, 'recovery within 15 s of the broker answering');
  assert.equal(outbox2.snapshot().pending, 0);
  assert.equal(readFileSync(join(dir, 'outbox/outbox.jsonl'), 'utf8'), '');

  const got: IncomingMessage[] = [];
  const sub = new KafkaSubscriber(
    createKafka(conn(), log),
    conn(),
    { groupId: `outbox-read-${Date.now()}`, topics: [TOPIC.name], fromBeginning: true },
    log,
  );
  void sub.start((batch) => {
    got.push(...batch);
    return Promise.resolve();
  });
  await waitFor('all 21 messages', () => got.length >= 21, 30_000);
  await new Promise((r) => setTimeout(r, 1000));
  await sub.stop();
  await outbox2.close();
  await pub2.disconnect();
  const seqs = got.map((m) => (JSON.parse(m.value!.toString()) as { seq: number }).seq);
  assert.deepEqual(
    seqs,
    Array.from({ length: 21 }, (_, i) => i),
    'every message once, in the order published',
  );
  assert.ok(existsSync(join(dir, 'outbox/outbox.jsonl')));
});
