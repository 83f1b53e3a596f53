import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt, randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type AnomalyEvent,
  CE_TYPES,
  type Summary,
  TOPICS,
  anomalyEventId,
  summaryId,
} from '@vigil/contracts';
import { loadGatewayConfig } from '@vigil/config';
import { KafkaPublisher, createKafka, jsonMessage } from '@vigil/kafka';
import { Logger } from '@vigil/observability';
import { FakeChatServer, freePort, repoRoot, testDir, useTestKafka, waitFor } from '@vigil/testing';
import { type RunningGateway, startGateway } from '../../apps/gateway/src/main.js';

// Search and ask over a stored history, with the real all-MiniLM-L6-v2 embeddings: summaries and events go
// through a real broker into the gateway, which embeds them as it stores them; GET /api/search ranks them
// by meaning, POST /api/ask hands the retrieved records to a model server speaking the chat protocol (the
// fake one: no model runs here) and returns the ids it cited.

const run = randomUUID().slice(0, 6);
const log = new Logger('search-test', { level: 'error' });
const READ = `read-${randomUUID()}`;
const WRITE = `write-${randomUUID()}`;
const GATE = `gate-${run}`;
const LINE = `line-${run}`;
const YARD = `yard-${run}`;
const T0 = Date.UTC(2021, 0, 1) + randomInt(0, 1_000_000) * 10_000_000;
const iso = (ms: number) => new Date(ms).toISOString();

let broker: Awaited<ReturnType<typeof useTestKafka>>;
let pub: KafkaPublisher;
let gw: RunningGateway | undefined;
let chat: FakeChatServer;
let dir: string;

const summary = (stream: string, minute: number, text: string): Summary => ({
  summaryId: summaryId(stream, 'window', iso(T0 + minute * 60_000)),
  streamId: stream,
  level: 'window',
  trigger: 'cadence',
  windowStart: iso(T0 + minute * 60_000),
  windowEnd: iso(T0 + minute * 60_000 + 30_000),
  text,
  findings: [],
  eventIds: [],
  decoder: { type: 'grounded', fallback: false },
  stats: { frames: 30, meanChange: 0.02, maxChange: 0.05, anomalies: 0 },
  createdAt: iso(T0 + minute * 60_000 + 31_000),
});

// the history: one summary tells of a parked vehicle by the gate; the rest are about other things
const VAN = summary(
  GATE,
  42,
  'A grey van pulled up by the gate and parked there; it stayed for ten minutes.',
);
const HISTORY: Summary[] = [
  VAN,
  summary(GATE, 10, 'Two people walked through the gate from left to right.'),
  summary(GATE, 80, 'The gate was closed and nobody was about; light rain.'),
  summary(LINE, 12, 'The conveyor belt on line 2 ran steadily; a worker checked the boxes.'),
  summary(LINE, 43, 'The conveyor belt stopped; the worker left the line.'),
  summary(LINE, 90, 'Boxes moved along the belt at the usual pace.'),
  summary(YARD, 5, 'A person crossed the courtyard, then another sat on the bench.'),
  summary(YARD, 44, 'Pigeons on the lawn; a cyclist rode along the path.'),
  summary(YARD, 70, 'The courtyard was empty; shadows moved as clouds passed.'),
  summary(YARD, 95, 'A forklift carried a pallet of crates across the yard.'),
];
const COVERED: AnomalyEvent = {
  eventId: anomalyEventId(LINE, 'lens_covered', iso(T0 + 50 * 60_000)),
  streamId: LINE,
  phase: 'start',
  kind: 'lens_covered',
  severity: 'critical',
  score: 3,
  peakScore: 3,
  startedAt: iso(T0 + 50 * 60_000),
  observedAt: iso(T0 + 50 * 60_000),
  description: 'The lens is covered: the picture went dark and lost its usual layout.',
  evidence: { mime: 'image/jpeg', base64: Buffer.from('jpeg-covered').toString('base64') },
};

const base = () => `http://127.0.0.1:${gw!.port}`;
async function call(
  method: 'GET' | 'POST',
  path: string,
  opts: { key?: string | null; body?: unknown } = {},
) {
  const headers: Record<string, string> = {};
  const key = opts.key === undefined ? READ : opts.key;
  if (key) headers['x-api-key'] = key;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base() + path, {
    method,
    headers,
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: JSON.parse(text) as Record<string, unknown>, text };
}

interface Hit {
  id: string;
  type: string;
  streamId: string;
  text: string;
  score: number;
  evidenceUrl: string | null;
  kind?: string;
}
const search = async (qs: string) => {
  const r = await call('GET', `/api/search?${qs}`);
  assert.equal(r.status, 200, r.text);
  return r.json as unknown as { hits: Hit[]; indexed: number; pending: number };
};

