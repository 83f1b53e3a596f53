import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '@vigil/contracts';
import { dotPacked, eventText, packVector } from './search-docs.js';

const rnd = seededRandom(3);
const unit = () => {
  const v = Float32Array.from({ length: 384 }, () => rnd() - 0.5);
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};

test('a packed vector is 388 bytes and keeps its dot products within 0.01', () => {
  let worst = 0;
  for (let i = 0; i < 200; i++) {
    const a = unit();
    const b = i % 2 ? unit() : a.map((x, k) => x + 0.05 * (k % 7 === 0 ? 1 : -1) * Math.abs(x));
    const packed = packVector(b);
    assert.equal(packed.length, 388);
    const exact = a.reduce((s, x, k) => s + x * b[k]!, 0);
    worst = Math.max(worst, Math.abs(dotPacked(a, packed) - exact));
  }
  assert.ok(worst < 0.01, `worst error ${worst}`);
  assert.equal(dotPacked(unit(), packVector(new Float32Array(384))), 0);
});

test('an event is found by its kind in words, its zone and what it says', () => {
  assert.equal(
    eventText({ kind: 'zone_entered', zone: 'dock-3', description: 'A person entered the forbidden zone.' }),
    'zone entered in zone dock-3: A person entered the forbidden zone.',
  );
  assert.equal(
    eventText({ kind: 'lens_covered', description: 'The lens is covered.' }),
    'lens covered: The lens is covered.',
  );
});
