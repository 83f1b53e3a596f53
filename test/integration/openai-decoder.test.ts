import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import {
  type DecodeRequest,
  type DecoderError,
  GroundedDecoder,
  OpenAiDecoder,
  ResilientDecoder,
} from '@vigil/decoders';
import { FakeChatServer } from '@vigil/testing';

// The `openai` backend against a local server that speaks the chat-completions protocol (plain and
// streamed) and checks each request's shape; and the resilience around it: time limit, retries, circuit
// breaker, grounded fallback, one narration per window whatever the server does.

const ANSWER = { summary: 'A forklift crosses the dock; nothing unusual.', findings: [] };
const server = new FakeChatServer(ANSWER);
const requests = server.requests;

let baseUrl = '';
let request: DecodeRequest;

before(async () => {
  await server.start();
  baseUrl = server.url;
  const jpeg = await sharp({ create: { width: 64, height: 36, channels: 3, background: 'gray' } })
    .jpeg()
    .toBuffer();
  const start = Date.parse('2026-11-29T10:00:00Z');
  request = {
    streamId: 'dock-3',
    streamName: 'Dock 3',
    context: 'a loading dock; forklifts move all day',
    window: {
      start,
      end: start + 10_000,
      samples: [{ at: start + 1000, change: 0.1 }],
      anomalies: [{ at: start + 4000, kind: 'object_appeared', score: 1.7 }],
      trigger: 'cadence',
      frames: [
        { at: start + 1000, until: start + 1000, merged: 0, jpeg },
        { at: start + 6000, until: start + 6000, merged: 0, jpeg },
      ],
      merged: 0,
      dropped: 0,
    },
  };
});
after(async () => {
  await server.stop();
});

const openai = (extra: Partial<ConstructorParameters<typeof OpenAiDecoder>[0]> = {}) =>
  new OpenAiDecoder({ baseUrl, model: 'Qwen/Qwen3-VL-30B-A3B-Instruct', apiKey: 'k-123', ...extra });

test('a window goes out as a chat completion with its frames, context and JSON schema; the answer comes back', async () => {
  server.mode = 'ok';
  requests.length = 0;
  const r = await openai().decode(request);
  const { tokens, ...rest } = r;
  assert.deepEqual(rest, {
    ...ANSWER,
    decoder: { type: 'openai', model: 'Qwen/Qwen3-VL-30B-A3B-Instruct', fallback: false },
  });
  // the server's usage counts come back with the result
  assert.ok(tokens && tokens.prompt > 100 && tokens.completion > 5, JSON.stringify(tokens));
  const q = requests[0]!;
  assert.equal(q.path, '/v1/chat/completions');
  assert.equal(q.auth, 'Bearer k-123');
  assert.equal(q.body.model, 'Qwen/Qwen3-VL-30B-A3B-Instruct');
  const user = (
    q.body.messages as {
      role: string;
      content: { type: string; text?: string; image_url?: { url: string } }[];
    }[]
  )[1]!;
  assert.equal(user.role, 'user');
  assert.match(
    user.content[0]!.text!,
    /Dock 3 \(dock-3\)[\s\S]*What is normal here: a loading dock[\s\S]*object_appeared at 10:00:04/,
  );
  const images = user.content.filter((c) => c.type === 'image_url');
  assert.equal(images.length, 2);
  assert.match(images[0]!.image_url!.url, /^data:image\/jpeg;base64,\/9j\//);
  const format = q.body.response_format as { type: string; json_schema: { schema: { required: string[] } } };
  assert.equal(format.type, 'json_schema');
  assert.deepEqual(format.json_schema.schema.required.sort(), ['findings', 'summary']);
});

test('a streamed answer is assembled from its server-sent events', async () => {
  server.mode = 'stream';
  const r = await openai({ stream: true }).decode(request);
  assert.equal(r.summary, ANSWER.summary);
  // usage asked for with stream_options and read from the last chunk
  assert.deepEqual(requests.at(-1)!.body.stream_options, { include_usage: true });
  assert.ok(r.tokens && r.tokens.completion > 5, JSON.stringify(r.tokens));
});

test('errors say what went wrong and whether another try makes sense', async () => {
  server.mode = 'garbage';
  await assert.rejects(
    openai().decode(request),
    (e: DecoderError) => !e.retriable && /is not JSON/.test(e.message),
  );
  server.mode = 'schema';
  await assert.rejects(
    openai().decode(request),
    (e: DecoderError) => !e.retriable && /does not match its schema/.test(e.message),
  );
  server.mode = '500';
  await assert.rejects(
    openai().decode(request),
    (e: DecoderError) => e.retriable && /HTTP 500/.test(e.message),
  );
  await assert.rejects(
    new OpenAiDecoder({ baseUrl: 'http://127.0.0.1:9', model: 'm' }).decode(request),
    (e: DecoderError) => e.retriable && /cannot reach the decoder at http:\/\/127\.0\.0\.1:9/.test(e.message),
  );
  assert.throws(() => new OpenAiDecoder({ baseUrl: 'file:///etc', model: 'm' }), /must be http or https/);
});

const resilient = (primary = openai()) =>
  new ResilientDecoder(primary, new GroundedDecoder(), {
    timeoutMs: 300,
    retries: 1,
    backoffMs: 50,
    breaker: { failureThreshold: 3, openMs: 800 },
  });

test('429 with Retry-After is retried after the wait and succeeds', async () => {
  server.mode = '429-once';
  server.resetRateLimit();
  requests.length = 0;
  const d = new ResilientDecoder(openai(), new GroundedDecoder(), {
    timeoutMs: 2000,
    retries: 2,
    backoffMs: 50,
    breaker: { failureThreshold: 3, openMs: 1000 },
  });
  const t0 = Date.now();
  const r = await d.decode(request);
  assert.equal(r.decoder.fallback, false);
  assert.equal(requests.length, 2);
  assert.ok(Date.now() - t0 >= 950, `waited ${Date.now() - t0} ms`);
});

test('hanging, garbage or down: every window is narrated once by grounded, marked as a fallback', async () => {
  for (const m of ['hang', 'garbage'] as const) {
    server.mode = m;
    const d = resilient();
    const r = await d.decode(request);
    assert.equal(r.decoder.fallback, true, m);
    assert.equal(r.decoder.type, 'grounded');
    assert.match(r.summary, /^Dock 3 \(dock-3\), 10:00:00–10:00:10 UTC/);
    assert.equal(d.fallbacks, 1);
  }
  const down = resilient(new OpenAiDecoder({ baseUrl: 'http://127.0.0.1:9', model: 'm' }));
  assert.equal((await down.decode(request)).decoder.fallback, true);
});

test('the breaker opens after repeated failures (the server is spared), then a trial closes it again', async () => {
  server.mode = '500';
  requests.length = 0;
  const d = resilient();
  const results = [];
  // 3 windows fail (2 tries each) and open the breaker; the next 4 go straight to grounded
  for (let i = 0; i < 7; i++) results.push(await d.decode(request));
  assert.equal(results.length, 7);
  assert.ok(results.every((r) => r.decoder.fallback));
  assert.equal(requests.length, 6, 'no request while the breaker is open');
  assert.equal(d.breaker.state(Date.now()), 'open');
  // the server recovers; after openMs one trial goes through and closes the breaker
  server.mode = 'ok';
  await new Promise((r) => setTimeout(r, 850));
  const trial = await d.decode(request);
  assert.equal(trial.decoder.fallback, false);
  assert.equal(d.breaker.state(Date.now()), 'closed');
  assert.equal((await d.decode(request)).decoder.fallback, false);
  assert.equal(d.breaker.opened, 1);
});
