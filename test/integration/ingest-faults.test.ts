import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { type INestApplicationContext } from '@nestjs/common';
import { StreamStatusSchema, TOPICS, type StreamSpecInput, type StreamStatus } from '@vigil/contracts';
import { loadIngestConfig } from '@vigil/config';
import { KafkaSubscriber, createKafka } from '@vigil/kafka';
import { Logger } from '@vigil/observability';
import {
  LocalKafka,
  RtspTestServer,
  freePort,
  testDir,
  useTestKafka,
  waitFor as until,
  sumMetric,
} from '@vigil/testing';
import { startIngest } from '../../apps/ingest/src/main.js';
import { IngestService } from '../../apps/ingest/src/ingest.service.js';

const run = randomUUID().slice(0, 6);
const log = new Logger('faults', { level: 'error' });
let broker: Awaited<ReturnType<typeof useTestKafka>>;
let rtsp: RtspTestServer;
let garbage: Server;
let garbagePort = 0;
const statuses: StreamStatus[] = [];
let statusSub: KafkaSubscriber;
const apps: INestApplicationContext[] = [];

before(async () => {
  broker = await useTestKafka();
  rtsp = new RtspTestServer([
    { name: 'cam', pattern: 'ball', width: 320, height: 180, fps: 10 },
    {
      name: 'gst',
      launch: 'videotestsrc is-live=true ! video/x-raw,width=320,height=180 ! rtpgstpay name=pay0 pt=96',
    },
    { name: 'audio', launch: 'audiotestsrc is-live=true ! audioconvert ! rtpL16pay name=pay0 pt=96' },
  ]);
  await rtsp.start();
  // a "camera" that accepts connections and answers with noise
  garbage = createServer((sock) => {
    sock.on('error', () => undefined);
    const timer = setInterval(() => sock.write(randomBytes(512)), 50);
    sock.on('close', () => clearInterval(timer));
  });
  garbagePort = await freePort();
  await new Promise<void>((r) => garbage.listen(garbagePort, '127.0.0.1', () => r()));

  const conn = { brokers: broker.brokers, clientId: 'faults', connectTimeoutMs: 3000 };
  statusSub = new KafkaSubscriber(
    createKafka(conn, log),
    conn,
    { groupId: `faults-${run}`, topics: [TOPICS.streamStatus.name], fromBeginning: true },
    log,
  );
  await startIngestWith([]); // creates the topics before we subscribe
  await statusSub.start((batch) => {
    for (const m of batch)
      if (m.key?.endsWith(run)) statuses.push(StreamStatusSchema.parse(JSON.parse(m.value!.toString())));
    return Promise.resolve();
  });
  await statusSub.whenJoined();
});

after(async () => {
  for (const app of apps) await app.close();
  await statusSub?.stop();
  await rtsp?.stop();
  garbage?.close();
  await broker?.stop();
});

async function startIngestWith(
  streams: StreamSpecInput[],
  brokers = broker.brokers,
  extra: Record<string, string> = {},
) {
  const app = await startIngest(
    loadIngestConfig({
      VIGIL_KAFKA_BROKERS: brokers.join(','),
      VIGIL_STREAMS: JSON.stringify(
        streams.map((s) => ({ sampling: { mode: 'fps', fps: 2 }, output: { width: 160, height: 90 }, ...s })),
      ),
      VIGIL_INGEST_BACKOFF_INITIAL_MS: '500',
      VIGIL_INGEST_BACKOFF_MAX_MS: '4000',
      VIGIL_INGEST_STALL_TIMEOUT_MS: '5000',
      VIGIL_INGEST_RTSP_TIMEOUT_MS: '3000',
      VIGIL_INGEST_STATUS_INTERVAL_MS: '1000',
      VIGIL_INGEST_HTTP_PORT: '0',
      VIGIL_LOG_LEVEL: 'error',
      ...extra,
    }),
    log,
  );
  apps.push(app);
  return { app, ingest: app.get(IngestService) };
}

/** Restarts that fit in `windowMs` if every backoff delay (exponential, capped, equal jitter) is at its minimum. */
function maxRestarts(windowMs: number, initialMs: number, maxMs: number): number {
  let t = 0;
  let n = 0;
  while (t <= windowMs) t += Math.min(maxMs, initialMs * 2 ** n++) / 2;
  return n;
}

const of = (id: string) => statuses.filter((s) => s.streamId === id);

for (const [name, mount, reason] of [
  ['garbage', 'garbage', /not a valid video stream|Invalid data/],
  ['unsupported codec', 'gst', /no video track that can be decoded/],
  ['audio only', 'audio', /no video track that can be decoded/],
] as const) {
  test(`a camera sending ${name}: status degraded with a readable error, retried with backoff, ingest keeps running`, async () => {
    const id = `bad-${mount}-${run}`;
    const url = mount === 'garbage' ? `rtsp://127.0.0.1:${garbagePort}/live` : rtsp.url(mount);
    const { app, ingest } = await startIngestWith([{ id, url }]);
    const degraded = await until(
      'a degraded status that says why',
      () => of(id).find((s) => s.health === 'degraded' && reason.test(s.lastError ?? '')),
      20_000,
    );
    assert.match(degraded.lastError ?? '', reason);
    assert.equal(degraded.online, false);
    await until('two restarts', () => of(id).some((s) => s.restarts >= 2), 20_000);
    const restarts = Math.max(...of(id).map((s) => s.restarts));
    assert.ok(restarts <= 8, `backoff keeps retries sparse: ${restarts}`);
    assert.equal(of(id).at(-1)?.health, 'degraded');
    assert.equal(ingest.list()[0]?.id, id, 'still supervised');
    await app.close();
  });
}

