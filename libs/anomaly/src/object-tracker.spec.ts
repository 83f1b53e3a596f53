import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ObjectTracker, type TrackInput, direction } from './object-tracker.js';

const person = (x: number, y: number, score = 0.8): TrackInput => ({
  label: 'person',
  score,
  box: { x, y, w: 0.05, h: 0.15 },
});

test('two people crossing keep their ids, one confirmed at its second round', () => {
  const t = new ObjectTracker();
  let ids: Record<string, string> = {};
  for (let i = 0; i < 10; i++) {
    // A walks right, B walks left, 0.04 of the width a second (closer than their boxes are wide)
    const tracks = t.update([person(0.1 + 0.04 * i, 0.5), person(0.8 - 0.04 * i, 0.2)], i * 1000);
    assert.equal(tracks.length, 2);
    if (i === 0) {
      assert.ok(
        tracks.every((k) => !k.confirmed),
        'a track seen once is not confirmed',
      );
      ids = { a: tracks[0]!.id, b: tracks[1]!.id };
    } else {
      assert.ok(tracks.every((k) => k.confirmed));
      const a = tracks.find((k) => k.box.y > 0.4)!;
      const b = tracks.find((k) => k.box.y < 0.4)!;
      assert.deepEqual({ a: a.id, b: b.id }, ids, `round ${i}`);
    }
  }
  const [a, b] = t.current();
  assert.equal(direction(a!), 'left to right');
  assert.equal(direction(b!), 'right to left');
});

test('a walker faster than their own width a round is followed by the Kalman prediction', () => {
  const t = new ObjectTracker();
  const seen = new Set<string>();
  // 0.08 a second: past the box (0.05 wide) every round, so only the filter's velocity bridges it
  for (let i = 0; i < 8; i++)
    for (const k of t.update([person(0.05 + 0.08 * i, 0.5)], i * 1000)) seen.add(k.id);
  assert.equal(seen.size, 1, `ids ${[...seen].join(', ')}`);
});

test('an id survives a short miss and a weak detection; a long miss ends the track', () => {
  const t = new ObjectTracker();
  const first = t.update([person(0.3, 0.3)], 0)[0]!.id;
  t.update([person(0.31, 0.3)], 1000);
  // missed one round (hidden), still there on its prediction
  const hidden = t.update([], 2000);
  assert.equal(hidden.length, 1);
  assert.ok(hidden[0]!.missed);
  // seen weakly (half behind a pillar): the second round keeps it
  const weak = t.update([person(0.33, 0.3, 0.3)], 3000);
  assert.deepEqual(
    weak.map((k) => [k.id, k.missed]),
    [[first, false]],
  );
  // a weak detection alone starts nothing
  assert.equal(t.update([person(0.33, 0.3, 0.8), person(0.8, 0.8, 0.3)], 4000).length, 1);
  // gone for over maxMissMs (3 s)
  t.update([], 5000);
  t.update([], 6000);
  t.update([], 7000);
  assert.equal(t.update([], 8000).length, 0);
  // the same place later is a new track
  assert.notEqual(t.update([person(0.33, 0.3)], 9000)[0]!.id, first);
});

test('a blip seen once is dropped at its first miss; classes do not swap ids', () => {
  const t = new ObjectTracker();
  t.update([person(0.5, 0.5)], 0);
  assert.equal(t.update([], 1000).length, 0, 'unconfirmed tracks are not kept through a miss');
  const car = { label: 'car', score: 0.9, box: { x: 0.2, y: 0.2, w: 0.2, h: 0.1 } };
  const c1 = t.update([car], 2000)[0]!.id;
  // a van the detector calls a truck next round stays one vehicle
  const c2 = t.update([{ ...car, label: 'truck', score: 0.6 }], 3000);
  assert.equal(c2.length, 1);
  assert.equal(c2[0]!.id, c1);
  assert.equal(c2[0]!.label, 'car', 'the more confident name stays');
  // a person standing where the car is does not take its id
  const both = t.update([car, person(0.25, 0.18)], 4000);
  assert.equal(new Set(both.map((k) => k.id)).size, 2);
  assert.equal(both.find((k) => k.label === 'car')!.id, c1);
});

test('a track that walks out of the picture is not kept on a prediction outside it', () => {
  const t = new ObjectTracker();
  // walks left at 0.04 a second, last seen with its box at 0.02-0.07
  for (let i = 0; i < 4; i++) t.update([person(0.14 - 0.04 * i, 0.4)], i * 1000);
  assert.equal(t.update([], 4000).length, 1, 'a second later it is still partly in the picture');
  t.update([], 5000);
  assert.equal(t.update([], 6000).length, 0, 'gone out of the picture, though missed for only 3 s');
});
