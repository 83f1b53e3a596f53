import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { spawnSync } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type INestApplicationContext } from '@nestjs/common';
import sharp from 'sharp';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { Validator } from '@seriousme/openapi-schema-validator';
import { EventSource } from 'eventsource';
import {
  type AnomalyEvent,
  CE_TYPES,
  DEAD_LETTER_HEADER,
  StreamSpecSchema,
  type Summary,
  TOPICS,
  anomalyEventId,
} from '@vigil/contracts';
import { loadGatewayConfig, loadIngestConfig } from '@vigil/config';
import { KafkaPublisher, createKafka, frameMessage, jsonMessage, statusMessage } from '@vigil/kafka';
import { StreamSupervisor } from '@vigil/media';
import { Logger } from '@vigil/observability';
import {
  repoRoot,
  sampleSummary,
  sceneJpeg,
  testDir,
  useTestKafka,
  waitFor,
  watchTopics,
} from '@vigil/testing';
import { type RunningGateway, startGateway } from '../../apps/gateway/src/main.js';
import { startIngest } from '../../apps/ingest/src/main.js';
import { IngestService } from '../../apps/ingest/src/ingest.service.js';

// What a client holding a key may do, and what it must never reach, against a real broker, a real
// gateway and a real ingest worker: file and address refusals through the API, the CLI's path (the
// topic) and ingest; secrets masked everywhere; the SSE cap and resume; the published OpenAPI document
// checked by validators we did not write. Every listener here is on loopback; the denied one (127.0.0.2)
// must never be connected to.

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;
const run = randomUUID().slice(0, 6);
const WRITE = `write-${randomUUID()}`;
const READ = `read-${randomUUID()}`;
const READ2 = `read-${randomUUID()}`;
const CAM = `sec-${run}`;
/** A token under a name that does not look like one: masked because every query value is. */
const TOKEN = `tok${randomUUID().replaceAll('-', '')}`;

const logs: string[] = [];
const log = new Logger('security-test', { level: 'info', sink: { write: (l) => logs.push(l) } });
let broker: Awaited<ReturnType<typeof useTestKafka>>;
let pub: KafkaPublisher;
let dir: string;
let gw: RunningGateway | undefined;
let ingest: INestApplicationContext | undefined;
const dlq: { key: string | null; reason: string }[] = [];
const topicText: string[] = [];
let watchStop: (() => Promise<void>) | undefined;

