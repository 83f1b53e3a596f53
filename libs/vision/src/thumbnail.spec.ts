import { test } from 'node:test';
import assert from 'node:assert/strict';
import { meanAbsDiff } from './thumbnail.js';

test('mean absolute difference of two thumbnails, as a fraction of full scale', () => {
  const a = new Uint8Array(8).fill(100);
  const b = Uint8Array.from(a);
  b[6] = 255;
  b[7] = 255;
  assert.equal(meanAbsDiff(a, a), 0);
  assert.ok(Math.abs(meanAbsDiff(a, b) - (2 * 155) / (8 * 255)) < 1e-12);
  assert.throws(() => meanAbsDiff(a, new Uint8Array(3)), /differ in size/);
});