test('ffmpeg killed with SIGKILL: frames resume within 5 s', async (t) => {
  const id = `kill-${run}`;
  const { app, ingest } = await startIngestWith([{ id, url: rtsp.url('cam') }]);
  const pid = await until(
    'ffmpeg running',
    () => ingest.list()[0]?.state === 'running' && ingest.list()[0]?.pid,
    20_000,
  );
  const framesBefore = await framesIn(ingest, id);
  const killedAt = Date.now();
  process.kill(pid, 'SIGKILL');
  await until(
    'frames after the kill',
    () => ingest.list()[0]?.pid !== pid && ingest.list()[0]?.state === 'running',
    5_000,
  );
  const resumedMs = Date.now() - killedAt;
  await until('a new frame', async () => (await framesIn(ingest, id)) > framesBefore, 2_000);
  assert.ok(resumedMs <= 5_000, `resumed after ${resumedMs} ms`);
  t.diagnostic(`frames resumed ${resumedMs} ms after SIGKILL`);
  await app.close();
});

async function framesIn(ingest: IngestService, id: string): Promise<number> {
  return sumMetric(await ingest.metrics.registry.metrics(), 'vigil_ingest_frames_in_total', `stream="${id}"`);
}

test('RTSP server down for 20 s: offline then online again, frames resume, no restart storm', async () => {
  const id = `outage-${run}`;
  const port = await freePort();
  const server = new RtspTestServer(
    [{ name: 'cam', pattern: 'ball', width: 320, height: 180, fps: 10 }],
    port,
  );
  await server.start();
  try {
    const { app, ingest } = await startIngestWith([{ id, url: `rtsp://127.0.0.1:${port}/cam` }]);
    await until('online', () => of(id).some((s) => s.health === 'online'), 20_000);
    await server.stop();
    const downAt = Date.now();
    await until(
      'offline',
      () => of(id).find((s) => s.health === 'offline' && Date.parse(s.at) >= downAt - 1000),
      15_000,
    );
    await sleep(Math.max(0, 20_000 - (Date.now() - downAt)));
    const restartsDuringOutage = Math.max(...of(id).map((s) => s.restarts));
    await server.start();
    const upAt = Date.now();
    await until(
      'online again',
      () => of(id).find((s) => s.health === 'online' && Date.parse(s.at) >= upAt),
      20_000,
    );
    const before = await framesIn(ingest, id);
    await until('frames again', async () => (await framesIn(ingest, id)) > before, 5_000);
    // a storm would be hundreds; backoff allows at most this many (every delay at its jittered minimum)
    const bound = maxRestarts(20_000, 500, 4000);
    assert.ok(
      restartsDuringOutage <= bound,
      `restarts during a 20 s outage: ${restartsDuringOutage} > ${bound}`,
    );
    await app.close();
  } finally {
    await server.stop();
  }
});

test('Kafka frozen: each stream queues at most VIGIL_INGEST_QUEUE_FRAMES, drops the oldest and counts it, then recovers', async () => {
  const kafka = new LocalKafka({ dataDir: testDir('frozen-kafka') });
  await kafka.start();
  try {
    const id = `slow-${run}`;
    const { app, ingest } = await startIngestWith(
      [{ id, url: rtsp.url('cam'), sampling: { mode: 'fps', fps: 5 } }],
      kafka.brokers,
      {
        VIGIL_INGEST_QUEUE_FRAMES: '4',
      },
    );
    await until(
      'frames flowing',
      async () => (await metric(ingest, 'vigil_ingest_frames_out_total', id)) > 3,
      20_000,
    );
    process.kill(kafka.pid!, 'SIGSTOP');
    let maxQueued = 0;
    try {
      const t0 = Date.now();
      while (Date.now() - t0 < 8_000) {
        maxQueued = Math.max(maxQueued, await metric(ingest, 'vigil_ingest_queued_frames', id));
        await sleep(200);
      }
    } finally {
      process.kill(kafka.pid!, 'SIGCONT');
    }
    const dropped = await metric(ingest, 'vigil_ingest_frames_dropped_total', id);
    assert.ok(dropped >= 20, `5 fps for 8 s with a queue of 4 drops most samples: ${dropped}`);
    assert.ok(maxQueued <= 4, `queue stayed bounded: ${maxQueued}`);
    const out = await metric(ingest, 'vigil_ingest_frames_out_total', id);
    await until(
      'frames flowing again',
      async () => (await metric(ingest, 'vigil_ingest_frames_out_total', id)) > out + 5,
      40_000,
    );
    await app.close();
  } finally {
    await kafka.stop();
  }
});

async function metric(ingest: IngestService, name: string, id: string): Promise<number> {
  return sumMetric(await ingest.metrics.registry.metrics(), name, `stream="${id}"`);
}

test('metrics and health are served over HTTP', async () => {
  const id = `http-${run}`;
  const { app, ingest } = await startIngestWith([{ id, url: rtsp.url('cam') }]);
  await until('frames', async () => (await framesIn(ingest, id)) > 0, 20_000);
  const base = `http://127.0.0.1:${ingest.httpPort}`;
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, new RegExp(`vigil_ingest_frames_in_total\\{stream="${id}"\\} [1-9]`));
  assert.match(metrics, new RegExp(`vigil_ingest_last_frame_age_seconds\\{stream="${id}"\\} `));
  assert.equal((await fetch(`${base}/health/ready`)).status, 200);
  assert.equal((await fetch(`${base}/health/live`)).status, 200);
  assert.ok(!metrics.includes('rtsp://'), 'no stream URLs in metrics');
  await app.close();
});
