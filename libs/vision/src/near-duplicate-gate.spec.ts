import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NearDuplicateGate } from './near-duplicate-gate.js';

const img = (v: number, n = 32 * 18) => new Uint8Array(n).fill(v);

test('a near-identical frame reuses the last tokens; a changed one is encoded', () => {
  const g = new NearDuplicateGate<string>({ threshold: 0.01, maxReuseMs: 10_000 });
  assert.deepEqual(g.check('a', img(100), 0), { reuse: false });
  g.encoded('a', img(100), 0, 'tok0');
  assert.deepEqual(g.check('a', img(101), 500), { reuse: true, tokens: 'tok0' }, '1/255 ≈ 0.4 % is noise');
  assert.deepEqual(g.check('a', img(110), 1000), { reuse: false }, '10/255 ≈ 4 % is a change');
  assert.ok(Math.abs(g.skipRatio('a') - 0.5) < 1e-9);
});

test('slow drift cannot creep past: frames are compared with the last encoded one', () => {
  const g = new NearDuplicateGate<number>({ threshold: 0.01, maxReuseMs: 60_000 });
  g.encoded('a', img(100), 0, 0);
  let encodes = 0;
  for (let v = 101; v <= 110; v++) {
    const d = g.check('a', img(v), v * 100);
    if (!d.reuse) {
      encodes++;
      g.encoded('a', img(v), v * 100, v);
    }
  }
  assert.ok(encodes >= 3, `a drift of 10 levels in 1-level steps still gets encoded (${encodes} times)`);
});

test('at least one real encode every maxReuseMs, and streams are independent', () => {
  const g = new NearDuplicateGate<string>({ threshold: 0.5, maxReuseMs: 1000 });
  g.encoded('a', img(50), 0, 'x');
  assert.equal(g.check('a', img(50), 999).reuse, true);
  assert.equal(g.check('a', img(50), 1000).reuse, false);
  assert.equal(g.check('b', img(50), 10).reuse, false, 'another stream has nothing to reuse');
});
