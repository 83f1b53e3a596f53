import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TumblingWindow } from './tumbling-window.js';

test('windows are aligned to the epoch and close when a later sample arrives', () => {
  const w = new TumblingWindow(10_000);
  assert.equal(w.add({ at: 1_000_003_000, change: 0.1 }), null);
  w.noteAnomaly(1_000_004_000, 'scene_change', 0.2);
  assert.equal(w.add({ at: 1_000_009_999, change: 0.2 }), null);
  const closed = w.add({ at: 1_000_010_000, change: 0.3 });
  assert.ok(closed);
  assert.equal(closed.start, 1_000_000_000);
  assert.equal(closed.end, 1_000_010_000);
  assert.deepEqual(
    closed.samples.map((s) => s.change),
    [0.1, 0.2],
  );
  assert.equal(closed.anomalies.length, 1);
  const next = w.add({ at: 1_000_035_000, change: 0 });
  assert.equal(next?.start, 1_000_010_000);
  assert.equal(next?.anomalies.length, 0);
});

test('a late sample joins the open window instead of reopening an old one', () => {
  const w = new TumblingWindow(10_000);
  w.add({ at: 20_000, change: 0 });
  assert.equal(w.add({ at: 19_000, change: 0.5 }), null);
  const closed = w.add({ at: 30_000, change: 0 });
  assert.equal(closed?.samples.length, 2);
});

test('a window length must be positive', () => {
  assert.throws(() => new TumblingWindow(0), /positive/);
});
