import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AnomalyEvent, Summary } from '@vigil/contracts';
import { GatewayRepository } from './repository.js';

const T0 = Date.parse('2026-11-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const narrative = 'A forklift crosses the aisle from left to right; the conveyor runs. '.repeat(10);

const summary = (i: number, level: Summary['level'] = 'window') =>
  ({
    summaryId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    streamId: `cam-${i % 4}`,
    level,
    windowStart: iso(T0 + i * 5000 - 5000),
    windowEnd: iso(T0 + i * 5000),
    text: narrative,
    findings: [],
  }) as unknown as Summary;

const event = (i: number, phase: AnomalyEvent['phase']) =>
  ({
    eventId: `10000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    streamId: `cam-${i % 4}`,
    kind: 'scene.covered',
    severity: 'warning',
    phase,
    startedAt: iso(T0 + i * 60_000),
    observedAt: iso(T0 + i * 60_000 + 1000),
    description: narrative,
    evidence: { mime: 'image/jpeg', base64: Buffer.alloc(20_000, i).toString('base64') },
  }) as unknown as AnomalyEvent;

function withStore(fn: (store: GatewayRepository, path: string) => void) {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-store-'));
  const path = join(dir, 'gateway.db');
  const store = new GatewayRepository(path);
  try {
    fn(store, path);
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('trimming deletes the oldest window summaries first, then ended events, then roll-ups; open events stay', () => {
  withStore((store) => {
    store.batch(() => {
      for (let i = 0; i < 3000; i++) store.putSummary(summary(i));
      for (let i = 0; i < 50; i++) store.putSummary(summary(10_000 + i, 'minute'));
      for (let i = 0; i < 100; i++) store.putAnomaly(event(i, i < 90 ? 'end' : 'start'));
    });
    const full = store.usedBytes();
    assert.deepEqual(store.trimTo(full), { windowSummaries: 0, endedEvents: 0, rollups: 0 });

    // a limit the window summaries alone can make: only they go, oldest first
    const t1 = store.trimTo(full - 1_000_000);
    assert.ok(t1.windowSummaries > 0 && t1.endedEvents === 0 && t1.rollups === 0, JSON.stringify(t1));
    assert.ok(store.usedBytes() <= full - 1_000_000);
    const windows = store.summaries({ level: 'window', limit: 5000 }).items;
    assert.equal(windows.length, 3000 - t1.windowSummaries);
    const oldestKept = Math.min(...windows.map((w) => Date.parse(w.windowEnd)));
    assert.equal(oldestKept, T0 + t1.windowSummaries * 5000);

    // a limit below what is left once every window summary is gone (the events' evidence is 1.8 MB):
    // ended events go next, the roll-ups and open events stay
    const t2 = store.trimTo(store.usedBytes() / 4);
    assert.equal(store.summaries({ level: 'window', limit: 5000 }).items.length, 0);
    assert.deepEqual(t2, { windowSummaries: 3000 - t1.windowSummaries, endedEvents: 90, rollups: 0 });
    assert.equal(store.summaries({ level: 'minute', limit: 100 }).items.length, 50);
    assert.equal(store.anomalies({ state: 'open', limit: 100 }).items.length, 10);
    // no limit can take the open events: the roll-ups go and it stops
    assert.deepEqual(store.trimTo(0), { windowSummaries: 0, endedEvents: 0, rollups: 50 });
    assert.equal(store.anomalies({ state: 'open', limit: 100 }).items.length, 10);
  });
});

test('kept under a limit while summaries keep coming, the file stops growing', () => {
  withStore((store, path) => {
    const limit = 2 * 1024 * 1024;
    const sizes: number[] = [];
    for (let round = 0; round < 20; round++) {
      store.batch(() => {
        for (let i = 0; i < 1000; i++) store.putSummary(summary(round * 1000 + i));
      });
      store.trimTo(limit);
      assert.ok(store.usedBytes() <= limit);
      sizes.push(statSync(path).size);
    }
    // 20 000 summaries of ~1 KB went in (20 MB and more untrimmed); the file reuses what was freed
    assert.ok(Math.max(...sizes) < 3 * limit, sizes.join(' '));
    assert.ok(sizes.at(-1)! <= Math.max(...sizes.slice(0, 10)) * 1.1, sizes.join(' '));
    // the newest are the ones kept
    const kept = store.summaries({ limit: 1 }).items[0]!;
    assert.equal(kept.windowEnd, iso(T0 + 19_999 * 5000));
  });
});