/** A TCP listener on a loopback address that counts who connects and keeps what they send first. */
async function listener(host: string) {
  const seen: string[] = [];
  const sockets: Socket[] = [];
  const server: Server = createServer((s) => {
    sockets.push(s);
    seen.push('');
    const i = seen.length - 1;
    s.on('data', (d) => (seen[i] += d.toString('latin1')));
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
let denied: Awaited<ReturnType<typeof listener>>;

const env = (extra: Record<string, string> = {}) => ({
  VIGIL_KAFKA_BROKERS: broker.brokers.join(','),
  VIGIL_LOG_LEVEL: 'info',
  VIGIL_GATEWAY_PORT: '0',
  VIGIL_GATEWAY_HTTP_PORT: '0',
  VIGIL_GATEWAY_HOST: '127.0.0.1',
  VIGIL_GATEWAY_API_KEYS_FILE: join(dir, 'keys'),
  VIGIL_GATEWAY_DB: join(dir, 'gw', 'gateway.db'),
  VIGIL_CAMERA_DENY_NETWORKS: '127.0.0.2/32',
  VIGIL_GATEWAY_SSE_MAX_PER_KEY: '3',
  VIGIL_GATEWAY_SSE_MAX: '5',
  ...extra,
});

async function call(
  g: RunningGateway,
  method: string,
  path: string,
  opts: { key?: string | null; body?: unknown; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = { ...opts.headers };
  const key = opts.key === undefined ? READ : opts.key;
  if (key) headers['x-api-key'] = key;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`http://127.0.0.1:${g.port}${path}`, {
    method,
    headers,
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  const buf = Buffer.from(await res.arrayBuffer());
  let json: unknown;
  try {
    json = JSON.parse(buf.toString());
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json: json as Record<string, unknown>, buf };
}

const iso = (ms: number) => new Date(ms).toISOString();
const message = (type: string, value: { streamId: string }) =>
  jsonMessage(value, { type, source: 'urn:vigil:test', id: randomUUID(), time: new Date().toISOString() });

const summary = (stream: string, endMs: number, text?: string) =>
  sampleSummary(stream, 'window', endMs, text);
const publishSummaries = (ss: Summary[]) =>
  pub.publish(
    TOPICS.summaries.name,
    ss.map((s) => message(CE_TYPES.summary, s)),
  );

before(async () => {
  broker = await useTestKafka();
  dir = testDir('gateway-security');
  writeFileSync(join(dir, 'keys'), `write ${WRITE}\nread ${READ}\nread ${READ2}\n`);
  const conn = { brokers: broker.brokers, clientId: 'security-test', connectTimeoutMs: 3000 };
  pub = new KafkaPublisher(createKafka(conn, log), conn);
  await pub.connect();
  denied = await listener('127.0.0.2');
  gw = await startGateway(loadGatewayConfig(env()), log);
  ingest = await startIngest(
    loadIngestConfig({
      VIGIL_KAFKA_BROKERS: broker.brokers.join(','),
      VIGIL_LOG_LEVEL: 'info',
      VIGIL_INGEST_GROUP_ID: `sec-ingest-${run}`,
      VIGIL_INGEST_HTTP_PORT: '0',
      VIGIL_INGEST_STATUS_INTERVAL_MS: '1000',
      VIGIL_INGEST_BACKOFF_INITIAL_MS: '200',
      VIGIL_INGEST_BACKOFF_MAX_MS: '1000',
      VIGIL_CAMERA_DENY_NETWORKS: '127.0.0.2/32',
    }),
    log,
  );
  const sub = await watchTopics(
    broker.brokers,
    {
      groupId: `security-watch-${run}`,
      topics: [TOPICS.dlq.name, TOPICS.streamStatus.name, TOPICS.anomalies.name, TOPICS.summaries.name],
    },
    (m) => {
      if (m.topic === TOPICS.dlq.name) {
        const h = m.headers[DEAD_LETTER_HEADER];
        const info = JSON.parse((Array.isArray(h) ? h[0] : h)?.toString() ?? '{}') as { reason?: string };
        dlq.push({ key: m.key, reason: info.reason ?? '' });
      } else topicText.push(`${m.topic} ${m.value?.toString() ?? ''}`);
    },
    log,
  );
  watchStop = () => sub.stop();
});

after(async () => {
  if (gw)
    for (const id of [CAM, `${CAM}-q`, `${CAM}-off`])
      await call(gw, 'DELETE', `/api/streams/${id}`, { key: WRITE });
  await ingest?.close();
  await gw?.close();
  await watchStop?.();
  await pub?.disconnect();
  await denied?.close();
  await broker?.stop();
});

/** Writes a spec straight to vigil.streams.v1, as `vigil streams add` and any producer with access do. */
const putOnTopic = (key: string, value: unknown) =>
  pub.publish(TOPICS.streams.name, [
    { key, value: Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)), headers: {} },
  ]);

test('a write key cannot read the server’s files: not through the API, the CLI or the topic', async () => {
  const notes = join(dir, 'notes.txt');
  writeFileSync(notes, 'the night shift’s door codes\n'.repeat(100));
  const asReplay = await call(gw!, 'POST', '/api/streams', {
    key: WRITE,
    body: { id: `${CAM}-f`, url: `file://${notes}`, replay: true },
  });
  assert.equal(asReplay.status, 400);
  assert.match(String(asReplay.json.message), /replay: replay no longer grants file input/);
  const plain = await call(gw!, 'POST', '/api/streams', {
    key: WRITE,
    body: { id: `${CAM}-f`, url: `file://${notes}` },
  });
  assert.equal(plain.status, 400);
  assert.match(String(plain.json.message), /body\.url: stream URL is a file URL, and file input is off/);
  // a file that does not exist gets the same answer: the refusal tells nothing about the disk
  const missing = await call(gw!, 'POST', '/api/streams', {
    key: WRITE,
    body: { id: `${CAM}-f`, url: `file://${join(dir, 'absent.txt')}` },
  });
  assert.equal(missing.json.message, plain.json.message);

  // the topic (what `vigil streams add` writes, and any producer): ingest sets it aside, runs nothing
  await putOnTopic(`${CAM}-f`, { id: `${CAM}-f`, url: `file://${notes}` });
  await putOnTopic(`${CAM}-r`, { id: `${CAM}-r`, url: `file://${notes}`, replay: true });
  await waitFor(
    'both file specs on vigil.dlq.v1',
    () => dlq.filter((d) => d.key?.startsWith(`${CAM}-`)).length >= 2,
    20_000,
  );
  assert.match(
    dlq.find((d) => d.key === `${CAM}-f`)!.reason,
    /url: stream URL is a file URL, and file input is off/,
  );
  assert.match(dlq.find((d) => d.key === `${CAM}-r`)!.reason, /replay no longer grants file input/);
  const running = ingest!
    .get(IngestService)
    .list()
    .map((s) => s.id);
  assert.ok(!running.includes(`${CAM}-f`) && !running.includes(`${CAM}-r`), running.join());
  assert.equal((await call(gw!, 'GET', `/api/streams/${CAM}-f/frame.jpg`)).status, 404);
});

test('link-local, metadata and denied addresses are refused in every spelling; the denied listener hears nothing', async () => {
  const p = denied.port;
  const spellings = [
    'rtsp://0xa9fea9fe/',
    'rtsp://2852039166:554/',
    'rtmp://0xa9fea9fe/live',
    'srt://2852039166:80',
    'http://metadata.google.internal./',
    'rtsp://0251.0376.0251.0376/s',
    'rtsp://169.254.43518/s',
    'rtsp://[::ffff:169.254.169.254]/s',
    `rtsp://127.0.0.2:${p}/s`,
    `rtsp://0x7f000002:${p}/s`,
    `rtsp://2130706434:${p}/s`,
    `rtsp://127.2:${p}/s`,
    `rtsp://[::ffff:127.0.0.2]:${p}/s`,
    `http://127.0.0.2:${p}/live.m3u8`,
  ];
  for (const url of spellings) {
    const r = await call(gw!, 'POST', '/api/streams', { key: WRITE, body: { id: `${CAM}-a`, url } });
    assert.equal(r.status, 400, url);
    assert.match(String(r.json.message), /body\.url: stream URL points at .*(refused|operator refuses)/, url);
  }
  // straight onto the topic: ingest refuses before any ffmpeg starts
  await putOnTopic(`${CAM}-hex`, { id: `${CAM}-hex`, url: `rtsp://0x7f000002:${p}/s` });
  await waitFor('the hex spec on vigil.dlq.v1', () => dlq.some((d) => d.key === `${CAM}-hex`), 20_000);
  assert.match(
    dlq.find((d) => d.key === `${CAM}-hex`)!.reason,
    /points at 127\.0\.0\.2, which the operator refuses/,
  );
  await sleep(1500);
  assert.deepEqual(denied.seen, [], 'nothing connected to the denied address');
});

test('names are resolved before each start: a name that leads to a denied address is refused, an allowed one is pinned', async () => {
  const allowed = await listener('127.0.0.3');
  const resolver = (name: string) =>
    Promise.resolve(
      name === 'bad.cam.test'
        ? [{ address: '127.0.0.2', family: 4 }]
        : name === 'good.cam.test'
          ? [{ address: '127.0.0.3', family: 4 }]
          : [],
    );
  const states: string[] = [];
  const supervise = (url: string) =>
    new StreamSupervisor(
      StreamSpecSchema.parse({ id: 'resolved', url, sampling: { mode: 'keyframes' } }),
      {
        ffmpegPath: 'ffmpeg',
        stallTimeoutMs: 3000,
        ioTimeoutMs: 2000,
        backoffInitialMs: 60_000,
        backoffMaxMs: 60_000,
        networks: { allow: [], deny: ['127.0.0.2/32'] },
        resolveHost: resolver,
      },
      () => undefined,
      (c) => states.push(`${c.state}: ${c.reason ?? ''}`),
    );
  const bad = supervise(`rtsp://bad.cam.test:${denied.port}/s`);
  bad.start();
  await waitFor('the refusal', () => states.some((s) => s.startsWith('backoff')), 5000);
  assert.match(
    states.find((s) => s.startsWith('backoff'))!,
    /bad\.cam\.test, which reaches 127\.0\.0\.2, which the operator refuses/,
  );
  assert.equal(bad.pid, undefined, 'no ffmpeg was started');
  await bad.stop();

  const good = supervise(`rtsp://good.cam.test:${allowed.port}/s`);
  good.start();
  await waitFor('ffmpeg at the checked address', () => allowed.seen.some((s) => s.includes('\r\n')), 10_000);
  await good.stop();
  await allowed.close();
  // ffmpeg asked for the address that was checked, not the name it could have resolved again
  assert.match(allowed.seen[0]!, new RegExp(`^OPTIONS rtsp://127\\.0\\.0\\.3:${allowed.port}/s RTSP/1\\.0`));
  assert.deepEqual(denied.seen, [], 'nothing connected to the denied address');
});

test('credentials in a URL: refused with the fix; any query value is masked in responses, statuses, logs and metrics', async () => {
  const inQuery = await call(gw!, 'POST', '/api/streams', {
    key: WRITE,
    body: { id: `${CAM}-q`, url: `rtsp://127.0.0.1:9/s?access_token=${TOKEN}` },
  });
  assert.equal(inQuery.status, 400);
  assert.match(
    String(inQuery.json.message),
    /carries a credential in its query \("access_token"\); store it in a secret and reference it with credentials: \{ secret, queryParam: "access_token" \}/,
  );
  assert.ok(!inQuery.buf.toString().includes(TOKEN));

  // a token under a name that says nothing (t): accepted, and masked wherever the URL is shown. Port 9 on
  // loopback answers nothing, so ffmpeg fails and says so, with the URL, over and over.
  const url = `rtsp://127.0.0.1:9/s?channel=2&t=${TOKEN}`;
  const created = await call(gw!, 'POST', '/api/streams', { key: WRITE, body: { id: `${CAM}-q`, url } });
  assert.equal(created.status, 201, created.buf.toString());
  assert.equal(created.json.url, 'rtsp://127.0.0.1:9/s?channel=***&t=***');
  const shown = await call(gw!, 'GET', `/api/streams/${CAM}-q`);
  assert.equal(shown.json.url, 'rtsp://127.0.0.1:9/s?channel=***&t=***');
  // a PUT of the URL as shown keeps the stored values
  const put = await call(gw!, 'PUT', `/api/streams/${CAM}-q`, {
    key: WRITE,
    body: { ...(shown.json as object), name: 'renamed' }, // as GET gave it, status and all
  });
  assert.equal(put.status, 200, put.buf.toString());
  await waitFor(
    'ingest trying the camera',
    () =>
      topicText.some(
        (t) => t.startsWith(TOPICS.streamStatus.name) && t.includes(`${CAM}-q`) && /backoff|stalled/.test(t),
      ),
    20_000,
  );
  await sleep(2000);
  const metrics = await (await fetch(`http://127.0.0.1:${gw!.opsPort}/metrics`)).text();
  const lists = await call(gw!, 'GET', '/api/streams');
  for (const [where, text] of [
    ['statuses and other topics', topicText.join('\n')],
    ['logs', logs.join('\n')],
    ['gateway metrics', metrics],
    ['GET /api/streams', lists.buf.toString()],
  ] as const)
    assert.ok(!text.includes(TOKEN), `the token appears in ${where}`);
  assert.ok(
    logs.some((l) => l.includes(`${CAM}-q`)),
    'the camera was logged (masked)',
  );
});

test('SSE connections are capped per key and in all, with a 429 that says why', async () => {
  const open: AbortController[] = [];
  const connect = async (key: string) => {
    const ctrl = new AbortController();
    const res = await fetch(`http://127.0.0.1:${gw!.port}/events`, {
      headers: { 'x-api-key': key },
      signal: ctrl.signal,
    });
    if (res.status === 200) open.push(ctrl);
    else await res.text();
    return res;
  };
  for (let i = 0; i < 3; i++) assert.equal((await connect(READ)).status, 200);
  const fourth = await connect(READ);
  assert.equal(fourth.status, 429);
  assert.equal(fourth.headers.get('retry-after'), '30');
  const other = await connect(READ2);
  assert.equal(other.status, 200, 'another key has its own share');
  assert.equal((await connect(WRITE)).status, 200);
  const overall = await connect(READ2);
  assert.equal(overall.status, 429, 'five in all is the most');
  for (const c of open.splice(0)) c.abort();
  await waitFor('the slots back', async () => (await connect(READ)).status === 200, 5000);
  for (const c of open.splice(0)) c.abort();
});

test('smaller holes: key ≠ id and bad specs go to the DLQ, live view of a disabled camera, file modes, headers', async () => {
  await putOnTopic(`${CAM}-key`, { id: `${CAM}-other`, url: 'rtsp://127.0.0.1:9/s', enabled: false });
  await putOnTopic(`${CAM}-bad`, '{"id": 7');
  await waitFor(
    'both on the DLQ',
    () => dlq.some((d) => d.key === `${CAM}-key`) && dlq.some((d) => d.key === `${CAM}-bad`),
    20_000,
  );
  assert.match(dlq.find((d) => d.key === `${CAM}-key`)!.reason, /differs from the message key/);
  assert.match(dlq.find((d) => d.key === `${CAM}-bad`)!.reason, /not JSON/);
  const list = (await call(gw!, 'GET', '/api/streams')).json.items as { id: string }[];
  assert.ok(!list.some((s) => s.id === `${CAM}-other`), 'a spec under another key is not served');

  const off = await call(gw!, 'POST', '/api/streams', {
    key: WRITE,
    body: { id: `${CAM}-off`, url: 'rtsp://127.0.0.1:9/s', enabled: false },
  });
  assert.equal(off.status, 201);
  const live = await call(gw!, 'GET', `/api/streams/${CAM}-off/live`);
  assert.equal(live.status, 409);
  assert.match(String(live.json.message), /is disabled; enable it/);

  const db = join(dir, 'gw', 'gateway.db');
  assert.equal(statSync(db).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'gw')).mode & 0o777, 0o700);

  // only JPEGs are kept as a camera's latest frame; served with nosniff and a CSP that runs nothing
  const spec = StreamSpecSchema.parse({ id: `${CAM}-off`, url: 'rtsp://127.0.0.1:9/s' });
  await pub.publish(TOPICS.frames.name, [
    frameMessage(
      spec,
      { image: Buffer.from('<html><script>alert(1)</script>'), capturedAt: Date.now(), seq: 1, runId: 'x' },
      'fps',
    ),
  ]);
  await sleep(1500);
  assert.equal((await call(gw!, 'GET', `/api/streams/${CAM}-off/frame.jpg`)).status, 404);
  const jpeg = await sceneJpeg({ i: 1 });
  await pub.publish(TOPICS.frames.name, [
    frameMessage(spec, { image: jpeg, capturedAt: Date.now(), seq: 2, runId: 'x' }, 'fps'),
  ]);
  const frame = await waitFor(
    'the frame',
    async () => {
      const r = await call(gw!, 'GET', `/api/streams/${CAM}-off/frame.jpg`);
      return r.status === 200 ? r : undefined;
    },
    15_000,
  );
  assert.equal(frame.headers.get('x-content-type-options'), 'nosniff');
  assert.match(frame.headers.get('content-security-policy') ?? '', /default-src 'none'.*sandbox/);
});

test('every route’s real responses pass the published OpenAPI document, checked by validators we did not write', async () => {
  const doc = (await call(gw!, 'GET', '/docs/json')).json as {
    paths: Record<
      string,
      Record<
        string,
        { operationId?: string; responses: Record<string, { content?: Record<string, { schema?: object }> }> }
      >
    >;
    components: object;
    servers?: unknown[];
    info: { license?: unknown };
  };
  const verdict = await new Validator().validate(doc);
  assert.equal(verdict.valid, true, JSON.stringify(verdict.errors));
  assert.ok(doc.servers?.length && doc.info.license, 'servers and a licence');
  // Redocly's recommended rules (operationId, servers, licence, …): no error, and the only warnings are
  // the health routes' lack of a 4xx answer, which they have none of
  const file = join(dir, 'openapi.json');
  writeFileSync(file, JSON.stringify(doc));
  const lint = spawnSync(
    process.execPath,
    [join(repoRoot(), 'node_modules/@redocly/cli/bin/cli.js'), 'lint', file, '--format=json'],
    {
      encoding: 'utf8',
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    },
  );
  const report = JSON.parse(lint.stdout) as {
    totals: { errors: number };
    problems: { ruleId: string; location: { pointer: string }[] }[];
  };
  assert.equal(report.totals.errors, 0, lint.stdout);
  assert.deepEqual(
    report.problems.map((p) => `${p.ruleId} ${p.location[0]?.pointer}`),
    [
      'operation-4xx-response #/paths/~1health~1live/get/responses',
      'operation-4xx-response #/paths/~1health~1ready/get/responses',
    ],
  );

  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ $id: 'openapi', components: doc.components });
  const exercised = new Set<string>();
  const check = async (
    method: string,
    template: string,
    path: string,
    opts: Parameters<typeof call>[3] = {},
  ) => {
    const r = await call(gw!, method, path, opts);
    const op = doc.paths[template]?.[method.toLowerCase()];
    assert.ok(op, `${method} ${template} is in the document`);
    assert.ok(op.operationId, `${method} ${template} has an operationId`);
    const answer = op.responses[String(r.status)];
    assert.ok(answer, `${method} ${path} answered ${r.status}, which the document does not list`);
    const type = r.headers.get('content-type')?.split(';')[0] ?? '';
    if (type === 'application/json') {
      const schema = answer.content?.['application/json']?.schema;
      assert.ok(schema, `${method} ${template} ${r.status} documents its JSON`);
      const validate = ajv.compile(
        JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"openapi#/components/')) as object,
      );
      assert.ok(
        validate(r.json),
        `${method} ${path} ${r.status}: ${ajv.errorsText(validate.errors)}\n${r.buf.toString().slice(0, 400)}`,
      );
    } else if (r.status !== 204)
      assert.ok(answer.content?.[type], `${method} ${template} ${r.status} documents ${type}`);
    exercised.add(`${method.toLowerCase()} ${template}`);
    return r;
  };

  // data for every route: a camera with a frame, a status, scores with objects, an event, a summary
  const id = `${CAM}`;
  const spec = {
    id,
    url: 'rtsp://127.0.0.1:9/s',
    analysis: {
      zones: [
        {
          name: 'door',
          polygon: [
            [0, 0],
            [0.5, 0],
            [0.5, 0.5],
          ],
          forbidden: true,
        },
      ],
    },
  };
  await check('POST', '/api/streams', '/api/streams', { key: WRITE, body: spec });
  await check('POST', '/api/streams', '/api/streams', { key: WRITE, body: spec }); // 409
  await check('POST', '/api/streams', '/api/streams', { key: WRITE, body: { id: 'Bad Id', url: 7 } }); // 400
  await check('POST', '/api/streams', '/api/streams', { key: READ, body: spec }); // 403
  await check('POST', '/api/streams', '/api/streams', { key: null, body: spec }); // 401
  const now = Date.now();
  const parsed = StreamSpecSchema.parse(spec);
  const evidence = await sharp(await sceneJpeg({ i: 2 }))
    .resize(160, 90)
    .jpeg({ quality: 60 })
    .toBuffer();
  const event: AnomalyEvent = {
    eventId: anomalyEventId(id, 'lens_covered', iso(now - 5000)),
    streamId: id,
    phase: 'start',
    kind: 'lens_covered',
    severity: 'critical',
    score: 3,
    peakScore: 3,
    startedAt: iso(now - 5000),
    observedAt: iso(now - 5000),
    description: 'the lens is covered',
    evidence: { mime: 'image/jpeg', base64: evidence.toString('base64') },
  };
  await pub.publish(TOPICS.anomalies.name, [message(CE_TYPES.anomaly, event)]);
  await publishSummaries([summary(id, now, 'someone covered the lens of the camera')]);
  await pub.publish(TOPICS.frames.name, [
    frameMessage(parsed, { image: evidence, capturedAt: now, seq: 1, runId: 'r' }, 'fps'),
  ]);
  await pub.publish(TOPICS.streamStatus.name, [
    statusMessage({
      streamId: id,
      state: 'running',
      online: true,
      health: 'online',
      at: iso(now),
      fpsIn: 2,
      fpsOut: 2,
      framesOut: 40,
      drops: 0,
      restarts: 0,
      lastFrameAt: iso(now),
      lastFrameAgeS: 0.2,
      lastError: null,
    }),
  ]);
  await pub.publish(TOPICS.scores.name, [
    message(CE_TYPES.score, {
      streamId: id,
      capturedAt: iso(now),
      learning: false,
      score: 0.4,
      novelFraction: 0,
      objects: [
        { trackId: '3', label: 'person', score: 0.8, box: { x: 0.1, y: 0.1, w: 0.2, h: 0.4 }, dwellS: 2 },
      ],
    } as { streamId: string }),
  ]);
  await waitFor(
    'the event stored',
    async () => (await call(gw!, 'GET', `/api/anomalies/${event.eventId}`)).status === 200,
    15_000,
  ).catch((err: Error) => {
    throw new Error(
      `${err.message}; set aside: ${JSON.stringify(dlq.slice(-3))}; ${logs
        .filter((l) => /warn|error/i.test(l))
        .slice(-5)
        .join(' | ')}`,
    );
  });
  await waitFor(
    'the frame',
    async () => (await call(gw!, 'GET', `/api/streams/${id}/frame.jpg`)).status === 200,
    15_000,
  );
  await waitFor(
    'the status',
    async () => (await call(gw!, 'GET', `/api/streams/${id}`)).json.status !== null,
    15_000,
  );

  await check('GET', '/api/streams', '/api/streams');
  await check('GET', '/api/streams/{id}', `/api/streams/${id}`);
  await check('GET', '/api/streams/{id}', '/api/streams/nobody-here');
  await check('GET', '/api/streams/{id}', '/api/streams/NOT%20AN%20ID');
  await check('PUT', '/api/streams/{id}', `/api/streams/${id}`, {
    key: WRITE,
    body: { ...spec, name: 'Gate' },
  });
  await check('POST', '/api/streams/{id}/summarize', `/api/streams/${id}/summarize`, {
    key: WRITE,
    body: { reason: 'check' },
  });
  await check('GET', '/api/streams/{id}/frame.jpg', `/api/streams/${id}/frame.jpg`);
  // the frame the boxes of /objects were found in, by its capture time
  const objects = await check('GET', '/api/streams/{id}/objects', `/api/streams/${id}/objects`);
  const at = await check(
    'GET',
    '/api/streams/{id}/frame.jpg',
    `/api/streams/${id}/frame.jpg?at=${encodeURIComponent(String(objects.json.capturedAt))}`,
  );
  assert.equal(at.status, 200);
  assert.equal(
    Date.parse(at.headers.get('x-captured-at') ?? ''),
    Date.parse(String(objects.json.capturedAt)),
  );
  assert.equal(
    (
      await check(
        'GET',
        '/api/streams/{id}/frame.jpg',
        `/api/streams/${id}/frame.jpg?at=${iso(now - 3_600_000)}`,
      )
    ).status,
    404,
  );
  assert.equal(
    (await check('GET', '/api/streams/{id}/frame.jpg', `/api/streams/${id}/frame.jpg?at=soon`)).status,
    400,
  );
  await check('GET', '/api/streams/{id}/objects', `/api/streams/${id}/objects`);
  await check('GET', '/api/streams/{id}/live', `/api/streams/${id}/live`);
  await check('GET', '/api/streams/{id}/live', `/api/streams/${CAM}-off/live`); // 409
  await check('GET', '/api/streams/{id}/scores', `/api/streams/${id}/scores`);
  await check('GET', '/api/anomalies', `/api/anomalies?streamId=${id}`);
  await check('GET', '/api/anomalies', '/api/anomalies?limit=nine');
  await check('GET', '/api/anomalies/{eventId}', `/api/anomalies/${event.eventId}`);
  await check('GET', '/api/anomalies/{eventId}', `/api/anomalies/${randomUUID()}`);
  await check('GET', '/api/anomalies/{eventId}/evidence.jpg', `/api/anomalies/${event.eventId}/evidence.jpg`);
  await check('GET', '/api/summaries', `/api/summaries?streamId=${id}`);
  await waitFor(
    'the summary indexed',
    async () =>
      (((await call(gw!, 'GET', `/api/search?q=lens&stream=${id}`)).json.hits as unknown[]) ?? []).length > 0,
    20_000,
  );
  await check(
    'GET',
    '/api/search',
    `/api/search?q=${encodeURIComponent('who covered the lens')}&stream=${id}`,
  );
  await check('GET', '/api/search', '/api/search');
  await check('POST', '/api/ask', '/api/ask', { body: { question: 'who covered the lens?', streams: [id] } });
  await check('POST', '/api/ask', '/api/ask', { body: { question: 7 } });
  await check('GET', '/health/live', '/health/live', { key: null });
  await check('GET', '/health/ready', '/health/ready', { key: null });
  const sse = new AbortController();
  const res = await fetch(`http://127.0.0.1:${gw!.port}/events`, {
    headers: { 'x-api-key': READ },
    signal: sse.signal,
  });
  assert.equal(res.status, 200);
  // what it sends is what the document says: a stream change, a summary and an anomaly update
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  await check('PUT', '/api/streams/{id}', `/api/streams/${id}`, {
    key: WRITE,
    body: { ...spec, name: 'Gate 2' },
  });
  await publishSummaries([summary(id, now + 10_000)]);
  await pub.publish(TOPICS.anomalies.name, [
    message(CE_TYPES.anomaly, {
      ...event,
      phase: 'update',
      observedAt: iso(now - 1000),
      evidence: undefined,
    } as AnomalyEvent),
  ]);
  while (!['stream', 'summary', 'anomaly'].every((t) => text.includes(`event: ${t}\n`)))
    text += (await reader.read()).value ?? '';
  sse.abort();
  const sseSchema = JSON.stringify(
    doc.paths['/events']?.get?.responses['200']?.content?.['text/event-stream']?.schema,
  );
  const validateSse = ajv.compile(
    JSON.parse(sseSchema.replaceAll('"#/components/', '"openapi#/components/')) as object,
  );
  for (const m of text.matchAll(/^event: (\w+)\ndata: (.*)$/gm)) {
    assert.ok(validateSse(JSON.parse(m[2]!)), `${m[1]}: ${ajv.errorsText(validateSse.errors)}`);
  }
  exercised.add('get /events');
  await check('DELETE', '/api/streams/{id}', `/api/streams/${id}`, { key: WRITE });
  await check('DELETE', '/api/streams/{id}', `/api/streams/${id}`, { key: WRITE }); // 404

  const all = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`));
  assert.deepEqual(
    all.filter((o) => !exercised.has(o)),
    [],
    'every operation was called',
  );
});

test('an SSE client that reconnects with Last-Event-ID, to another replica or after a restart, misses nothing', async () => {
  const stream = `${CAM}-sse`;
  const replicaB = await startGateway(
    loadGatewayConfig(env({ VIGIL_GATEWAY_DB: join(dir, 'gw-b', 'gateway.db') })),
    log,
  );
  let target: RunningGateway = gw!;
  const received: { id: string; summaryId: string; lastEventId: string }[] = [];
  const resets: string[] = [];
  // a load balancer in front of the replicas: whichever `target` is now
  const es = new EventSource(`http://gateway.invalid/events?types=summary&streamId=${stream}`, {
    fetch: (input, init) =>
      fetch(String(input).replace('http://gateway.invalid', `http://127.0.0.1:${target.port}`), {
        ...init,
        headers: { ...(init?.headers as Record<string, string>), 'x-api-key': READ },
      }),
  });
  es.addEventListener('summary', (e: { data: string; lastEventId: string }) => {
    const s = JSON.parse(e.data) as Summary;
    received.push({ id: s.summaryId, summaryId: s.summaryId, lastEventId: e.lastEventId });
  });
  es.addEventListener('reset', (e: { data: string; lastEventId: string }) => resets.push(e.data));
  try {
    await waitFor('connected', () => es.readyState === EventSource.OPEN, 10_000);
    const t0 = Date.now() + 3_600_000;
    const batch = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => summary(stream, t0 + (from + i) * 10_000));
    const sent: Summary[] = [];
    const send = async (ss: Summary[]) => {
      sent.push(...ss);
      await publishSummaries(ss);
    };
    await send(batch(0, 5));
    await waitFor('the first five', () => received.length === 5, 15_000);
    assert.ok(
      received.every((r) => r.lastEventId.startsWith('v1.')),
      'every event has an id',
    );

    // replica A goes away while more is published; the client comes back through replica B
    target = replicaB;
    await gw!.close();
    gw = undefined;
    await send(batch(5, 5));
    await waitFor('all ten through replica B', () => received.length >= 10, 30_000);

    // replica B restarts (same file) while more is published; the client resumes from the restarted B
    await replicaB.close();
    await send(batch(10, 4));
    const restarted = await startGateway(
      loadGatewayConfig(env({ VIGIL_GATEWAY_DB: join(dir, 'gw-b', 'gateway.db') })),
      log,
    );
    target = restarted;
    gw = restarted;
    await waitFor('all fourteen after the restart', () => received.length >= 14, 30_000);
    await sleep(1000);
    assert.deepEqual(
      received.map((r) => r.summaryId),
      sent.map((s) => s.summaryId),
      'every summary once, in order',
    );
    assert.deepEqual(resets, []);

    // an id from before what the journal keeps gets an explicit reset
    const small = await startGateway(
      loadGatewayConfig(
        env({ VIGIL_GATEWAY_DB: join(dir, 'gw-c', 'gateway.db'), VIGIL_GATEWAY_SSE_JOURNAL: '100' }),
      ),
      log,
    );
    try {
      await waitFor(
        'replica C caught up',
        async () =>
          ((await call(small, 'GET', `/api/summaries?streamId=${stream}`)).json.items as unknown[]).length ===
          14,
        30_000,
      );
      const oldId = received[0]!.lastEventId;
      await send(batch(14, 160));
      await waitFor(
        'replica C stored them',
        async () =>
          ((await call(small, 'GET', `/api/summaries?streamId=${stream}&limit=200`)).json.items as unknown[])
            .length === 174,
        30_000,
      );
      const ctrl = new AbortController();
      const r = await fetch(`http://127.0.0.1:${small.port}/events?types=summary`, {
        headers: { 'x-api-key': READ, 'last-event-id': oldId },
        signal: ctrl.signal,
      });
      const reader = r.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = '';
      while (!text.includes('event: reset')) text += (await reader.read()).value ?? '';
      ctrl.abort();
      assert.match(
        text,
        /id: v1\.[^\n]*\nevent: reset\ndata: \{"reason":"events after Last-Event-ID are no longer kept/,
      );
    } finally {
      await small.close();
    }
  } finally {
    es.close();
  }
});
