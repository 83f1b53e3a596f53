import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type AnomalyEvent,
  CE_TYPES,
  type ControlMessage,
  StreamSpecSchema,
  type Summary,
  TOPICS,
  anomalyEventId,
} from '@vigil/contracts';
import { loadGatewayConfig } from '@vigil/config';
import {
  KafkaPublisher,
  type KafkaSubscriber,
  createKafka,
  jsonMessage,
  frameMessage,
  statusMessage,
} from '@vigil/kafka';
import { Logger } from '@vigil/observability';
import {
  cameraCredentials,
  sceneJpeg,
  sumMetric,
  testDir,
  useTestKafka,
  waitFor,
  watchTopics,
  sampleSummary,
} from '@vigil/testing';
import { type RunningGateway, startGateway } from '../../apps/gateway/src/main.js';

// The gateway against a real broker: cameras written through the API land on vigil.streams.v1; anomalies,
// summaries, statuses, scores and frames published to Kafka come back through the API and /events; keys,
// roles, rate limits and body limits are enforced; the store survives a restart.

const run = randomUUID().slice(0, 6);
const log = new Logger('gateway-test', { level: 'error' });
const WRITE = `write-${randomUUID()}`;
const READ = `read-${randomUUID()}`;
const CAM = `gw-${run}`;
const OTHER = `gw-other-${run}`;

let broker: Awaited<ReturnType<typeof useTestKafka>>;
let pub: KafkaPublisher;
let gw: RunningGateway | undefined;
let dir: string;
let watch: KafkaSubscriber;
const streamsTopic: { key: string | null; value: string | null }[] = [];
const control: ControlMessage[] = [];

const env = (extra: Record<string, string> = {}) => ({
  VIGIL_KAFKA_BROKERS: broker.brokers.join(','),
  VIGIL_LOG_LEVEL: 'error',
  VIGIL_GATEWAY_PORT: '0',
  VIGIL_GATEWAY_HTTP_PORT: '0',
  VIGIL_GATEWAY_HOST: '127.0.0.1',
  VIGIL_GATEWAY_API_KEYS_FILE: join(dir, 'keys'),
  VIGIL_GATEWAY_DB: join(dir, 'gateway.db'),
  ...extra,
});
const base = () => `http://127.0.0.1:${gw!.port}`;

async function call(
  method: string,
  path: string,
  opts: { key?: string | null; body?: unknown; raw?: string; type?: string } = {},
) {
  const headers: Record<string, string> = {};
  const key = opts.key === undefined ? READ : opts.key;
  if (key) headers['x-api-key'] = key;
  let body: string | undefined;
  if (opts.raw !== undefined) body = opts.raw;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined) headers['content-type'] = opts.type ?? 'application/json';
  const res = await fetch(base() + path, { method, headers, body });
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON (images)
  }
  return { status: res.status, json: json as Record<string, unknown>, text, headers: res.headers };
}

// a time range of this run's own (the broker may hold earlier runs' events)
const T0 = Date.UTC(2020, 0, 1) + randomInt(0, 1_000_000) * 10_000_000;
const iso = (ms: number) => new Date(ms).toISOString();

function anomaly(
  stream: string,
  kind: AnomalyEvent['kind'],
  startMs: number,
  phase: AnomalyEvent['phase'],
  at: number,
) {
  const e: AnomalyEvent = {
    eventId: anomalyEventId(stream, kind, iso(startMs)),
    streamId: stream,
    phase,
    kind,
    severity: kind === 'lens_covered' ? 'critical' : 'warning',
    score: 2,
    peakScore: 2 + at / 1e6,
    startedAt: iso(startMs),
    observedAt: iso(at),
    ...(phase === 'end' ? { endedAt: iso(at), endReason: 'cleared' } : {}),
    description: `${kind} ${phase}`,
    ...(phase === 'start'
      ? {
          evidence: {
            mime: 'image/jpeg' as const,
            base64: Buffer.from(`jpeg-${kind}-${startMs}`).toString('base64'),
          },
        }
      : {}),
  };
  return e;
}

const summary = (stream: string, level: Summary['level'], endMs: number) =>
  sampleSummary(stream, level, endMs);

/** A message as the apps publish it, from a source of this test's own. */
const json = (type: string, value: { streamId: string }) =>
  jsonMessage(value, { type, source: 'urn:vigil:test', id: randomUUID(), time: new Date().toISOString() });
