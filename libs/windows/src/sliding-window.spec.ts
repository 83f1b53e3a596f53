import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SlidingWindow } from './sliding-window.js';

const T0 = 1_000_000_000;
const jpeg = Buffer.from('x');

test('with W = S the windows tile stream time, aligned to the epoch, and close on a later sample', () => {
  const w = new SlidingWindow({ lengthMs: 10_000, strideMs: 10_000 });
  assert.deepEqual(w.add({ at: T0 + 3_000, change: 0.1 }), []);
  w.noteAnomaly({ at: T0 + 4_000, kind: 'frozen', score: 2 });
  assert.deepEqual(w.add({ at: T0 + 9_999, change: 0.2 }), []);
  const [closed, more] = w.add({ at: T0 + 10_000, change: 0.3 });
  assert.equal(more, undefined);
  assert.equal(closed!.start, T0);
  assert.equal(closed!.end, T0 + 10_000);
  assert.equal(closed!.trigger, 'cadence');
  assert.deepEqual(
    closed!.samples.map((s) => s.change),
    [0.1, 0.2],
  );
  assert.equal(closed!.anomalies.length, 1);
  // a gap: the next window is the one holding the 10 000 sample, not a run of empty ones
  const next = w.add({ at: T0 + 35_000, change: 0 });
  assert.deepEqual(
    next.map((x) => [x.start - T0, x.samples.length, x.anomalies.length]),
    [[10_000, 1, 0]],
  );
});

test('with S < W consecutive windows overlap by W − S and every sample is in W / S windows', () => {
  const w = new SlidingWindow({ lengthMs: 4_000, strideMs: 2_000 });
  const closed = [];
  for (let t = 0; t <= 12_000; t += 500) closed.push(...w.add({ at: T0 + t, change: t / 100_000 }));
  assert.deepEqual(
    closed.map((c) => [c.start - T0, c.end - T0]),
    [
      [-2_000, 2_000],
      [0, 4_000],
      [2_000, 6_000],
      [4_000, 8_000],
      [6_000, 10_000],
      [8_000, 12_000],
    ],
  );
  assert.deepEqual(
    closed.map((c) => c.samples.length),
    [4, 8, 8, 8, 8, 8],
  );
  const counts = new Map<number, number>();
  for (const c of closed) for (const s of c.samples) counts.set(s.at, (counts.get(s.at) ?? 0) + 1);
  assert.equal(counts.get(T0 + 5_000), 2);
});

test('near-duplicate frames merge into the frame before them, never for longer than a stride', () => {
  const w = new SlidingWindow({ lengthMs: 10_000, strideMs: 5_000, mergeBelow: 0.01 });
  const closed = [];
  for (let t = 0; t < 10_000; t += 1_000) {
    // a still scene, except a change at 3 s
    const change = t === 3_000 ? 0.2 : 0.001;
    closed.push(...w.add({ at: T0 + t, change }, { jpeg }));
  }
  closed.push(...w.add({ at: T0 + 10_000, change: 0.001 }, { jpeg }));
  const last = closed.at(-1)!;
  assert.equal(last.samples.length, 10);
  // frames start at 0 (merging 1, 2), 3 (merging 4, 5, 6, 7 — under a stride), 8 (merging 9)
  assert.deepEqual(
    last.frames.map((f) => [f.at - T0, f.merged]),
    [
      [0, 2],
      [3_000, 4],
      [8_000, 1],
    ],
  );
  assert.equal(last.merged, 7);
});

test('a still scene still gives every window a frame', () => {
  const w = new SlidingWindow({ lengthMs: 4_000, strideMs: 2_000, mergeBelow: 0.5 });
  const closed = [];
  for (let t = 0; t <= 20_000; t += 500) closed.push(...w.add({ at: T0 + t, change: 0 }, { jpeg }));
  assert.ok(closed.length >= 9);
  for (const c of closed) assert.ok(c.frames.length >= 1, `window at ${c.start - T0} has no frame`);
});

test('frames are thinned to the token budget, keeping the anomaly frames and the newest', () => {
  const w = new SlidingWindow({
    lengthMs: 20_000,
    strideMs: 20_000,
    tokenBudget: 4 * 100,
    tokensPerFrame: 100,
  });
  for (let t = 0; t < 20_000; t += 1_000) w.add({ at: T0 + t, change: 0.5 }, { jpeg });
  w.noteAnomaly({ at: T0 + 7_000, kind: 'lens_covered', score: 3 });
  const [c] = w.add({ at: T0 + 20_000, change: 0.5 }, { jpeg });
  assert.equal(c!.frames.length, 4);
  assert.equal(c!.dropped, 16);
  const ats = c!.frames.map((f) => f.at - T0);
  assert.ok(ats.includes(7_000), `anomaly frame kept: ${ats.join(',')}`);
  assert.ok(ats.includes(19_000), `newest frame kept: ${ats.join(',')}`);
  assert.ok(ats.includes(0), `oldest frame kept: ${ats.join(',')}`);
  assert.deepEqual(
    ats,
    [...ats].sort((a, b) => a - b),
  );
});

test('a window can be cut now (an anomaly started, someone asked) without disturbing the cadence', () => {
  const w = new SlidingWindow({ lengthMs: 10_000, strideMs: 10_000 });
  for (let t = 0; t < 7_000; t += 1_000) w.add({ at: T0 + t, change: 0.1 });
  const cut = w.cut(T0 + 6_000, 'anomaly');
  assert.equal(cut?.trigger, 'anomaly');
  assert.equal(cut?.start, T0 - 4_000);
  assert.equal(cut?.end, T0 + 6_000);
  assert.equal(cut?.samples.length, 7);
  const [c] = w.add({ at: T0 + 10_000, change: 0 });
  assert.equal(c?.samples.length, 7);
  assert.equal(new SlidingWindow({ lengthMs: 1000, strideMs: 1000 }).cut(T0, 'request'), null);
});

test('memory is bounded by the window length', () => {
  const w = new SlidingWindow({ lengthMs: 5_000, strideMs: 1_000 });
  for (let t = 0; t < 1_000_000; t += 100) w.add({ at: T0 + t, change: 0 }, { jpeg });
  const held = (w as unknown as { samples: unknown[]; frames: unknown[] }).samples.length;
  assert.ok(held <= 60, `holds ${held} samples`);
});

test('bad lengths are refused with what is wrong', () => {
  assert.throws(() => new SlidingWindow({ lengthMs: 0, strideMs: 1 }), /positive/);
  assert.throws(() => new SlidingWindow({ lengthMs: 1_000, strideMs: 2_000 }), /exceeds its length/);
});
