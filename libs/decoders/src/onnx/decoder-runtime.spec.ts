import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@vigil/testing';
import { DecoderRuntime, type GenerateRequest } from './decoder-runtime.js';

const MODEL = join(repoRoot(), 'models', 'tiny-moe-test', 'model.json');
let rt: DecoderRuntime;

before(async () => {
  rt = await DecoderRuntime.load(MODEL);
});
after(async () => {
  await rt.release();
});

/** Seeded vision tokens of one frame (vigil-patch-v1's 196 × 16). */
function frame(seed: number): Float32Array {
  const out = new Float32Array(196 * 16);
  let a = seed;
  for (let i = 0; i < out.length; i++) {
    a = (a * 1103515245 + 12345) % 2 ** 31;
    out[i] = a / 2 ** 31;
  }
  return out;
}

const lastRow = (logits: Float32Array, vocab: number, row: number, T: number) =>
  logits.subarray((row * T + T - 1) * vocab, (row * T + T) * vocab);

test('the generated model is a 2-layer MoE of 4 experts, top-2, with a tokenizer', () => {
  const a = rt.manifest.architecture;
  assert.ok(a.layers >= 2);
  assert.equal(a.experts, 4);
  assert.equal(a.expertsPerToken, 2);
  assert.equal(rt.tokenizer.vocabSize, a.vocabSize);
});

test('output with the KV cache equals output without: one pass over the sequence vs token by token', async () => {
  const a = rt.manifest.architecture;
  const ids = rt.tokenizer.encode('The conveyor belt runs; a worker walks along the aisle.');
  const n = ids.length;
  const embeds = await rt.embed(ids);
  const positions = BigInt64Array.from(ids, (_, i) => BigInt(i));
  const full = await rt.forward(embeds, 1, new BigInt64Array(n).fill(1n), positions, null);

  // the first half in one pass, then one token at a time on the cache
  const half = Math.floor(n / 2);
  let out = await rt.forward(
    embeds.subarray(0, half * a.hidden),
    1,
    new BigInt64Array(half).fill(1n),
    positions.subarray(0, half),
    null,
  );
  for (let i = half; i < n; i++) {
    out = await rt.forward(
      embeds.subarray(i * a.hidden, (i + 1) * a.hidden),
      1,
      new BigInt64Array(i + 1).fill(1n),
      BigInt64Array.of(BigInt(i)),
      out.present,
    );
  }
  const want = lastRow(full.logits, a.vocabSize, 0, n);
  const got = lastRow(out.logits, a.vocabSize, 0, 1);
  let maxDiff = 0;
  for (let v = 0; v < a.vocabSize; v++) maxDiff = Math.max(maxDiff, Math.abs(want[v]! - got[v]!));
  assert.ok(maxDiff < 1e-4, `largest logit difference ${maxDiff}`);
  // and the caches themselves agree
  const k = full.present[1]!.key;
  const kc = out.present[1]!.key;
  assert.equal(k.length, kc.length);
  let kd = 0;
  for (let i = 0; i < k.length; i++) kd = Math.max(kd, Math.abs(k[i]! - kc[i]!));
  assert.ok(kd < 1e-4, `largest cache difference ${kd}`);
});

test('different tokens are routed to different experts, two distinct ones each', async () => {
  const ids = rt.tokenizer.encode(
    'lens covered; picture frozen; camera moved; a crate on the floor; 0123456789',
  );
  const out = await rt.forward(
    await rt.embed(ids),
    1,
    new BigInt64Array(ids.length).fill(1n),
    BigInt64Array.from(ids, (_, i) => BigInt(i)),
    null,
  );
  assert.equal(out.routers.length, rt.manifest.architecture.layers);
  for (const r of out.routers) {
    const pairs = new Set<string>();
    const used = new Set<bigint>();
    for (let t = 0; t < ids.length; t++) {
      const [e1, e2] = [r[t * 2]!, r[t * 2 + 1]!];
      assert.notEqual(e1, e2, 'the two chosen experts differ');
      assert.ok(e1 >= 0n && e1 < 4n && e2 >= 0n && e2 < 4n);
      pairs.add([e1, e2].sort().join('+'));
      used.add(e1).add(e2);
    }
    assert.equal(used.size, 4, 'every expert takes some tokens');
    assert.ok(pairs.size >= 3, `only ${pairs.size} expert pairs over ${ids.length} tokens`);
  }
});

