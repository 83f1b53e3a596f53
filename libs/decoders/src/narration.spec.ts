import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anomalyEventId, summaryId } from '@vigil/contracts';
import { type ClosedWindow } from '@vigil/windows';
import { type DecodeResult } from './decoder.js';
import { StreamNarration, rollupChild, windowSummary, windowSummaryId } from './narration.js';

const T0 = Date.parse('2026-03-01T10:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const BLUR = anomalyEventId('cam-1', 'blur', iso(T0 + 4000));
const SETTINGS = { strideS: 10, mergeBelow: 0, tokenBudget: 0, tokensPerFrame: 1 };
const grounded: DecodeResult = {
  summary: 'Quiet.',
  findings: [],
  decoder: { type: 'grounded', fallback: false },
};

/** Samples every second from `from` to `to` (exclusive), activity 0.1; the cadence windows they closed. */
function feed(n: StreamNarration, from: number, to: number): ClosedWindow[] {
  const closed: ClosedWindow[] = [];
  for (let t = from; t < to; t += 1000) closed.push(...n.add({ at: t, change: 0.1 }));
  return closed;
}

test('windows of length 2 S close every stride, and a settings change makes a new window', () => {
  const n = new StreamNarration({ minuteMs: 60_000, hourMs: 3_600_000 });
  assert.equal(n.configure(SETTINGS), false, 'the first settings are not a change');
  assert.equal(n.configure(SETTINGS), false);
  const closed = feed(n, T0, T0 + 31_000);
  assert.deepEqual(
    closed.map((w) => [w.start - T0, w.end - T0, w.samples.length]),
    [
      [-10_000, 10_000, 10],
      [0, 20_000, 20],
      [10_000, 30_000, 20],
    ],
  );
  assert.equal(n.lastAt, T0 + 30_000);
  assert.equal(n.configure({ ...SETTINGS, lengthS: 30 }), true);
  // the new window starts empty: the old one's samples were let go
  assert.equal(n.cut('request'), null);
  feed(n, T0 + 31_000, T0 + 33_000);
  assert.equal(n.cut('request')!.samples.length, 2);
});

test('a cut window is narrated at once and is not rolled up; anomalies noted ride with their window', () => {
  const n = new StreamNarration({ minuteMs: 60_000, hourMs: 3_600_000 });
  n.configure(SETTINGS);
  feed(n, T0, T0 + 5000);
  n.noteAnomaly({ at: T0 + 4000, kind: 'blur', score: 1.3, eventId: BLUR });
  const cut = n.cut('anomaly', T0 + 4000)!;
  assert.equal(cut.trigger, 'anomaly');
  assert.equal(cut.end, T0 + 4000);
  assert.deepEqual(
    cut.anomalies.map((a) => a.eventId),
    [BLUR],
  );
  n.submitted(cut);
  assert.deepEqual(n.narrated('cam-1', 'cam-1', cut, grounded, { eventIds: [BLUR], strideMs: 10_000 }), []);
  assert.equal(n.rollups.pending, 0, 'only cadence windows are announced to their minute');
  assert.equal(windowSummaryId('cam-1', cut), summaryId('cam-1', 'window/anomaly', iso(T0 + 4000)));
});

test('a minute closes once its cadence windows are narrated, in whatever order, counting each stride once', () => {
  const n = new StreamNarration({ minuteMs: 20_000, hourMs: 60_000 });
  n.configure(SETTINGS);
  const windows = feed(n, T0, T0 + 41_000);
  assert.equal(windows.length, 4);
  for (const w of windows) n.submitted(w);
  const cut = { eventIds: [] as string[], strideMs: 10_000 };
  // the minute [T0, T0+20 s) holds the windows ending at +10 s and +20 s; narrate the later one first
  assert.deepEqual(n.narrated('cam-1', 'Dock', windows[2]!, grounded, cut), []);
  assert.deepEqual(n.narrated('cam-1', 'Dock', windows[0]!, grounded, cut), []);
  const [minute, ...rest] = n.narrated('cam-1', 'Dock', windows[1]!, grounded, cut);
  assert.deepEqual(rest, []);
  assert.equal(minute!.level, 'minute');
  assert.equal(minute!.summaryId, summaryId('cam-1', 'minute', iso(T0)));
  assert.equal(minute!.windowStart, iso(T0));
  assert.equal(minute!.windowEnd, iso(T0 + 20_000));
  // two strides of 10 samples each, not the 30 the two overlapping windows hold together
  assert.equal(minute!.stats.frames, 20);
  assert.equal(minute!.stats.windows, 2);
  assert.match(minute!.text, /Dock/);
});

test('a window summary carries what the window measured and what the decoder said', () => {
  const n = new StreamNarration({ minuteMs: 60_000, hourMs: 3_600_000 });
  n.configure(SETTINGS);
  const [w] = feed(n, T0, T0 + 11_000).slice(-1);
  const result: DecodeResult = {
    summary: 'A forklift crossed.',
    findings: [{ kind: 'forklift', description: 'a forklift', severity: 'info', confidence: 0.9 }],
    decoder: { type: 'openai', model: 'qwen3-vl', fallback: false },
    tokens: { prompt: 900, completion: 40 },
  };
  const s = windowSummary('cam-1', w!, result, 123.456, [BLUR]);
  assert.equal(s.summaryId, summaryId('cam-1', 'window', iso(w!.start)));
  assert.equal(s.text, 'A forklift crossed.');
  assert.deepEqual(s.eventIds, [BLUR]);
  assert.equal(s.decoder.latencyMs, 123.5);
  assert.deepEqual(s.decoder.tokens, { prompt: 900, completion: 40 });
  assert.equal(s.stats.frames, w!.samples.length);
  assert.ok(Math.abs(s.stats.meanChange - 0.1) < 1e-9);
  // a model's findings count in its minute; grounded ones are the detectors' and do not
  assert.deepEqual(rollupChild(w!, result, [], 10_000).findings, [{ kind: 'forklift', severity: 'info' }]);
  assert.deepEqual(rollupChild(w!, grounded, [], 10_000).findings, []);
  assert.equal(rollupChild(w!, grounded, [], 10_000).frames, 10);
});
