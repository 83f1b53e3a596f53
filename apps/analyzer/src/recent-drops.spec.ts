import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecentDrops } from './recent-drops.js';

test('recent drops count the last minute and name the streams that dropped in it', () => {
  let now = 1_000_000;
  const d = new RecentDrops(60, () => now);
  assert.deepEqual(d.last(), { dropped: 0, streams: [] });
  d.add('a');
  d.add('b', 3);
  now += 30_000;
  d.add('a', 2);
  assert.deepEqual(d.last(), { dropped: 6, streams: ['b', 'a'] });
  // 'b' dropped last at 1_000_000, 'a' at 1_030_000: a minute after b, only a's later drops count
  now = 1_000_000 + 61_000;
  assert.deepEqual(d.last(), { dropped: 2, streams: ['a'] });
  now = 1_030_000 + 61_000;
  assert.deepEqual(d.last(), { dropped: 0, streams: [] });
});

test('a slot reused a minute later starts again from zero', () => {
  let now = 5_000;
  const d = new RecentDrops(60, () => now);
  d.add('a', 10);
  now += 60_000; // the same slot of the ring, a minute on
  d.add('a', 1);
  assert.equal(d.last().dropped, 1);
});

test('a flood of drops leaves the tally the same size', () => {
  let now = 0;
  const d = new RecentDrops(60, () => now);
  // 10 minutes at 250 drops a second over 12 streams
  for (let i = 0; i < 150_000; i++) {
    now = Math.floor(i / 250) * 1000 + (i % 250) * 4;
    d.add(`cam-${i % 12}`);
  }
  const l = d.last();
  assert.equal(l.dropped, 60 * 250);
  assert.equal(l.streams.length, 12);
  // the ring and the per-stream map are all it holds
  const held = d as unknown as { counts: number[]; lastDrop: Map<string, number> };
  assert.equal(held.counts.length, 60);
  assert.equal(held.lastDrop.size, 12);
});
