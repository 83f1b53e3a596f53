import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '@vigil/contracts';
import { BinaryIndex, binaryCode } from './binary-index.js';

const rnd = seededRandom(7);
const vec = (d = 384) => Float32Array.from({ length: d }, () => rnd() - 0.5);
const hamming = (a: Int32Array, b: Int32Array) => {
  let n = 0;
  for (let i = 0; i < a.length; i++) for (let x = a[i]! ^ b[i]!; x; x &= x - 1) n++;
  return n;
};

test('binaryCode packs the sign of each component, 32 to a word', () => {
  const v = new Float32Array(64);
  v[0] = 0.3;
  v[31] = 0.1;
  v[33] = 2;
  v[40] = -1;
  assert.deepEqual([...binaryCode(v)], [1 | (1 << 31), 1 << 1]);
  assert.equal(binaryCode(new Float32Array(384)).length, 12);
});

test('nearest returns the k rows of least Hamming distance, nearest first, exactly', () => {
  const index = new BinaryIndex(384, 16); // grows past its first capacity
  const codes = new Map<number, Int32Array>();
  for (let id = 1; id <= 2000; id++) {
    const c = binaryCode(vec());
    codes.set(id, c);
    index.add(id, c, `cam-${id % 5}`, id * 1000);
  }
  assert.equal(index.size, 2000);
  const q = binaryCode(vec());
  const got = index.nearest(q, 25);
  const want = [...codes.entries()]
    .map(([id, c]) => ({ id, d: hamming(q, c) }))
    .sort((a, b) => a.d - b.d || a.id - b.id);
  assert.equal(got.length, 25);
  // the same distances as a brute-force sort (ties may come in either order)
  assert.deepEqual(
    got.map((id) => hamming(q, codes.get(id)!)),
    want.slice(0, 25).map((w) => w.d),
  );
  // a row is its own nearest
  assert.equal(index.nearest(codes.get(777)!, 1)[0], 777);
});

test('filters: only the cameras named, only inside [from, to)', () => {
  const index = new BinaryIndex(64);
  for (let id = 1; id <= 300; id++) index.add(id, binaryCode(vec(64)), `cam-${id % 3}`, id * 1000);
  const q = binaryCode(vec(64));
  const cam1 = index.nearest(q, 50, { streams: ['cam-1', 'no-such-cam'] });
  assert.equal(cam1.length, 50);
  assert.ok(cam1.every((id) => id % 3 === 1));
  const timed = index.nearest(q, 500, { from: 100_000, to: 110_000 });
  assert.deepEqual(
    timed.sort((a, b) => a - b),
    [100, 101, 102, 103, 104, 105, 106, 107, 108, 109],
  );
  assert.deepEqual(index.nearest(q, 5, { streams: ['nowhere'] }), []);
});

test('remove and replace keep every other row findable', () => {
  const index = new BinaryIndex(64);
  const codes = new Map<number, Int32Array>();
  for (let id = 1; id <= 100; id++) {
    codes.set(id, binaryCode(vec(64)));
    index.add(id, codes.get(id)!, 'cam', id);
  }
  for (let id = 1; id <= 100; id += 2) assert.ok(index.remove(id));
  assert.equal(index.remove(1), false);
  assert.equal(index.size, 50);
  for (let id = 2; id <= 100; id += 2) assert.equal(index.nearest(codes.get(id)!, 1)[0], id);
  assert.ok(!index.nearest(codes.get(3)!, 100).includes(3));
  // a changed row (its text was embedded again) replaces the old code
  const fresh = binaryCode(vec(64));
  index.add(10, fresh, 'cam', 10);
  assert.equal(index.size, 50);
  assert.equal(index.nearest(fresh, 1)[0], 10);
  assert.throws(() => index.add(1, new Int32Array(3), 'cam', 1), /code of 3 words given to an index of 2/);
});

test('a large index scans in two stages and still finds the rows near the query', () => {
  const index = new BinaryIndex(384, 300_000);
  const q = binaryCode(vec());
  // 250 000 unrelated rows, and 50 near the query (up to 24 of its 384 bits flipped)
  for (let id = 1; id <= 250_000; id++) index.add(id, binaryCode(vec()), `cam-${id % 3}`, id);
  const near = new Map<number, Int32Array>();
  for (let j = 0; j < 50; j++) {
    const c = Int32Array.from(q);
    for (let f = 0; f < Math.floor(rnd() * 25); f++) {
      const bit = Math.floor(rnd() * 384);
      c[bit >>> 5]! ^= 1 << (bit & 31);
    }
    near.set(300_000 + j, c);
    index.add(300_000 + j, c, 'cam-0', 1);
  }
  const got = index.nearest(q, 50);
  assert.deepEqual(
    [...got].sort((a, b) => a - b),
    [...near.keys()],
  );
  // nearest first
  const d = got.map((id) => hamming(q, near.get(id)!));
  assert.deepEqual(
    d,
    [...d].sort((a, b) => a - b),
  );
  // filters hold in both stages
  assert.ok(index.nearest(q, 20, { streams: ['cam-1'] }).every((id) => id % 3 === 1 && id <= 250_000));
});
