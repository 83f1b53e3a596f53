import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeGfl, iou } from './object-detector.js';

// one 32x32 input, one level of stride 16 (a 2x2 grid), two classes, regMax 2 (3 bins per side)
const manifest = {
  input: {
    name: 'pixels',
    layout: 'NCHW',
    width: 32,
    height: 32,
    colorOrder: 'RGB',
    mean: [0, 0, 0],
    std: [1, 1, 1],
  },
  head: { kind: 'gfl', regMax: 2, levels: [{ stride: 16, scores: 's', boxes: 'b' }] },
  classes: ['person', 'car'],
} as const;
/** Box logits that put (nearly) all weight on `bin` for each side. */
const sides = (bins: [number, number, number, number]) =>
  bins.flatMap((b) => [0, 1, 2].map((k) => (k === b ? 20 : -20)));

test('a cell’s class score and side distributions become a box around the cell centre, as fractions of the frame', () => {
  const scores = new Float32Array(4 * 2);
  scores[3 * 2 + 1] = 0.9; // cell 3 (row 1, col 1; centre 24,24): a car
  const boxes = new Float32Array(4 * 12);
  boxes.set(sides([1, 1, 0, 0]), 3 * 12); // 16 px left and up, 0 right and down
  const d = decodeGfl(
    manifest as never,
    { s: { data: scores, dims: [1, 4, 2] }, b: { data: boxes, dims: [1, 4, 12] } },
    0,
  );
  assert.equal(d.length, 1);
  assert.equal(d[0]!.label, 'car');
  assert.ok(Math.abs(d[0]!.score - 0.9) < 1e-6);
  d[0]!.box.forEach((v, i) =>
    assert.ok(Math.abs(v - [8 / 32, 8 / 32, 16 / 32, 16 / 32][i]!) < 1e-6, `box ${d[0]!.box.join(',')}`),
  );
});

test('below the score floor nothing is kept; overlapping boxes of one class are one detection, of two classes two', () => {
  const scores = new Float32Array(4 * 2);
  scores[0] = 0.8; // cell 0, person
  scores[1 * 2] = 0.7; // cell 1, person, overlapping once widened
  scores[1 * 2 + 1] = 0.6; // cell 1, car, same box
  scores[2 * 2] = 0.2; // cell 2, under the floor
  const boxes = new Float32Array(4 * 12);
  boxes.set(sides([0, 0, 2, 1]), 0); // cell 0 (centre 8,8): 8..40 → clipped 8..32 wide, 8..24 high
  boxes.set(sides([1, 0, 1, 1]), 12); // cell 1 (centre 24,8): 8..40 → 8..32, 8..24
  const d = decodeGfl(
    manifest as never,
    { s: { data: scores, dims: [1, 4, 2] }, b: { data: boxes, dims: [1, 4, 12] } },
    0,
    {
      minScore: 0.35,
    },
  );
  assert.deepEqual(
    d.map((x) => [x.label, Math.round(x.score * 10) / 10]),
    [
      ['person', 0.8],
      ['car', 0.6],
    ],
  );
  assert.equal(iou([0, 0, 1, 1], [0.5, 0, 1, 1]), 1 / 3);
});
