import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GroundedDecoder, activityLevel } from './grounded-decoder.js';

const start = Date.parse('2026-03-01T10:00:00Z');

test('narrates frames, activity and each anomaly with its time, and only what was measured', async () => {
  const r = await new GroundedDecoder().decode({
    streamId: 'dock-3',
    streamName: 'Loading dock 3',
    window: {
      start,
      end: start + 10_000,
      samples: Array.from({ length: 20 }, (_, i) => ({
        at: start + i * 500,
        change: i === 8 ? 0.12 : 0.002,
      })),
      anomalies: [{ at: start + 4_000, kind: 'object_appeared', score: 0.12 }],
      trigger: 'cadence',
      frames: [],
      merged: 0,
      dropped: 0,
    },
  });
  assert.equal(
    r.summary,
    'Loading dock 3 (dock-3), 10:00:00–10:00:10 UTC: 20 frames sampled (2.0 fps). Scene activity low (on average 0.8% of the picture changing between samples, peak 12.0%). 1 anomaly: object appeared at 10:00:04 (score 0.12).',
  );
  assert.deepEqual(r.decoder, { type: 'grounded', fallback: false });
  assert.equal(r.findings.length, 1);
  assert.equal(r.findings[0]?.kind, 'object_appeared');
});

test('a quiet window says so', async () => {
  const r = await new GroundedDecoder().decode({
    streamId: 'cam-1',
    window: {
      start,
      end: start + 10_000,
      samples: [{ at: start, change: 0.001 }],
      anomalies: [],
      trigger: 'cadence',
      frames: [],
      merged: 0,
      dropped: 0,
    },
  });
  assert.match(
    r.summary,
    /^cam-1, 10:00:00–10:00:10 UTC: 1 frame sampled \(0\.1 fps\)\. Scene activity still .* No anomalies\.$/,
  );
});

test('activity levels', () => {
  assert.deepEqual([0, 0.01, 0.03, 0.2].map(activityLevel), ['still', 'low', 'moderate', 'high']);
});