const env = () => ({
  VIGIL_KAFKA_BROKERS: broker.brokers.join(','),
  VIGIL_LOG_LEVEL: 'error',
  VIGIL_GATEWAY_PORT: '0',
  VIGIL_GATEWAY_HTTP_PORT: '0',
  VIGIL_GATEWAY_HOST: '127.0.0.1',
  VIGIL_GATEWAY_API_KEYS_FILE: join(dir, 'keys'),
  VIGIL_GATEWAY_DB: join(dir, 'gateway.db'),
  VIGIL_ASK_URL: chat.url,
  VIGIL_ASK_MODEL: 'Qwen/Qwen3-30B-A3B-Instruct-2507',
  VIGIL_ASK_TIMEOUT_MS: '3000',
});

before(async () => {
  broker = await useTestKafka();
  dir = testDir('search');
  writeFileSync(join(dir, 'keys'), `write ${WRITE}\nread ${READ}\n`);
  chat = new FakeChatServer();
  await chat.start();
  const conn = { brokers: broker.brokers, clientId: 'search-test', connectTimeoutMs: 3000 };
  pub = new KafkaPublisher(createKafka(conn, log), conn);
  await pub.connect();
  gw = await startGateway(loadGatewayConfig(env()), log);
  const msg = (type: string, value: { streamId: string }) =>
    jsonMessage(value, { type, source: 'urn:vigil:test', id: randomUUID(), time: new Date().toISOString() });
  await pub.publish(
    TOPICS.summaries.name,
    HISTORY.map((s) => msg(CE_TYPES.summary, s)),
  );
  await pub.publish(TOPICS.anomalies.name, [msg(CE_TYPES.anomaly, COVERED)]);
  // stored, then embedded in the background: all of this run's rows are found once nothing is pending
  await waitFor(
    'the history stored and embedded',
    async () => {
      const r = await search(`q=anything&stream=${GATE},${LINE},${YARD}&limit=50`);
      return r.pending === 0 && r.hits.length === HISTORY.length + 1;
    },
    60_000,
  );
});

after(async () => {
  await gw?.close();
  await chat?.stop();
  await pub?.disconnect();
  await broker?.stop();
});

const mine = `stream=${GATE},${LINE},${YARD}`;

test('"a car by the gate" ranks the summary of the parked van first, above every unrelated one', async () => {
  const { hits } = await search(`q=${encodeURIComponent('a car by the gate')}&${mine}&limit=50`);
  assert.equal(hits[0]!.id, VAN.summaryId, hits.map((h) => `${h.score} ${h.text}`).join('\n'));
  assert.equal(hits[0]!.type, 'summary');
  assert.equal(hits[0]!.streamId, GATE);
  console.log(hits.map((h) => `${h.score.toFixed(3)} ${h.text}`).join('\n'));
  // best first; the next ones share a word (the gate), the unrelated ones (belt, courtyard) are far below
  for (let i = 1; i < hits.length; i++) assert.ok(hits[i - 1]!.score >= hits[i]!.score);
  for (const h of hits.filter((x) => x.streamId !== GATE))
    assert.ok(hits[0]!.score > h.score + 0.15, `van ${hits[0]!.score}, "${h.text}" ${h.score}`);
});

test('other questions find their own records: a stopped belt, a covered camera (with its picture)', async () => {
  const belt = await search(`q=${encodeURIComponent('when did the belt stop on line 2?')}&${mine}`);
  assert.match(belt.hits[0]!.text, /conveyor belt stopped/);
  const lens = await search(`q=${encodeURIComponent('someone blocked the camera')}&${mine}`);
  assert.equal(lens.hits[0]!.id, COVERED.eventId);
  assert.equal(lens.hits[0]!.type, 'event');
  assert.equal(lens.hits[0]!.kind, 'lens_covered');
  assert.equal(lens.hits[0]!.evidenceUrl, `/api/anomalies/${COVERED.eventId}/evidence.jpg`);
});

test('camera and time filters: the van is not found on other cameras or outside its time', async () => {
  const q = `q=${encodeURIComponent('a car by the gate')}`;
  const others = await search(`${q}&stream=${LINE},${YARD}`);
  assert.ok(others.hits.length > 0);
  assert.ok(others.hits.every((h) => h.streamId === LINE || h.streamId === YARD));
  const before = await search(`${q}&${mine}&to=${iso(T0 + 40 * 60_000)}`);
  assert.ok(!before.hits.some((h) => h.id === VAN.summaryId));
  const during = await search(`${q}&${mine}&from=${iso(T0 + 40 * 60_000)}&to=${T0 + 45 * 60_000}`);
  assert.deepEqual(
    during.hits.map((h) => h.id).sort(),
    [VAN.summaryId, HISTORY[4]!.summaryId, HISTORY[7]!.summaryId].sort(),
  );
});

