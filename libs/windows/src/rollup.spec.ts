import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type RollupChild, Rollups, mergeChildren } from './rollup.js';

const child = (start: number, end: number, extra: Partial<RollupChild> = {}): RollupChild => ({
  start,
  end,
  frames: 2,
  sumChange: 0.2,
  maxChange: 0.15,
  anomalies: [],
  eventIds: [],
  findings: [],
  windows: 1,
  fallbacks: 0,
  ...extra,
});

test('windows roll up into minutes and minutes into hours, each closing once nothing more can come', () => {
  // a shortened clock: "minutes" of 4 s, "hours" of 12 s, windows every 2 s
  const r = new Rollups([
    { name: 'minute', ms: 4_000 },
    { name: 'hour', ms: 12_000 },
  ]);
  const closed: string[] = [];
  for (let end = 2_000; end <= 26_000; end += 2_000) {
    r.expect(end);
    for (const c of r.deliver(child(end - 2_000, end)))
      closed.push(`${c.level} ${c.start}-${c.end} ×${c.children.length}`);
  }
  assert.deepEqual(closed, [
    'minute 0-4000 ×2',
    'minute 4000-8000 ×2',
    'minute 8000-12000 ×2',
    'hour 0-12000 ×3',
    'minute 12000-16000 ×2',
    'minute 16000-20000 ×2',
    'minute 20000-24000 ×2',
    'hour 12000-24000 ×3',
  ]);
  assert.equal(r.pending, 1, 'the open hour waits for its open minute');
});

test('a window narrated late still lands in its minute, which waits for it', () => {
  const r = new Rollups([{ name: 'minute', ms: 4_000 }]);
  r.expect(2_000);
  r.expect(4_000);
  r.expect(6_000); // the first minute is superseded, but its windows are not all in
  assert.deepEqual(r.deliver(child(4_000, 6_000)), []);
  assert.deepEqual(r.deliver(child(2_000, 4_000)), []);
  const [m] = r.deliver(child(0, 2_000));
  assert.equal(m?.start, 0);
  assert.deepEqual(
    m?.children.map((c) => c.start),
    [0, 2_000],
  );
});

test('a rollup sums frames and keeps each event once', () => {
  const a = { at: 1_000, kind: 'frozen', score: 2, eventId: 'e1' };
  const m = mergeChildren(0, 4_000, [
    child(0, 2_000, { anomalies: [a], eventIds: ['e1'], maxChange: 0.5 }),
    child(2_000, 4_000, { anomalies: [a], eventIds: ['e1', 'e2'], fallbacks: 1 }),
  ]);
  assert.equal(m.frames, 4);
  assert.equal(m.maxChange, 0.5);
  assert.equal(m.anomalies.length, 1);
  assert.deepEqual(m.eventIds, ['e1', 'e2']);
  assert.equal(m.windows, 2);
  assert.equal(m.fallbacks, 1);
});

test('a rollup period must be a whole number of the one below', () => {
  assert.throws(
    () =>
      new Rollups([
        { name: 'minute', ms: 60_000 },
        { name: 'hour', ms: 90_000 },
      ]),
    /whole number of minutes/,
  );
});