const publishAnomalies = (es: AnomalyEvent[]) =>
  pub.publish(
    TOPICS.anomalies.name,
    es.map((e) => json(CE_TYPES.anomaly, e)),
  );
const publishSummaries = (ss: Summary[]) =>
  pub.publish(
    TOPICS.summaries.name,
    ss.map((s) => json(CE_TYPES.summary, s)),
  );

before(async () => {
  broker = await useTestKafka();
  dir = testDir('gateway');
  writeFileSync(join(dir, 'keys'), `# test keys\nwrite ${WRITE}\nread ${READ}\n`);
  const conn = { brokers: broker.brokers, clientId: 'gateway-test', connectTimeoutMs: 3000 };
  pub = new KafkaPublisher(createKafka(conn, log), conn);
  await pub.connect();
  gw = await startGateway(loadGatewayConfig(env()), log);
  watch = await watchTopics(
    broker.brokers,
    { groupId: `gateway-test-${run}`, topics: [TOPICS.streams.name, TOPICS.control.name] },
    (m) => {
      if (m.topic === TOPICS.control.name) control.push(JSON.parse(m.value!.toString()) as ControlMessage);
      else streamsTopic.push({ key: m.key, value: m.value ? m.value.toString() : null });
    },
    log,
  );
});

after(async () => {
  // leave no camera behind on the shared broker: later tests' ingest workers would run it
  if (gw) for (const id of [CAM, OTHER]) await call('DELETE', `/api/streams/${id}`, { key: WRITE });
  await gw?.close();
  await watch?.stop();
  await pub?.disconnect();
  await broker?.stop();
});

test('every route but health refuses a request without a valid key (401), and a read key cannot write (403)', async () => {
  const routes: [string, string][] = [
    ['GET', '/api/streams'],
    ['POST', '/api/streams'],
    ['GET', `/api/streams/${CAM}`],
    ['PUT', `/api/streams/${CAM}`],
    ['DELETE', `/api/streams/${CAM}`],
    ['POST', `/api/streams/${CAM}/summarize`],
    ['GET', `/api/streams/${CAM}/frame.jpg`],
    ['GET', `/api/streams/${CAM}/scores`],
    ['GET', `/api/streams/${CAM}/live`],
    ['GET', '/api/anomalies'],
    ['GET', `/api/anomalies/${randomUUID()}`],
    ['GET', `/api/anomalies/${randomUUID()}/evidence.jpg`],
    ['GET', '/api/summaries'],
    ['GET', '/events'],
    ['GET', '/api/no-such-route'],
  ];
  for (const [method, path] of routes) {
    for (const key of [null, 'not-a-key-000000000000000000', READ.toUpperCase()]) {
      const r = await call(method, path, {
        key,
        body: method === 'GET' || method === 'DELETE' ? undefined : {},
      });
      assert.equal(r.status, 401, `${method} ${path} with key ${key}: ${r.text}`);
      assert.doesNotMatch(r.text, /read-|write-/, 'the answer names no key');
      assert.match(String(r.json.message), key ? /not valid/ : /x-api-key/);
    }
  }
  for (const [method, path] of routes.filter(([m]) => m !== 'GET')) {
    const r = await call(method, path, { key: READ, body: {} });
    assert.equal(r.status, 403, `${method} ${path} with a read key`);
    assert.match(String(r.json.message), /only read/);
  }
  // Authorization: Bearer works as well as x-api-key
  const bearer = await fetch(`${base()}/api/streams`, { headers: { authorization: `Bearer ${READ}` } });
  assert.equal(bearer.status, 200);
  for (const path of ['/health/live', '/health/ready'])
    assert.equal((await call('GET', path, { key: null })).status, 200);
});

