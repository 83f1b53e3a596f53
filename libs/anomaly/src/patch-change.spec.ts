import { test } from 'node:test';
import assert from 'node:assert/strict';
import { letterboxContent, patchChange } from './patch-change.js';

test('a 16:9 frame letterboxed into 224×224 fills the width and the middle rows', () => {
  assert.deepEqual(letterboxContent(640, 360, 224, 224), { x: 0, y: 49, w: 224, h: 126 });
  assert.deepEqual(letterboxContent(224, 224, 224, 224), { x: 0, y: 0, w: 224, h: 224 });
});

test('the changed fraction counts picture patches only, and the region maps back to frame coordinates', () => {
  const grid = [14, 14] as const;
  const dims = 2;
  const prev = new Float32Array(196 * dims);
  const cur = Float32Array.from(prev);
  // change patches rows 6..7 (model y 96..128), cols 7..13 (the right half)
  for (let r = 6; r <= 7; r++)
    for (let c = 7; c < 14; c++) cur.fill(0.5, (r * 14 + c) * dims, (r * 14 + c + 1) * dims);
  // and a letterbox-bar patch, which must not count
  cur.fill(0.5, 0, dims);
  const content = letterboxContent(640, 360, 224, 224); // rows 3..10 hold the picture (y 49..175)
  const r = patchChange(prev, cur, grid, dims, 0.1, content, 224, 224);
  // 8 picture rows (a patch counts when at least half shows the picture) × 14 cols = 112 patches; 14 changed
  assert.equal(r.fraction, 14 / 112);
  assert.ok(r.region);
  assert.ok(Math.abs(r.region.x - 0.5) < 1e-9 && Math.abs(r.region.w - 0.5) < 1e-9);
  assert.ok(Math.abs(r.region.y - (96 - 49) / 126) < 1e-9 && Math.abs(r.region.h - 32 / 126) < 1e-9);
  assert.deepEqual(patchChange(prev, prev, grid, dims, 0.1, content, 224, 224), { fraction: 0 });
});
