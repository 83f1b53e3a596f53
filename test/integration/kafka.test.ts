import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import { ALL_TOPICS, CE_TYPES, TOPICS, fromCloudEventHeaders, toCloudEventHeaders } from '@vigil/contracts';
import {
  KafkaPublisher,
  KafkaSubscriber,
  KafkaTopicMissingError,
  KafkaUnavailableError,
  createKafka,
  ensureTopics,
  type IncomingMessage,
} from '@vigil/kafka';
import { Logger } from '@vigil/observability';
import { freePort, useTestKafka } from '@vigil/testing';

const log = new Logger('test', { level: 'warn' });
let broker: Awaited<ReturnType<typeof useTestKafka>>;
const conn = () => ({ brokers: broker.brokers, clientId: 'it-kafka', connectTimeoutMs: 3000 });

before(async () => {
  broker = await useTestKafka();
});
after(async () => {
  await broker.stop();
});

test('ensureTopics creates every topic with its partitions and cleanup policy, and is idempotent', async () => {
  const kafka = createKafka(conn(), log);
  const first = await ensureTopics(kafka, conn(), ALL_TOPICS);
  assert.equal(first.created.length + first.existing.length, ALL_TOPICS.length);
  const second = await ensureTopics(kafka, conn(), ALL_TOPICS);
  assert.deepEqual(second.created, []);

  const admin = kafka.admin();
  await admin.connect();
  try {
    const meta = await admin.fetchTopicMetadata({ topics: ALL_TOPICS.map((t) => t.name) });
    for (const t of ALL_TOPICS) {
      assert.equal(meta.topics.find((m) => m.name === t.name)?.partitions.length, t.partitions, t.name);
    }
    const configs = await admin.describeConfigs({
      includeSynonyms: false,
      resources: ALL_TOPICS.map((t) => ({
        type: kafkajs.ConfigResourceTypes.TOPIC,
        name: t.name,
        configNames: ['cleanup.policy'],
      })),
    });
    for (const t of ALL_TOPICS) {
      const entry = configs.resources.find((r) => r.resourceName === t.name)?.configEntries[0];
      assert.equal(entry?.configValue, t.cleanupPolicy, t.name);
    }
  } finally {
    await admin.disconnect();
  }
});

test('two apps creating the same topics at once both succeed', async () => {
  const name = `it.race-${randomUUID().slice(0, 8)}.v1`;
  const spec = { ...TOPICS.summaries, name };
  const results = await Promise.all([
    ensureTopics(createKafka(conn(), log), conn(), [spec]),
    ensureTopics(createKafka(conn(), log), conn(), [spec]),
  ]);
  assert.equal(results.flatMap((r) => r.created).length + results.flatMap((r) => r.existing).length, 2);
});

test('a published message arrives keyed, in order, with its CloudEvents headers', async () => {
  const kafka = createKafka(conn(), log);
  await ensureTopics(kafka, conn(), [TOPICS.summaries]);
  const key = `it-${randomUUID()}`;
  const pub = new KafkaPublisher(kafka, conn());
  await pub.connect();
  const received: IncomingMessage[] = [];
  const sub = new KafkaSubscriber(
    kafka,
    conn(),
    { groupId: `it-${randomUUID()}`, topics: [TOPICS.summaries.name], fromBeginning: true },
    log,
  );
  await sub.start((batch) => {
    received.push(...batch.filter((m) => m.key === key));
    return Promise.resolve();
  });
  try {
    await sub.whenJoined();
    const headers = (n: number) =>
      toCloudEventHeaders({
        id: `${key}-${n}`,
        source: 'urn:test',
        type: CE_TYPES.summary,
        time: new Date().toISOString(),
        subject: key,
        contentType: 'application/json',
      });
    await pub.publish(
      TOPICS.summaries.name,
      [0, 1, 2].map((n) => ({ key, value: JSON.stringify({ n }), headers: headers(n) })),
    );
    const deadline = Date.now() + 15_000;
    while (received.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(
      received.map((m) => JSON.parse(m.value!.toString()) as { n: number }).map((v) => v.n),
      [0, 1, 2],
    );
    const ce = fromCloudEventHeaders(received[2]!.headers);
    assert.ok(ce.ok);
    assert.equal(ce.ok && ce.value.id, `${key}-2`);
  } finally {
    await sub.stop();
    await pub.disconnect();
  }
});

test('an unreachable broker gives one clear error naming the address and the fix', async () => {
  const port = await freePort();
  const bad = { brokers: [`127.0.0.1:${port}`], clientId: 'it-bad', connectTimeoutMs: 1000 };
  const t0 = Date.now();
  await assert.rejects(ensureTopics(createKafka(bad, log), bad, [TOPICS.frames]), (err: Error) => {
    assert.ok(err instanceof KafkaUnavailableError);
    assert.equal(
      err.message,
      `cannot reach Kafka at 127.0.0.1:${port} (connection refused); start a broker there or set VIGIL_KAFKA_BROKERS to a reachable host:port`,
    );
    return true;
  });
  assert.ok(Date.now() - t0 < 30_000);
});

test('subscribing to a topic that does not exist says which and what to do', async () => {
  const name = `it.missing-${randomUUID().slice(0, 8)}.v1`;
  const sub = new KafkaSubscriber(
    createKafka(conn(), log),
    conn(),
    { groupId: `it-${randomUUID()}`, topics: [name] },
    log,
  );
  await assert.rejects(
    sub.start(() => Promise.resolve()),
    (err: Error) => {
      assert.ok(err instanceof KafkaTopicMissingError, String(err));
      assert.match(err.message, new RegExp(`topic ${name.replaceAll('.', '\\.')} does not exist`));
      return true;
    },
  );
});
