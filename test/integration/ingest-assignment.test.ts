import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type INestApplicationContext } from '@nestjs/common';
import { StreamSpecSchema, TOPICS, type StreamSpec } from '@vigil/contracts';
import { loadIngestConfig } from '@vigil/config';
import { KafkaPublisher, StreamRegistry, createKafka, ensureTopics } from '@vigil/kafka';
import { Logger } from '@vigil/observability';
import {
  LocalKafka,
  RtspTestServer,
  captureOutput,
  findProcesses,
  repoRoot,
  testDir,
  waitFor as until,
} from '@vigil/testing';
import { startIngest } from '../../apps/ingest/src/main.js';
import { IngestService } from '../../apps/ingest/src/ingest.service.js';
import { StreamAssignmentService } from '../../apps/ingest/src/stream-assignment.service.js';

// kafkajs's default partitioner (Java-compatible murmur2): which partition a stream id lands on.
const murmur2 = createRequire(import.meta.url)('kafkajs/src/producer/partitioners/default/murmur2.js') as (
  key: string,
) => number;
const partitionOf = (key: string) => (murmur2(key) & 0x7fffffff) % TOPICS.streams.partitions;

const run = randomUUID().slice(0, 6);
const group = `it-ingest-${run}`;
const log = new Logger('assign', { level: 'error' });
let kafka: LocalKafka;
let rtsp: RtspTestServer;
let registry: StreamRegistry;
let publisher: KafkaPublisher;
let workerB: INestApplicationContext | undefined;
let workerA: ChildProcess | undefined;
let specs: StreamSpec[] = [];

/** Two ids on partitions worker B owns and two on partitions it does not, so each worker runs some. */
function pickIds(ownedByB: readonly number[]): string[] {
  const onB: string[] = [];
  const elsewhere: string[] = [];
  for (let i = 0; onB.length < 2 || elsewhere.length < 2; i++) {
    const id = `fo-${run}-${i}`;
    const bucket = ownedByB.includes(partitionOf(id)) ? onB : elsewhere;
    if (bucket.length < 2) bucket.push(id);
  }
  return [...onB, ...elsewhere];
}

before(async () => {
  kafka = new LocalKafka({ dataDir: testDir('assign-kafka') });
  await kafka.start();
  rtsp = new RtspTestServer([{ name: 'cam', pattern: 'ball', width: 320, height: 180, fps: 10 }]);
  await rtsp.start();
  const conn = { brokers: kafka.brokers, clientId: 'assign', connectTimeoutMs: 3000 };
  const k = createKafka(conn, log);
  await ensureTopics(k, conn, [TOPICS.streams]);
  publisher = new KafkaPublisher(k, conn);
  await publisher.connect();
  registry = new StreamRegistry(publisher);
});

after(async () => {
  workerA?.kill('SIGKILL');
  await workerB?.close();
  await publisher?.disconnect();
  await rtsp?.stop();
  await kafka?.stop();
});

const env = () => ({
  VIGIL_KAFKA_BROKERS: kafka.brokers.join(','),
  VIGIL_INGEST_GROUP_ID: group,
  VIGIL_INGEST_SESSION_TIMEOUT_MS: '6000',
  VIGIL_INGEST_HTTP_PORT: '0',
  VIGIL_INGEST_BACKOFF_INITIAL_MS: '300',
  // an ffmpeg that stalls at start (it happens on a loaded machine) is restarted well inside the test's waits
  VIGIL_INGEST_STALL_TIMEOUT_MS: '6000',
});

const runningOn = (app: INestApplicationContext) =>
  app
    .get(IngestService)
    .list()
    .filter((s) => s.state === 'running')
    .map((s) => s.id)
    .sort();

