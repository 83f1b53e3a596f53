import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChangeDetector } from './change-detector.js';

const opts = { enter: 0.04, exit: 0.02, calmSamples: 3, warmupSamples: 3 };

function feed(d: ChangeDetector, values: number[], t0 = 0) {
  return values.map((v, i) => d.observe(v, t0 + i * 500).kind);
}

test('a jump opens an event, calm samples close it, and both carry the same start time', () => {
  const d = new ChangeDetector(opts);
  const kinds = feed(d, [0.002, 0.003, 0.002, 0.002, 0.12, 0.003, 0.002, 0.002]);
  assert.deepEqual(kinds, ['none', 'none', 'none', 'none', 'start', 'none', 'none', 'end']);
  const d2 = new ChangeDetector(opts);
  feed(d2, [0.002, 0.002, 0.002, 0.002]);
  const start = d2.observe(0.2, 10_000);
  feed(d2, [0.001, 0.001], 10_500);
  const end = d2.observe(0.001, 11_500);
  assert.equal(start.kind === 'start' && start.startedAt, 10_000);
  assert.equal(end.kind === 'end' && end.startedAt, 10_000);
  assert.equal(end.kind === 'end' && end.peak, 0.2);
});

test('no event during warm-up, even on a big change', () => {
  const d = new ChangeDetector(opts);
  assert.deepEqual(feed(d, [0.3, 0.3, 0.3]), ['none', 'none', 'none']);
});

test('a busy scene needs a jump well above its usual change', () => {
  const d = new ChangeDetector(opts);
  feed(d, Array<number>(20).fill(0.05));
  assert.equal(d.observe(0.08, 99_000).kind, 'none', '0.08 is under 3× the usual 0.05');
  assert.equal(d.observe(0.2, 99_500).kind, 'start');
});

test('a rising score inside an event is an update; the usual level is not learned from the event', () => {
  const d = new ChangeDetector(opts);
  feed(d, [0.002, 0.002, 0.002, 0.002]);
  const before = d.usualChange;
  assert.deepEqual(feed(d, [0.1, 0.15, 0.12, 0.3], 5000), ['start', 'update', 'none', 'update']);
  assert.equal(d.usualChange, before);
  assert.ok(d.isActive);
});
