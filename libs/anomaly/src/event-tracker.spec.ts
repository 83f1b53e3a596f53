import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventTracker, type TrackerDecision } from './event-tracker.js';

const opts = {
  enter: 1,
  exit: 0.6,
  minDurationMs: 1000,
  exitHoldMs: 2000,
  cooldownMs: 10_000,
  updateEveryMs: 5000,
};

function feed(t: EventTracker, series: [number, number][]): TrackerDecision[] {
  return series.map(([at, score]) => t.observe(score, at)).filter((d) => d.phase !== 'none');
}

test('a single spike shorter than the minimum duration opens nothing', () => {
  const t = new EventTracker(opts);
  assert.deepEqual(
    feed(t, [
      [0, 0.2],
      [500, 2],
      [1000, 0.3],
      [1500, 0.2],
    ]),
    [],
  );
});

test('a 20 s anomaly with a score wobbling around the thresholds is one start, some updates and one end', () => {
  const t = new EventTracker(opts);
  const series: [number, number][] = [];
  for (let ms = 0; ms < 40_000; ms += 200) {
    const inside = ms >= 10_000 && ms < 30_000;
    // before: bumps to 0.9 (under enter) must not open one; inside: dips to 0.7 (over exit) must not end it
    const wobble = Math.sin(ms / 700);
    series.push([ms, inside ? 1.5 + 0.8 * wobble : ms < 10_000 ? 0.5 + 0.4 * Math.max(0, wobble) : 0.2]);
  }
  const d = feed(t, series);
  assert.deepEqual(d.filter((x) => x.phase === 'start').length, 1);
  assert.deepEqual(d.filter((x) => x.phase === 'end').length, 1);
  const updates = d.filter((x) => x.phase === 'update');
  assert.ok(updates.length >= 2 && updates.length <= 8, `${updates.length} updates`);
  const start = d.find((x) => x.phase === 'start')!;
  const end = d.find((x) => x.phase === 'end')!;
  assert.ok(start.phase === 'start' && start.startedAt >= 10_000 && start.startedAt <= 10_400);
  // the end is dated when the score went calm, not when the hold ran out
  assert.ok(
    end.phase === 'end' && end.endedAt >= 30_000 && end.endedAt <= 30_400,
    `ended ${end.phase === 'end' && end.endedAt}`,
  );
  assert.ok(
    d.every((x) => x.phase === 'none' || x.startedAt === start.startedAt),
    'one event throughout',
  );
});

test('after an end, the cooldown keeps a flapping condition from reopening at once', () => {
  const t = new EventTracker(opts);
  const d = feed(t, [
    [0, 2],
    [1000, 2],
    [2000, 0.1],
    [4000, 0.1],
    [5000, 2],
    [6000, 2],
    [7000, 2],
    [20_000, 2],
    [21_000, 2],
  ]);
  assert.deepEqual(
    d.map((x) => [x.phase, x.phase === 'end' ? x.endedAt : 'startedAt' in x ? x.startedAt : -1]),
    [
      ['start', 0],
      ['end', 2000],
      ['start', 20_000],
    ],
  );
});

test('resume carries an event over a restart; close ends it from outside', () => {
  const t = new EventTracker(opts);
  t.resume(5000, 1.8, 9000);
  assert.equal(t.active, true);
  assert.deepEqual(feed(t, [[10_000, 1.5]]), []);
  assert.deepEqual(t.close(11_000), { startedAt: 5000, endedAt: 11_000, peak: 1.8 });
  assert.equal(t.close(12_000), null);
  assert.throws(() => new EventTracker({ ...opts, exit: 1.2 }), /exit must be below enter/);
});

test('a score that needed time to build dates its event from `since`', () => {
  const plain = new EventTracker({ ...opts, minDurationMs: 0 });
  const a = plain.observe(1.4, 3000);
  assert.ok(a.phase === 'start' && a.startedAt === 3000);
  const built = new EventTracker({ ...opts, minDurationMs: 0 });
  const b = built.observe(1.4, 3000, 1500);
  assert.ok(b.phase === 'start' && b.startedAt === 1500);
});