test('cameras: create, get, list, update, delete go through vigil.streams.v1 and come back with their status', async () => {
  const spec = {
    id: CAM,
    name: 'Gate',
    url: 'rtsp://camera.local:554/stream1',
    credentials: { secret: 'gate-cam' },
  };
  const created = await call('POST', '/api/streams', { key: WRITE, body: spec });
  assert.equal(created.status, 201, created.text);
  assert.equal(created.json.url, spec.url);
  assert.deepEqual(
    created.json.sampling,
    { mode: 'fps', fps: 1, burstFps: 5, burstSeconds: 10 },
    'defaults filled',
  );
  assert.equal(created.json.status, null, 'no status yet');
  // on the compacted topic, as ingest reads it
  const onTopic = await waitFor(
    'the spec on vigil.streams.v1',
    () => streamsTopic.find((m) => m.key === CAM && m.value),
    10_000,
  );
  assert.deepEqual(JSON.parse(onTopic.value!), StreamSpecSchema.parse(spec));

  assert.equal(
    (await call('POST', '/api/streams', { key: WRITE, body: spec })).status,
    409,
    'a second create conflicts',
  );
  assert.equal((await call('GET', `/api/streams/${CAM}`)).json.name, 'Gate');
  const list = await call('GET', '/api/streams');
  assert.ok((list.json.items as { id: string }[]).some((s) => s.id === CAM));

  // a status from ingest shows on the camera
  await pub.publish(TOPICS.streamStatus.name, [
    statusMessage({
      streamId: CAM,
      state: 'running',
      online: true,
      health: 'online',
      at: new Date().toISOString(),
      fpsIn: 2,
      fpsOut: 2,
      framesOut: 10,
      drops: 0,
      restarts: 0,
      lastFrameAt: new Date().toISOString(),
      lastFrameAgeS: 0.2,
      lastError: null,
    }),
  ]);
  await waitFor(
    'status on the camera',
    async () => (await call('GET', `/api/streams/${CAM}`)).json.status,
    10_000,
  );
  const withStatus = await call('GET', `/api/streams/${CAM}`);
  assert.equal((withStatus.json.status as { health: string }).health, 'online');

  const updated = await call('PUT', `/api/streams/${CAM}`, {
    key: WRITE,
    body: { ...spec, id: undefined, name: 'Front gate' },
  });
  assert.equal(updated.status, 200, updated.text);
  assert.equal((await call('GET', `/api/streams/${CAM}`)).json.name, 'Front gate');
  assert.equal(
    (await call('PUT', `/api/streams/nope-${run}`, { key: WRITE, body: { url: 'rtsp://x/y' } })).status,
    404,
  );

  const summarize = await call('POST', `/api/streams/${CAM}/summarize`, {
    key: WRITE,
    body: { reason: 'shift change' },
  });
  assert.equal(summarize.status, 202);
  await waitFor(
    'the summarize request on vigil.control.v1',
    () => control.find((c) => c.streamId === CAM && c.action === 'summarize' && c.reason === 'shift change'),
    10_000,
  );

  assert.equal((await call('DELETE', `/api/streams/${CAM}`, { key: WRITE })).status, 204);
  assert.equal((await call('GET', `/api/streams/${CAM}`)).status, 404);
  await waitFor(
    'a tombstone on vigil.streams.v1',
    () => streamsTopic.find((m) => m.key === CAM && m.value === null),
    10_000,
  );
  assert.equal((await call('DELETE', `/api/streams/${CAM}`, { key: WRITE })).status, 404);
});

