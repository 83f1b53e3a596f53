import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type INestApplicationContext } from '@nestjs/common';
import { SummarySchema, TOPICS, type Summary } from '@vigil/contracts';
import { loadAnalyzerConfig } from '@vigil/config';
import { type KafkaSubscriber } from '@vigil/kafka';
import { Logger } from '@vigil/observability';
import {
  FakeChatServer,
  RtspTestServer,
  generateClip,
  testDir,
  useTestKafka,
  waitFor,
  watchTopics,
} from '@vigil/testing';
import { startAnalyzer } from '../../apps/analyzer/src/main.js';
import { startStaticIngest } from '../harness.js';

// The analyzer narrating through an `openai` backend (a local chat-completions server) that hangs, fails
// and answers garbage before it recovers: summaries keep flowing (grounded, marked as fallback), the
// breaker spares the server while it is down and lets it back in, and every window is narrated once.

const run = randomUUID().slice(0, 6);
const CAM = `decoder-cam-${run}`;
const log = new Logger('decoder-fallback', { level: 'error' });
let broker: Awaited<ReturnType<typeof useTestKafka>>;
let rtsp: RtspTestServer;
let chat: FakeChatServer;
let analyzer: INestApplicationContext | undefined;
let ingest: INestApplicationContext | undefined;
let sub: KafkaSubscriber;
const summaries: (Summary & { receivedAt: number })[] = [];

before(async () => {
  broker = await useTestKafka();
  chat = new FakeChatServer({ summary: 'The test pattern is on screen; nothing unusual.', findings: [] });
  chat.mode = 'hang';
  await chat.start();
  const clip = generateClip(join(testDir('decoder'), 'moving.mp4'), {
    scenario: 'moving',
    seconds: 8,
    width: 320,
    height: 180,
  });
  rtsp = new RtspTestServer([{ name: 'cam', file: clip }]);
  await rtsp.start();
  const env = { VIGIL_KAFKA_BROKERS: broker.brokers.join(','), VIGIL_LOG_LEVEL: 'error' };
  analyzer = await startAnalyzer(
    loadAnalyzerConfig({
      ...env,
      VIGIL_ANALYZER_HTTP_PORT: '0',
      VIGIL_SUMMARY_INTERVAL_S: '2',
      VIGIL_DECODER: 'openai',
      VIGIL_DECODER_URL: chat.url,
      VIGIL_DECODER_MODEL: 'test-vlm',
      VIGIL_DECODER_TIMEOUT_MS: '700',
      VIGIL_DECODER_RETRIES: '0',
      VIGIL_DECODER_BREAKER_FAILURES: '2',
      VIGIL_DECODER_BREAKER_OPEN_S: '4',
    }),
    log,
  );
  sub = await watchTopics(
    broker.brokers,
    { groupId: `decoder-fallback-${run}`, topics: [TOPICS.summaries.name] },
    (m) => {
      if (m.key === CAM && m.value)
        summaries.push({ ...SummarySchema.parse(JSON.parse(m.value.toString())), receivedAt: Date.now() });
    },
    log,
  );
  ingest = await startStaticIngest(
    broker.brokers,
    [
      {
        id: CAM,
        url: rtsp.url('cam'),
        sampling: { mode: 'fps', fps: 2 },
        output: { width: 320, height: 180 },
      },
    ],
    log,
  );
});

after(async () => {
  await ingest?.close();
  await analyzer?.close();
  await sub?.stop();
  await rtsp?.stop();
  await chat?.stop();
  await broker?.stop();
});

test('a hanging, failing, then recovering decoder: summaries never stop, the breaker opens and closes, each window once', async (t) => {
  // hanging: each window waits its 700 ms, then grounded narrates it
  await waitFor('3 summaries while the decoder hangs', () => summaries.length >= 3, 60_000);
  chat.mode = '500';
  const failingFrom = Date.now();
  await sleep(6000);
  const requestsWhileFailing = chat.requests.filter((r) => r.at >= failingFrom).length;
  const windowsWhileFailing = summaries.filter((s) => s.receivedAt >= failingFrom).length;
  chat.mode = 'garbage';
  await sleep(3000);
  chat.mode = 'ok';
  const okFrom = Date.now();
  await waitFor(
    'a summary narrated by the model again',
    () => summaries.some((s) => s.receivedAt >= okFrom && s.level === 'window' && !s.decoder.fallback),
    30_000,
  );
  await sleep(2500);

  t.diagnostic(
    `${summaries.length} summaries; ${windowsWhileFailing} windows and ${requestsWhileFailing} requests in the 6 s of HTTP 500`,
  );
  // the breaker spared the failing server: fewer requests than windows
  assert.ok(
    requestsWhileFailing < windowsWhileFailing,
    `${requestsWhileFailing} requests for ${windowsWhileFailing} windows`,
  );
  const fallbacks = summaries.filter((s) => s.decoder.fallback);
  assert.ok(fallbacks.length >= 3);
  assert.ok(fallbacks.every((s) => s.decoder.type === 'grounded' && /frames? sampled/.test(s.text)));
  // windows only: a minute rollup (grounded over its windows, never a fallback) may fall in the test
  const model = summaries.filter((s) => s.level === 'window' && !s.decoder.fallback);
  assert.ok(model.length >= 1);
  const { latencyMs, tokens, ...decoder } = model[0]!.decoder;
  assert.deepEqual(decoder, { type: 'openai', model: 'test-vlm', fallback: false });
  assert.ok(latencyMs !== undefined && latencyMs < 700, `latency ${latencyMs} ms`);
  assert.ok(tokens && tokens.prompt > 0 && tokens.completion > 0, 'token counts from the server');
  assert.equal(model[0]!.text, 'The test pattern is on screen; nothing unusual.');
  // every window once, and none missing between the first and the last
  const windows = summaries.filter((s) => s.level === 'window' && s.trigger === 'cadence');
  const starts = windows.map((s) => Date.parse(s.windowStart)).sort((a, b) => a - b);
  assert.equal(new Set(summaries.map((s) => s.summaryId)).size, summaries.length, 'no window twice');
  for (let i = 1; i < starts.length; i++)
    assert.equal(starts[i]! - starts[i - 1]!, 2000, 'no window missing');
  // what reached the model: the window's frames as image parts
  const last = chat.requests.at(-1)!.body as { messages: { content: unknown }[] };
  const parts = last.messages[1]!.content as { type: string }[];
  assert.ok(parts.filter((p) => p.type === 'image_url').length >= 1, 'frames sent as image parts');
});
