import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type BaselineSnapshot, PatchBaseline } from './baseline.js';

const P = 12;
const D = 4;
const opts = { bankSize: 4, warmupSamples: 20, adaptRate: 0.05, seed: 1 };

/** Patch tokens: patch p has value p/10 in every feature, plus noise; `shift` moves some patches. */
function sample(k: number, shift: number[] = []): Float32Array {
  const t = new Float32Array(P * D);
  for (let p = 0; p < P; p++)
    for (let f = 0; f < D; f++)
      t[p * D + f] = p / 10 + 0.01 * Math.sin(k * 7 + p * 3 + f) + (shift.includes(p) ? 1 : 0);
  return t;
}
const all = new Uint8Array(P).fill(1);

test('a patch that departs from its learned normal is novel, the others are not', () => {
  const b = new PatchBaseline(P, D, opts);
  for (let k = 0; k < 20; k++) b.learn(sample(k));
  assert.equal(b.ready, true);
  const calm = b.novelty(sample(100), all, 4);
  assert.deepEqual(calm.novel, []);
  const n = b.novelty(sample(101, [3, 4]), all, 4);
  assert.deepEqual(n.novel, [3, 4]);
  assert.ok(n.score > 1 && Math.abs(n.fraction - 2 / 12) < 1e-9);
  // masked patches are not scored
  const mask = new Uint8Array(P).fill(1);
  mask[3] = 0;
  assert.deepEqual(b.novelty(sample(101, [3, 4]), mask, 4).novel, [4]);
});

test('memory is bounded: the bank does not grow with the samples learned', () => {
  const b = new PatchBaseline(P, D, opts);
  b.learn(sample(0));
  const bytes = b.bytes;
  for (let k = 1; k < 500; k++) b.learn(sample(k));
  assert.equal(b.bytes, bytes);
  assert.equal(b.samples, 500);
});

test('a snapshot restores the same baseline; one that does not fit is refused', () => {
  const b = new PatchBaseline(P, D, opts);
  for (let k = 0; k < 30; k++) b.learn(sample(k));
  const snap = JSON.parse(JSON.stringify(b.snapshot())) as BaselineSnapshot;
  const r = PatchBaseline.restore(snap, opts);
  const probe = sample(7, [1]);
  assert.deepEqual(Array.from(r.novelty(probe, all, 4).ratio), Array.from(b.novelty(probe, all, 4).ratio));
  // both go on learning identically (same adaptation choices)
  for (let k = 30; k < 60; k++) {
    b.learn(sample(k));
    r.learn(sample(k));
  }
  assert.deepEqual(Array.from(r.distances(probe)), Array.from(b.distances(probe)));
  assert.throws(() => PatchBaseline.restore(snap, { ...opts, bankSize: 8 }), /bank size 4 differs/);
  assert.throws(
    () => PatchBaseline.restore({ ...snap, bank: 'AAAA' }, opts),
    /bank has 0.75 values, expected 192/,
  );
});
