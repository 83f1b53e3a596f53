import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { repoRoot } from '@vigil/testing';
import { type DecodeRequest, DecoderError } from '../decoder.js';
import { createDecoder } from '../registry.js';
import { OnnxDecoder } from './onnx-decoder.js';

const MODEL = join(repoRoot(), 'models', 'tiny-moe-test', 'model.json');
let decoder: OnnxDecoder;

before(async () => {
  decoder = new OnnxDecoder({ manifestPath: MODEL, maxNewTokens: 12, maxBatch: 8, maxWaitMs: 20 });
  await decoder.start();
});
after(async () => {
  await decoder.close();
});

function request(stream: string, frames = 2): DecodeRequest {
  const start = Date.parse('2026-11-29T10:00:00Z');
  return {
    streamId: stream,
    context: 'a loading dock',
    window: {
      start,
      end: start + 10_000,
      trigger: 'cadence',
      samples: [{ at: start, change: 0.01 }],
      anomalies: [],
      frames: Array.from({ length: frames }, (_, i) => ({
        at: start + i * 1000,
        until: start + i * 1000,
        merged: 0,
        tokens: new Float32Array(196 * 16).fill(0.1 * (i + 1)),
      })),
      merged: 0,
      dropped: 0,
    },
  };
}

test('windows of several streams decoded at once run as one batch; each stream’s prefix is computed once', async () => {
  const streams = ['a', 'b', 'c', 'd'];
  const runs0 = decoder.stats.runs;
  const results = await Promise.allSettled(streams.map((s) => decoder.decode(request(s))));
  // the test model's text is not the JSON answer: every window is refused, saying why
  for (const r of results) {
    assert.equal(r.status, 'rejected');
    const e: unknown = r.status === 'rejected' ? r.reason : undefined;
    assert.ok(e instanceof DecoderError && !e.retriable, String(e));
    assert.match(e.message, /onnx decoder answer is not JSON|does not match its schema/);
  }
  const s = decoder.stats;
  assert.equal(s.prefixMisses, 4);
  assert.ok(s.generatedTokens >= 4, 'the model generated');
  // one batch: 4 prefixes + one prompt pass + ≤ 11 steps, instead of 4 × 12 runs one by one
  assert.ok(s.runs - runs0 <= 4 + 12, `${s.runs - runs0} runs`);
  await Promise.allSettled(streams.map((x) => decoder.decode(request(x))));
  assert.equal(decoder.stats.prefixHits, 4, 'the second round reused every prefix');
});

test('the window’s frames reach the model as vision tokens, within its budget', () => {
  const g = decoder.request(request('e', 3));
  assert.equal(g.parts.filter((p) => p instanceof Float32Array).length, 3);
  assert.equal(decoder.inputs.tokens, true);
  assert.equal(decoder.inputs.jpeg, false);
  assert.equal(decoder.inputs.tokensPerFrame(640, 360, [14, 14]), 51);
  assert.match(
    g.prefix,
    /^<\|im_start\|>system\n.*<\|im_end\|>\n<\|im_start\|>user\nCamera e\. What is normal here: a loading dock\n$/s,
  );
});

test('behind the resilience wrapper, a window the model cannot answer is narrated by grounded, marked so', async () => {
  const d = createDecoder({
    type: 'onnx',
    manifestPath: MODEL,
    provider: 'cpu',
    threads: 1,
    maxBatch: 4,
    maxNewTokens: 8,
    resilience: {
      timeoutMs: 20_000,
      retries: 0,
      backoffMs: 10,
      breaker: { failureThreshold: 3, openMs: 1000 },
    },
  });
  try {
    await d.start!();
    const r = await d.decode(request('f'));
    assert.equal(r.decoder.type, 'grounded');
    assert.equal(r.decoder.fallback, true);
    assert.match(r.summary, /frame sampled/);
  } finally {
    await d.close!();
  }
});

test('a missing or broken model.json is refused at once, naming the file', () => {
  assert.throws(
    () => new OnnxDecoder({ manifestPath: '/nope/model.json' }),
    /decoder model \/nope\/model\.json: ENOENT/,
  );
  assert.throws(
    () => new OnnxDecoder({ manifestPath: join(repoRoot(), 'models', 'vigil-patch-v1', 'model.json') }),
    /decoder model .*vigil-patch-v1\/model\.json: .*files/,
  );
});