const requests = (): GenerateRequest[] =>
  [
    ['dock', 'a loading dock; forklifts move all day', 2],
    ['aisle', 'an aisle with a conveyor belt', 1],
    ['gate', '', 0],
    ['yard', 'the yard at night: only the lights move, and now and then a truck', 3],
  ].map(([id, context, frames], i) => ({
    prefixKey: id as string,
    prefix: `<|im_start|>system\nYou narrate cameras.<|im_end|>\n<|im_start|>user\nCamera ${id as string}. ${context as string}\n`,
    parts: [
      `Window ${i}: ${i + 2} samples, mean change ${i * 3} %.`,
      ...Array.from({ length: frames as number }, (_, f) => frame(i * 10 + f)),
      '<|im_end|>\n<|im_start|>assistant\n',
    ],
    maxNewTokens: 24,
  }));

test('batched equals unbatched: four streams of different prompt lengths in one batch', async () => {
  const one = await rt.generate(requests(), { batched: false });
  const all = await rt.generate(requests(), { batched: true });
  assert.deepEqual(
    all.map((r) => r.tokens),
    one.map((r) => r.tokens),
  );
  assert.ok(all.every((r) => r.tokens.length > 0));
  // not all the same answer: the rows did not leak into each other nor collapse
  assert.ok(new Set(all.map((r) => r.tokens.join(','))).size >= 2);
});

test('ONNX Runtime’s memory pattern on (off by default) gives the same tokens, batched', async () => {
  const patterned = await DecoderRuntime.load(MODEL, { memoryPattern: true });
  try {
    assert.deepEqual(
      (await patterned.generate(requests(), { batched: true })).map((r) => r.tokens),
      (await rt.generate(requests(), { batched: true })).map((r) => r.tokens),
    );
  } finally {
    await patterned.release();
  }
});

test('a stream’s prefix is computed once and reused; the result equals a full prefill', async () => {
  const fresh = await DecoderRuntime.load(MODEL);
  try {
    const [first] = await fresh.generate([requests()[0]!]);
    const [second] = await fresh.generate([requests()[0]!]);
    const [full] = await fresh.generate([requests()[0]!], { reusePrefix: false });
    assert.equal(first!.prefixReused, false);
    assert.equal(second!.prefixReused, true);
    assert.ok(
      second!.promptTokens < first!.promptTokens,
      `${second!.promptTokens} vs ${first!.promptTokens}`,
    );
    assert.equal(second!.contextTokens, first!.contextTokens);
    assert.deepEqual(second!.tokens, first!.tokens);
    assert.deepEqual(full!.tokens, first!.tokens);
    // a changed context is a new prefix
    const changed = { ...requests()[0]!, prefix: requests()[0]!.prefix.replace('forklifts', 'trucks') };
    const [third] = await fresh.generate([changed]);
    assert.equal(third!.prefixReused, false);
    assert.equal(fresh.stats.prefixHits, 1);
  } finally {
    await fresh.release();
  }
});

test('temperature sampling is seeded: same seed, same tokens; another seed, other tokens', async () => {
  const r = { ...requests()[1]!, temperature: 1.5, maxNewTokens: 16 };
  const [a] = await rt.generate([{ ...r, seed: 7 }]);
  const [b] = await rt.generate([{ ...r, seed: 7 }]);
  const [c] = await rt.generate([{ ...r, seed: 8 }]);
  assert.deepEqual(a!.tokens, b!.tokens);
  assert.notDeepEqual(a!.tokens, c!.tokens);
});

test('a model file that differs from its manifest is refused, naming the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-moe-'));
  const src = join(repoRoot(), 'models', 'tiny-moe-test');
  for (const f of readdirSync(src)) copyFileSync(join(src, f), join(dir, f));
  const bytes = readFileSync(join(dir, 'embed.onnx'));
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
  writeFileSync(join(dir, 'embed.onnx'), bytes);
  await assert.rejects(DecoderRuntime.load(join(dir, 'model.json')), /embed\.onnx: sha256 .* differs/);
});

test('vision tokens of the wrong size are refused with the sizes', async () => {
  await assert.rejects(
    rt.project(new Float32Array(10)),
    /10 values do not fit the projector \(196 × 16 from vigil-patch-v1\)/,
  );
});