test('two workers split the streams; when one is killed, the other runs all of them within 30 s', async (t) => {
  workerB = await startIngest(loadIngestConfig({ ...env(), VIGIL_LOG_LEVEL: 'error' }), log);
  let stderrA = '';
  workerA = spawn(process.execPath, [join(repoRoot(), 'bin/vigil.js'), 'ingest'], {
    env: { ...process.env, ...env() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  captureOutput(workerA, 'ingest-worker-a');
  workerA.stderr!.on('data', (d: Buffer) => (stderrA += d.toString()));
  await until(
    'worker A to own partitions',
    () => /owning partitions of vigil\.streams\.v1 partitions=\d/.test(stderrA),
    30_000,
  );
  await until(
    'worker B to own fewer than all partitions',
    () => {
      const p = workerB!.get(StreamAssignmentService).snapshot().partitions;
      return p.length > 0 && p.length < TOPICS.streams.partitions;
    },
    30_000,
  );

  // the group may rebalance more than once while members join: wait until B's share holds still for 3 s
  let share = '';
  let stableSince = Date.now();
  await until(
    'a stable assignment',
    () => {
      const now = workerB!.get(StreamAssignmentService).snapshot().partitions.join(',');
      if (now !== share) [share, stableSince] = [now, Date.now()];
      return Date.now() - stableSince >= 3000;
    },
    30_000,
  );
  specs = pickIds(workerB.get(StreamAssignmentService).snapshot().partitions).map((id) =>
    StreamSpecSchema.parse({
      id,
      url: rtsp.url('cam'),
      sampling: { mode: 'fps', fps: 1 },
      output: { width: 160, height: 90 },
    }),
  );
  await registry.put(specs);
  // B's share is the two ids picked from its partitions; wait for both (the first running one alone
  // made the rest look like A's while B was still starting its second)
  const shareOfB = specs
    .slice(0, 2)
    .map((s) => s.id)
    .sort();
  const onB = await until(
    'worker B running its share',
    () => {
      const r = runningOn(workerB!);
      return r.join(',') === shareOfB.join(',') && r;
    },
    30_000,
  ).catch((e: Error) =>
    assert.fail(
      `${e.message} (${shareOfB.join(', ')}); worker B has partitions ${workerB!
        .get(StreamAssignmentService)
        .snapshot()
        .partitions.join(',')} and streams ${JSON.stringify(workerB!.get(IngestService).list())}`,
    ),
  );
  const onA = specs.map((s) => s.id).filter((id) => !onB.includes(id));
  await until(
    'worker A running the rest',
    () => onA.every((id) => new RegExp(`stream ${id} running`).test(stderrA)),
    30_000,
  ).catch((e: Error) => assert.fail(`${e.message}; worker A said:\n${stderrA.slice(-4000)}`));
  t.diagnostic(`worker A ran ${onA.join(', ')}; worker B ran ${onB.join(', ')}`);

  const killedAt = Date.now();
  workerA.kill('SIGKILL');
  await until('worker B running every stream', () => runningOn(workerB!).length === specs.length, 30_000);
  const tookMs = Date.now() - killedAt;
  t.diagnostic(`all ${specs.length} streams running on worker B ${tookMs} ms after worker A was killed`);
  assert.ok(tookMs <= 30_000);
  assert.deepEqual(
    workerB.get(StreamAssignmentService).snapshot().partitions.length,
    TOPICS.streams.partitions,
  );
});

test('a changed spec restarts its stream, a tombstone stops it, a malformed spec is ignored', async () => {
  assert.ok(workerB, 'runs after the failover test');
  const ingest = workerB.get(IngestService);
  const [first, second] = specs;
  const pidBefore = ingest.list().find((s) => s.id === first!.id)?.pid;
  await registry.put([{ ...first!, sampling: { ...first!.sampling, fps: 2 } }]);
  await until(
    'the changed stream restarted',
    () => {
      const s = ingest.list().find((x) => x.id === first!.id);
      return s && s.state === 'running' && s.pid !== pidBefore;
    },
    20_000,
  );

  // several versions of one spec in one batch (what a replay after a rebalance looks like): one ffmpeg, the newest
  const v = (fps: number) => ({ ...first!, sampling: { ...first!.sampling, fps } });
  await registry.put([v(3), v(4), v(5)]);
  await until(
    'the newest version running',
    () => ingest.list().find((x) => x.id === first!.id)?.state === 'running',
    20_000,
  );
  await sleep(3000);
  const supervised = ingest.list().filter((x) => x.pid !== undefined).length;
  const ffmpegs = findProcesses(/^ffmpeg /).filter((p) => p.cmdline.includes(rtsp.url('cam')));
  assert.equal(
    ffmpegs.length,
    supervised,
    `every ffmpeg is supervised: ${ffmpegs.map((p) => p.pid).join(',')}`,
  );
  const running = ffmpegs.filter((p) => p.cmdline.includes('fps=5,'));
  assert.equal(running.length, 1, 'the stream runs once, with its newest spec');

  await registry.remove([second!.id]);
  await until('the deleted stream stopped', () => !ingest.list().some((s) => s.id === second!.id), 10_000);

  const before = workerB.get(StreamAssignmentService).snapshot().rejected;
  await publisher.publish(TOPICS.streams.name, [
    { key: 'bad-json', value: '{not json', headers: {} },
    { key: 'bad-url', value: JSON.stringify({ id: 'bad-url', url: 'file:///etc/passwd' }), headers: {} },
  ]);
  await until(
    'both rejected',
    () => workerB!.get(StreamAssignmentService).snapshot().rejected >= before + 2,
    10_000,
  );
  assert.ok(!ingest.list().some((s) => s.id === 'bad-url'));
});