test('invalid requests are answered 4xx with a message naming the field', async () => {
  const ok = { id: `bad-${run}`, url: 'rtsp://camera.local/stream' };
  const login = cameraCredentials();
  const cases: {
    what: string;
    method?: string;
    path?: string;
    body?: unknown;
    raw?: string;
    type?: string;
    status: number;
    names: RegExp;
  }[] = [
    {
      what: 'id of the wrong type',
      body: { ...ok, id: 42 },
      status: 400,
      names: /body\.id: .*expected string/,
    },
    {
      what: 'id with capitals and spaces',
      body: { ...ok, id: 'Cam 1' },
      status: 400,
      names: /body\.id: must be 1-63 characters/,
    },
    { what: 'missing url', body: { id: ok.id }, status: 400, names: /body\.url/ },
    {
      what: 'url of the wrong type',
      body: { ...ok, url: ['rtsp://x'] },
      status: 400,
      names: /body\.url: .*expected string/,
    },
    {
      what: 'file:// url',
      body: { ...ok, url: 'file:///etc/passwd' },
      status: 400,
      names: /body\.url: stream URL is a file URL, and file input is off/,
    },
    {
      what: 'forbidden scheme',
      body: { ...ok, url: 'concat:/etc/passwd' },
      status: 400,
      names: /body\.url: .*scheme "concat"/,
    },
    {
      what: 'cloud metadata host',
      body: { ...ok, url: 'http://169.254.169.254/latest' },
      status: 400,
      names: /body\.url: .*metadata/,
    },
    {
      what: 'inline credentials',
      body: { ...ok, url: `rtsp://${login.username}:${login.password}@cam/stream` },
      status: 400,
      names: /body\.url: .*credentials\.secret/,
    },
    { what: 'url starting with -', body: { ...ok, url: '-i /etc/passwd' }, status: 400, names: /body\.url/ },
    {
      what: 'unknown field',
      body: { ...ok, colour: 'red' },
      status: 400,
      names: /body: Unrecognized key: "colour"/,
    },
    {
      what: 'unknown nested field',
      body: { ...ok, sampling: { fps: 1, speed: 2 } },
      status: 400,
      names: /body\.sampling: Unrecognized key: "speed"/,
    },
    {
      what: 'fps as a string',
      body: { ...ok, sampling: { fps: '5' } },
      status: 400,
      names: /body\.sampling\.fps: .*expected number/,
    },
    {
      what: 'fps out of range',
      body: { ...ok, sampling: { fps: 1000 } },
      status: 400,
      names: /body\.sampling\.fps/,
    },
    {
      what: 'unknown sampling mode',
      body: { ...ok, sampling: { mode: 'sometimes' } },
      status: 400,
      names: /body\.sampling\.mode/,
    },
    {
      what: 'enabled as a string',
      body: { ...ok, enabled: 'yes' },
      status: 400,
      names: /body\.enabled: .*expected boolean/,
    },
    {
      what: 'region outside the picture',
      body: { ...ok, analysis: { ignore: [{ x: 0, y: 0, w: 2, h: 1 }] } },
      status: 400,
      names: /body\.analysis\.ignore\.0\.w/,
    },
    {
      what: 'windowS shorter than the interval',
      body: { ...ok, analysis: { summaryIntervalS: 10, windowS: 5 } },
      status: 400,
      names: /body\.analysis\.windowS/,
    },
    {
      what: 'bad secret name',
      body: { ...ok, credentials: { secret: '../etc' } },
      status: 400,
      names: /body\.credentials\.secret/,
    },
    { what: 'an array, not an object', body: [ok], status: 400, names: /body: .*expected object/ },
    { what: 'a string body', body: 'rtsp://x', status: 400, names: /body: .*expected object/ },
    { what: 'not JSON', raw: '{"id": ', status: 400, names: /not valid JSON/ },
    { what: 'oversized body', body: { ...ok, name: 'x'.repeat(70_000) }, status: 413, names: /too large/ },
    {
      what: 'PUT with a different id',
      method: 'PUT',
      path: `/api/streams/${ok.id}`,
      body: { ...ok, id: 'other' },
      status: 400,
      names: /body\.id: must be "bad-/,
    },
    {
      what: 'summarize with an unknown field',
      method: 'POST',
      path: `/api/streams/${ok.id}/summarize`,
      body: { why: 1 },
      status: 404,
      names: /no stream/,
    },
    {
      what: 'anomalies: limit 0',
      method: 'GET',
      path: '/api/anomalies?limit=0',
      status: 400,
      names: /query\.limit: must be at least 1/,
    },
    {
      what: 'anomalies: limit not a number',
      method: 'GET',
      path: '/api/anomalies?limit=ten',
      status: 400,
      names: /query\.limit: must be a whole number/,
    },
    {
      what: 'anomalies: unknown kind',
      method: 'GET',
      path: '/api/anomalies?kind=ghost',
      status: 400,
      names: /query\.kind/,
    },
    {
      what: 'anomalies: bad time',
      method: 'GET',
      path: '/api/anomalies?since=yesterday',
      status: 400,
      names: /query\.since: must be an RFC 3339 time/,
    },
    {
      what: 'anomalies: unknown parameter',
      method: 'GET',
      path: '/api/anomalies?colour=red',
      status: 400,
      names: /query: Unrecognized key: "colour"/,
    },
    {
      what: 'anomalies: parameter given twice',
      method: 'GET',
      path: '/api/anomalies?streamId=a&streamId=b',
      status: 400,
      names: /query\.streamId: .*expected string/,
    },
    {
      what: 'anomalies: forged cursor',
      method: 'GET',
      path: '/api/anomalies?cursor=AAAA',
      status: 400,
      names: /cursor: is not a cursor/,
    },
    {
      what: 'summaries: unknown level',
      method: 'GET',
      path: '/api/summaries?level=day',
      status: 400,
      names: /query\.level/,
    },
    {
      what: 'anomaly id not a UUID',
      method: 'GET',
      path: '/api/anomalies/123',
      status: 400,
      names: /eventId: must be an event id/,
    },
    {
      what: 'events: unknown type',
      method: 'GET',
      path: '/events?types=anomaly,gossip',
      status: 400,
      names: /query\.types\.1/,
    },
    {
      what: 'stream id with a slash',
      method: 'GET',
      path: '/api/streams/..%2Fetc',
      status: 400,
      names: /id: must be 1-63 characters/,
    },
  ];
  assert.ok(cases.length >= 20);
  for (const c of cases) {
    const r = await call(c.method ?? 'POST', c.path ?? '/api/streams', {
      key: WRITE,
      ...(c.raw !== undefined ? { raw: c.raw } : c.body !== undefined ? { body: c.body } : {}),
    });
    assert.equal(r.status, c.status, `${c.what}: ${r.text}`);
    assert.match(String(r.json?.message), c.names, `${c.what}: ${r.text}`);
    assert.ok(!r.text.includes(login.password), `${c.what}: a password is never echoed`);
  }
  assert.equal((await call('GET', `/api/streams/${ok.id}`)).status, 404, 'nothing invalid was stored');
});