test('ask: the model gets the retrieved records and the question; the answer cites only ids it was given', async () => {
  chat.mode = 'ok';
  chat.answer = (userText: string) => {
    const van = /\[([0-9a-f-]{36})\][^\n]*grey van/.exec(userText)?.[1];
    return {
      answer: 'A grey van parked by the gate at 00:42 and stayed ten minutes.',
      cited: [van, 'made-up-id'],
    };
  };
  const seen = chat.requests.length;
  const r = await call('POST', '/api/ask', {
    body: { question: 'When was a car by the gate?', streams: [GATE, LINE, YARD], limit: 4 },
  });
  assert.equal(r.status, 200, r.text);
  const a = r.json as { answer: string; cited: string[]; hits: Hit[]; answeredBy: string; model: string };
  assert.equal(a.answeredBy, 'model');
  assert.equal(a.model, 'Qwen/Qwen3-30B-A3B-Instruct-2507');
  assert.match(a.answer, /grey van/);
  assert.deepEqual(a.cited, [VAN.summaryId]);
  assert.equal(a.hits.length, 4);
  // what the server got: the question and the records with their ids, asking for {answer, cited}
  assert.equal(chat.requests.length, seen + 1);
  const req = chat.requests.at(-1)!.body as {
    model: string;
    messages: { role: string; content: string }[];
    response_format: { json_schema: { schema: { required: string[] } } };
  };
  assert.equal(req.model, 'Qwen/Qwen3-30B-A3B-Instruct-2507');
  const user = req.messages.find((m) => m.role === 'user')!.content;
  assert.match(user, /Question: When was a car by the gate\?/);
  assert.ok(user.includes(`[${VAN.summaryId}] camera ${GATE}`), user);
  assert.ok(user.includes(VAN.text));
  assert.equal(user.split('\n').filter((l) => l.startsWith('[')).length, 4);
  assert.deepEqual(req.response_format.json_schema.schema.required.sort(), ['answer', 'cited']);
});

test('ask: when the model server fails, the answer is the ranked hits, and says why', async () => {
  chat.mode = '500';
  const r = await call('POST', '/api/ask', {
    body: { question: 'a car by the gate', streams: [GATE, LINE, YARD] },
  });
  chat.mode = 'ok';
  assert.equal(r.status, 200, r.text);
  const a = r.json as { answer: string; cited: string[]; hits: Hit[]; answeredBy: string; fallback: string };
  assert.equal(a.answeredBy, 'hits');
  assert.match(a.fallback, /HTTP 500/);
  assert.equal(a.cited[0], VAN.summaryId);
  assert.match(a.answer, /^The closest records to "a car by the gate", best first:\n1\. .*grey van/);
  // a server that never answers: the ranked hits after the time limit, which the answer names
  chat.mode = 'hang';
  const slow = await call('POST', '/api/ask', { body: { question: 'a car by the gate', streams: [GATE] } });
  chat.mode = 'ok';
  assert.equal(slow.status, 200, slow.text);
  const b = slow.json as { answeredBy: string; fallback: string; cited: string[] };
  assert.equal(b.answeredBy, 'hits');
  assert.equal(b.fallback, 'no answer within 3000 ms');
  assert.equal(b.cited[0], VAN.summaryId);
});

