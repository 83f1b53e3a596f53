import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KafkaPublisher, createKafka, ensureTopics } from '@vigil/kafka';
import { Logger } from '@vigil/observability';
import { LocalKafka, recordBatches, scanForSecret, testDir } from '@vigil/testing';

// The suite-wide credential scan of the test runner reads the brokers' log segments: here, on a real
// broker, a marker inside gzip-compressed messages is found, and every record produced is accounted for.

const log = new Logger('secret-scan-test', { level: 'error' });
let kafka: LocalKafka;
let dataDir: string;

before(async () => {
  dataDir = testDir('scan-kafka');
  kafka = new LocalKafka({ dataDir });
  await kafka.start();
});
after(async () => {
  await kafka?.stop();
});

test('a marker in gzip-compressed and in plain messages on a real broker is found in its segments', async () => {
  const topic = `scan-${randomBytes(3).toString('hex')}`;
  const gz = `gz-${randomBytes(8).toString('hex')}`;
  const plain = `plain-${randomBytes(8).toString('hex')}`;
  const conn = { brokers: kafka.brokers, clientId: 'scan-test', connectTimeoutMs: 3000 };
  const client = createKafka(conn, log);
  await ensureTopics(client, conn, [
    { name: topic, partitions: 1, cleanupPolicy: 'delete', retentionMs: 3_600_000, description: 'scan test' },
  ]);
  const pub = new KafkaPublisher(client, conn);
  await pub.connect();
  try {
    const msgs = (marker: string, n: number) =>
      Array.from({ length: n }, (_, i) => ({
        key: `k${i}`,
        value: JSON.stringify({
          i,
          note: i === n - 1 ? `url rtsp://viewer:${marker}@cam` : 'padding '.repeat(20),
        }),
        headers: {},
      }));
    await pub.publish(topic, msgs(gz, 30), true);
    await pub.publish(topic, msgs(plain, 10));
  } finally {
    await pub.disconnect();
  }
  const partition = readdirSync(dataDir, { recursive: true, withFileTypes: true }).find(
    (e) => e.isDirectory() && e.name === `${topic}-0`,
  );
  assert.ok(partition, `no directory for ${topic}-0 under ${dataDir}`);
  const segment = readFileSync(join(partition.parentPath, partition.name, '00000000000000000000.log'));
  assert.ok(!segment.includes(gz), 'compressed: the raw bytes do not show the marker');
  const batches = [...recordBatches(segment)];
  assert.equal(
    batches.reduce((n, b) => n + b.count, 0),
    40,
    'every record of the segment is in a batch the scan read',
  );
  assert.ok(batches.some((b) => b.codec === 1));

  const r = scanForSecret(
    [dataDir],
    [
      { label: 'gz', bytes: Buffer.from(gz) },
      { label: 'plain', bytes: Buffer.from(plain) },
    ],
  );
  assert.deepEqual(r.hits.map((h) => h.what.split(' ')[0]).sort(), ['gz', 'plain']);
  assert.match(r.hits.find((h) => h.what.startsWith('gz'))!.what, /in a gzip batch/);
  assert.ok(r.gzipBatches >= 1);
});