test('anomalies: one row per event at its latest phase, filters, stable paging, evidence; summaries likewise', async () => {
  const events: AnomalyEvent[] = [];
  for (let i = 0; i < 7; i++) {
    const start = T0 + i * 60_000;
    const kind = i % 2 ? 'lens_covered' : 'object_appeared';
    const stream = i < 5 ? CAM : OTHER;
    events.push(
      anomaly(stream, kind, start, 'start', start),
      anomaly(stream, kind, start, 'update', start + 5000),
    );
    // the first three end; the end of #1 arrives before its update (out of order)
    if (i < 3) events.push(anomaly(stream, kind, start, 'end', start + 9000));
  }
  const e1 = events.filter((e) => e.startedAt === iso(T0 + 60_000));
  await publishAnomalies([...events.filter((e) => !e1.includes(e)), e1[0]!, e1[2]!, e1[1]!]);
  await waitFor(
    'seven events stored',
    async () =>
      (
        (await call('GET', `/api/anomalies?limit=500&since=${T0}&until=${T0 + 3_600_000}`)).json
          .items as unknown[]
      )?.length === 7,
    15_000,
  );

  const all = (await call('GET', `/api/anomalies?limit=500&since=${T0}&until=${T0 + 3_600_000}`)).json
    .items as (AnomalyEvent & { evidenceUrl: string })[];
  assert.deepEqual(
    all.map((e) => e.startedAt),
    [6, 5, 4, 3, 2, 1, 0].map((i) => iso(T0 + i * 60_000)),
    'newest first',
  );
  assert.deepEqual(
    all.map((e) => e.phase),
    ['update', 'update', 'update', 'update', 'end', 'end', 'end'],
    'an end is final',
  );
  assert.ok(
    all.every((e) => e.evidenceUrl && !('evidence' in e)),
    'evidence as a link, not inline',
  );

  const q = (s: string) => call('GET', `/api/anomalies?since=${T0}&until=${T0 + 3_600_000}&${s}`);
  assert.equal(((await q(`streamId=${OTHER}`)).json.items as unknown[]).length, 2);
  assert.equal(((await q('kind=lens_covered')).json.items as unknown[]).length, 3);
  assert.equal(((await q('severity=critical')).json.items as unknown[]).length, 3);
  assert.equal(((await q('state=open')).json.items as unknown[]).length, 4);
  assert.equal(((await q('state=ended')).json.items as unknown[]).length, 3);
  assert.equal(
    (
      (await call('GET', `/api/anomalies?since=${iso(T0 + 120_000)}&until=${iso(T0 + 240_000)}`)).json
        .items as unknown[]
    ).length,
    2,
  );

  // pages of 3: every event once, in order
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const r = await q(`limit=3${cursor ? `&cursor=${cursor}` : ''}`);
    assert.equal(r.status, 200, r.text);
    seen.push(...(r.json.items as AnomalyEvent[]).map((e) => e.eventId));
    cursor = r.json.nextCursor as string | null;
  } while (cursor);
  assert.deepEqual(
    seen,
    all.map((e) => e.eventId),
  );

  const one = await call('GET', `/api/anomalies/${all[0]!.eventId}`);
  assert.equal(one.json.eventId, all[0]!.eventId);
  const img = await fetch(base() + all[0]!.evidenceUrl, { headers: { 'x-api-key': READ } });
  assert.equal(img.headers.get('content-type'), 'image/jpeg');
  assert.equal(Buffer.from(await img.arrayBuffer()).toString(), `jpeg-object_appeared-${T0 + 6 * 60_000}`);
  assert.equal((await call('GET', `/api/anomalies/${randomUUID()}`)).status, 404);

  const sums = [1, 2, 3, 4]
    .map((i) => summary(CAM, 'window', T0 + i * 10_000))
    .concat(summary(CAM, 'minute', T0 + 60_000));
  await publishSummaries([...sums, sums[0]!]); // a redelivery changes nothing
  await waitFor(
    'summaries stored',
    async () =>
      ((await call('GET', `/api/summaries?streamId=${CAM}&limit=500`)).json.items as unknown[])?.length === 5,
    15_000,
  );
  const windows = (await call('GET', `/api/summaries?streamId=${CAM}&level=window&limit=2`)).json;
  assert.deepEqual(
    (windows.items as Summary[]).map((s) => s.windowEnd),
    [iso(T0 + 40_000), iso(T0 + 30_000)],
  );
  const next = (
    await call(
      'GET',
      `/api/summaries?streamId=${CAM}&level=window&limit=2&cursor=${String(windows.nextCursor)}`,
    )
  ).json;
  assert.deepEqual(
    (next.items as Summary[]).map((s) => s.windowEnd),
    [iso(T0 + 20_000), iso(T0 + 10_000)],
  );
  assert.equal(next.nextCursor, null);
});

