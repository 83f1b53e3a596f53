import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SUPERSEDED_AFTER_MS, admitFrame, burstRequests, byStream } from './frame-admission.js';

test('frames on time are analyzed, bursts included; shedding off analyzes everything', () => {
  assert.equal(admitFrame(50, true, 5000), 'analyze');
  assert.equal(admitFrame(SUPERSEDED_AFTER_MS, true, 5000), 'analyze');
  assert.equal(admitFrame(60_000, true, 0), 'analyze');
});

test('a late frame with a newer one of its stream is superseded; the newest is kept until the age limit', () => {
  assert.equal(admitFrame(SUPERSEDED_AFTER_MS + 1, true, 5000), 'superseded');
  assert.equal(admitFrame(SUPERSEDED_AFTER_MS + 1, false, 5000), 'analyze');
  assert.equal(admitFrame(4999, false, 5000), 'analyze');
  assert.equal(admitFrame(5001, false, 5000), 'stale');
  assert.equal(admitFrame(5001, true, 5000), 'stale');
});

test('byStream keeps each stream’s frames in order and streams apart', () => {
  const m = (key: string | null, n: number) => ({ key, n });
  const groups = byStream([m('a', 1), m('b', 2), m('a', 3), m(null, 4), m('b', 5)]);
  assert.deepEqual(
    groups.map((g) => g.map((x) => x.n)),
    [[1, 3], [2, 5], [4]],
  );
});

test('burst requests: one per stream; an event start names its kind over a rising score', () => {
  const now = new Date('2026-12-04T10:00:00Z');
  const got = burstRequests(
    [
      { streamId: 'a', reason: 'score rising' },
      { streamId: 'b', reason: 'score rising' },
    ],
    [
      { streamId: 'a', phase: 'start', kind: 'lens_covered' },
      { streamId: 'c', phase: 'end', kind: 'blur' },
    ],
    now,
  );
  assert.deepEqual(
    got.map((c) => [c.streamId, c.action, c.reason, c.requestedAt]),
    [
      ['a', 'burst', 'lens_covered started', now.toISOString()],
      ['b', 'burst', 'score rising', now.toISOString()],
    ],
  );
  assert.deepEqual(burstRequests([], [], now), []);
});