test('bad input gets a 400 that names the field; no key gets a 401; a read key may ask', async () => {
  const bad: [string, string, unknown, RegExp][] = [
    ['GET', '/api/search', undefined, /query\.q: /],
    ['GET', '/api/search?q=', undefined, /query\.q: must not be empty/],
    ['GET', '/api/search?q=%20%20', undefined, /query\.q: must not be empty/],
    ['GET', `/api/search?q=${'a'.repeat(1001)}`, undefined, /query\.q: must be at most 1000 characters/],
    ['GET', '/api/search?q=van&from=yesterday', undefined, /query\.from: must be an RFC 3339 time/],
    ['GET', `/api/search?q=van&from=${T0 + 1000}&to=${T0}`, undefined, /query\.to: must be later than from/],
    ['GET', '/api/search?q=van&stream=NOT%20A%20CAMERA', undefined, /query\.stream/],
    ['GET', '/api/search?q=van&limit=500', undefined, /query\.limit: must be at most 50/],
    ['GET', '/api/search?q=van&sort=new', undefined, /sort/],
    ['POST', '/api/ask', {}, /body\.question: /],
    ['POST', '/api/ask', { question: 5 }, /body\.question: must be text/],
    ['POST', '/api/ask', { question: '' }, /body\.question: must not be empty/],
    ['POST', '/api/ask', { question: 'x'.repeat(5000) }, /body\.question: must be at most 1000/],
    ['POST', '/api/ask', { question: 'van', from: 'last tuesday' }, /body\.from: must be an RFC 3339 time/],
    ['POST', '/api/ask', { question: 'van', streams: 'gate' }, /body\.streams: /],
    ['POST', '/api/ask', { question: 'van', limit: 0 }, /body\.limit: /],
  ];
  for (const [method, path, body, want] of bad) {
    const r = await call(method as 'GET' | 'POST', path, { body });
    assert.equal(r.status, 400, `${method} ${path} ${JSON.stringify(body)}: ${r.text.slice(0, 200)}`);
    assert.match(String(r.json.message), want, `${method} ${path} ${JSON.stringify(body)}`);
  }
  for (const [method, path] of [
    ['GET', '/api/search?q=van'],
    ['POST', '/api/ask'],
  ] as const) {
    const r = await call(method, path, {
      key: null,
      body: method === 'POST' ? { question: 'van' } : undefined,
    });
    assert.equal(r.status, 401, `${method} ${path}`);
  }
  const r = await call('POST', '/api/ask', { key: READ, body: { question: 'a van', streams: [GATE] } });
  assert.equal(r.status, 200, r.text);
});

test('vigil ask: the answer and the records it cites; a missing key and a gateway that is not there are said plainly', async () => {
  chat.mode = 'ok';
  // asynchronously: the gateway answering it runs in this process
  const vigil = (args: string[], extra: Record<string, string> = {}) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [join(repoRoot(), 'bin/vigil.js'), 'ask', ...args],
        {
          env: { PATH: process.env.PATH, VIGIL_DATA_DIR: join(dir, 'no-such-dir'), ...extra },
          timeout: 60_000,
        },
        (err, stdout, stderr) =>
          resolve({ status: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
      );
    });
  const ok = await vigil(
    ['When', 'was', 'a', 'car', 'by', 'the', 'gate?', '--streams', `${GATE},${LINE},${YARD}`],
    {
      VIGIL_API_KEY: READ,
      VIGIL_GATEWAY_URL: base(),
    },
  );
  assert.equal(ok.status, 0, ok.stderr);
  const lines = ok.stdout.trim().split('\n');
  assert.match(lines[0]!, /grey van parked by the gate/);
  assert.match(ok.stdout, /answered by Qwen\/Qwen3-30B-A3B-Instruct-2507/);
  // the cited record: its time, camera, kind and text
  assert.ok(
    lines.some((l) => l.includes(GATE) && l.includes('window summary') && l.includes(VAN.text)),
    ok.stdout,
  );
  const json = await vigil(['a car by the gate', '--json', '--limit', '3', '--streams', GATE], {
    VIGIL_API_KEY: READ,
    VIGIL_GATEWAY_URL: base(),
  });
  assert.equal(json.status, 0, json.stderr);
  assert.equal((JSON.parse(json.stdout) as { hits: unknown[] }).hits.length, 3);
  const noKey = await vigil(['a car'], { VIGIL_GATEWAY_URL: base() });
  assert.equal(noKey.status, 2);
  assert.match(noKey.stderr, /^vigil: vigil ask needs an API key of the gateway: set VIGIL_API_KEY/);
  const badKey = await vigil(['a car'], { VIGIL_GATEWAY_URL: base(), VIGIL_API_KEY: 'x'.repeat(30) });
  assert.equal(badKey.status, 2);
  assert.match(badKey.stderr, /the gateway refused the key \(the API key is not valid\)/);
  const bad = await vigil(['a car', '--from', 'last tuesday'], {
    VIGIL_GATEWAY_URL: base(),
    VIGIL_API_KEY: READ,
  });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /the gateway refused the question: body\.from: must be an RFC 3339 time/);
  const port = await freePort();
  const away = await vigil(['a car'], { VIGIL_GATEWAY_URL: `http://127.0.0.1:${port}`, VIGIL_API_KEY: READ });
  assert.equal(away.status, 1);
  assert.match(
    away.stderr,
    new RegExp(`cannot reach the gateway at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`),
  );
  assert.ok(
    ![ok, json, noKey, badKey, bad, away].some((r) => r.stdout.includes(READ) || r.stderr.includes(READ)),
  );
});

test('after a restart the index is rebuilt from the file: the van is found at once, nothing re-embedded', async () => {
  await gw!.close();
  gw = await startGateway(loadGatewayConfig(env()), log);
  const r = await search(`q=${encodeURIComponent('a parked vehicle')}&${mine}`);
  assert.equal(r.pending, 0);
  assert.equal(r.hits[0]!.id, VAN.summaryId);
});