test('the latest frame and the score sparkline of a camera', async () => {
  const spec = StreamSpecSchema.parse({ id: OTHER, url: 'rtsp://camera.local/other' });
  assert.equal((await call('POST', '/api/streams', { key: WRITE, body: spec })).status, 201);
  const jpeg = await sceneJpeg({ i: 3 });
  await pub.publish(TOPICS.frames.name, [
    frameMessage(spec, { image: jpeg, capturedAt: Date.now(), seq: 1, runId: 'r1' }, 'fps'),
  ]);
  const frame = await waitFor(
    'the frame',
    async () => {
      const r = await fetch(`${base()}/api/streams/${OTHER}/frame.jpg`, { headers: { 'x-api-key': READ } });
      return r.status === 200 ? Buffer.from(await r.arrayBuffer()) : undefined;
    },
    15_000,
  );
  assert.ok(frame.equals(jpeg));

  const now = Date.now();
  await pub.publish(
    TOPICS.scores.name,
    [0.2, 0.4, 1.6, 0.3].map((score, i) =>
      json(CE_TYPES.score, {
        streamId: OTHER,
        capturedAt: iso(now - 4000 + i * 1000),
        learning: false,
        score,
        novelFraction: 0,
      } as { streamId: string }),
    ),
  );
  const scores = await waitFor(
    'scores',
    async () => {
      const items = (await call('GET', `/api/streams/${OTHER}/scores`)).json.items as {
        at: number;
        score: number;
      }[];
      return items.length === 4 ? items : undefined;
    },
    15_000,
  );
  assert.deepEqual(
    scores.map((s) => s.score),
    [0.2, 0.4, 1.6, 0.3],
  );
  assert.equal(
    ((await call('GET', `/api/streams/${OTHER}/scores?since=${now - 2500}`)).json.items as unknown[]).length,
    2,
  );

  // the tracked objects of the newest scored sample, for the boxes over the frame; an older one after it
  // does not replace them
  const person = {
    trackId: '7',
    label: 'person',
    score: 0.8,
    box: { x: 0.1, y: 0.2, w: 0.05, h: 0.2 },
    dwellS: 3,
  };
  assert.deepEqual((await call('GET', `/api/streams/${OTHER}/objects`)).json, {
    streamId: OTHER,
    capturedAt: null,
    items: [],
  });
  await pub.publish(TOPICS.scores.name, [
    json(CE_TYPES.score, {
      streamId: OTHER,
      capturedAt: iso(now),
      learning: false,
      score: 0.1,
      novelFraction: 0,
      objects: [person],
    } as { streamId: string }),
    json(CE_TYPES.score, {
      streamId: OTHER,
      capturedAt: iso(now - 500),
      learning: false,
      score: 0.1,
      novelFraction: 0,
      objects: [],
    } as { streamId: string }),
  ]);
  const objects = await waitFor(
    'objects',
    async () => {
      const r = await call('GET', `/api/streams/${OTHER}/objects`);
      return r.json.capturedAt ? r.json : undefined;
    },
    15_000,
  );
  assert.deepEqual(objects, { streamId: OTHER, capturedAt: iso(now), items: [person] });
  await sleep(1000);
  assert.deepEqual((await call('GET', `/api/streams/${OTHER}/objects`)).json, objects);
  assert.equal((await call('GET', `/api/streams/nope-${OTHER}/objects`)).status, 404);
  assert.equal((await fetch(`${base()}/api/streams/${OTHER}/objects`)).status, 401, 'a key is needed');
});

test('GET /events streams new anomalies and summaries as they are stored, filtered by type and camera', async () => {
  const ctrl = new AbortController();
  const res = await fetch(`${base()}/events?types=anomaly&streamId=${CAM}`, {
    headers: { 'x-api-key': READ },
    signal: ctrl.signal,
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  let text = '';
  const reading = (async () => {
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      text += value;
    }
  })();
  const start = T0 + 7_200_000;
  await publishSummaries([summary(CAM, 'window', start)]);
  await publishAnomalies([
    anomaly(OTHER, 'blur', start, 'start', start),
    anomaly(CAM, 'frozen', start, 'start', start),
  ]);
  await waitFor(
    'the anomaly event on /events',
    () => /event: anomaly\ndata: .*"kind":"frozen"/.test(text),
    15_000,
  );
  assert.doesNotMatch(text, /"kind":"blur"/, 'another camera’s event is filtered out');
  assert.doesNotMatch(text, /event: summary/, 'summaries were not asked for');
  const data = JSON.parse(/event: anomaly\ndata: (.*)/.exec(text)![1]!) as {
    eventId: string;
    evidenceUrl: string;
  };
  assert.equal(data.eventId, anomalyEventId(CAM, 'frozen', iso(start)));
  ctrl.abort();
  await reading;
});

test('rate limits per key, a restart keeps the store and resumes reading, metrics count requests', async () => {
  const metrics = await (await fetch(`http://127.0.0.1:${gw!.opsPort}/metrics`)).text();
  assert.ok(sumMetric(metrics, 'vigil_gateway_requests_total', 'status="401"') >= 45, 'refusals are counted');
  assert.ok(
    sumMetric(metrics, 'vigil_gateway_requests_total', 'route="/api/anomalies"', 'status="200"') >= 5,
  );

  await gw!.close();
  // published while the gateway is down
  const late = T0 + 9_000_000;
  await publishAnomalies([anomaly(CAM, 'too_dark', late, 'start', late)]);
  gw = await startGateway(loadGatewayConfig(env({ VIGIL_GATEWAY_RATE_LIMIT: '20' })), log);
  const stored = await call('GET', `/api/anomalies?limit=500&since=${T0}&until=${T0 + 3_600_000}`);
  assert.equal((stored.json.items as unknown[]).length, 7, 'what was stored is there at once');
  await waitFor(
    'the event published while down',
    async () =>
      (await call('GET', `/api/anomalies?kind=too_dark&streamId=${CAM}`)).json.items?.toString() !== '',
    15_000,
  );
  const dark = (await call('GET', `/api/anomalies?kind=too_dark&streamId=${CAM}`)).json.items as unknown[];
  assert.equal(dark.length, 1, 'read once, no duplicate');

  let limited: Awaited<ReturnType<typeof call>> | undefined;
  for (let i = 0; i < 25 && !limited; i++) {
    const r = await call('GET', '/api/streams');
    if (r.status === 429) limited = r;
  }
  assert.ok(limited, 'the 21st request in a minute is refused');
  assert.match(String(limited.json.message), /over 20 requests a minute/);
  assert.ok(limited.headers.get('retry-after'));
  assert.equal(
    (await call('GET', '/api/streams', { key: WRITE })).status,
    200,
    'another key has its own budget',
  );
  assert.equal((await call('GET', '/health/live', { key: null })).status, 200, 'health is never limited');
});
