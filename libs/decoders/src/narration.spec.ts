import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anomalyEventId, summaryId } from '@vigil/contracts';
import { type ClosedWindow } from '@vigil/windows';
import { type DecodeResult } from './decoder.js';
import { GroundedDecoder } from './grounded-decoder.js';
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

test('rollups count every event start once and never say "No anomalies" while an event is open', async () => {
  const n = new StreamNarration({ minuteMs: 60_000, hourMs: 180_000 });
  n.configure(SETTINGS);
  const decoder = new GroundedDecoder();
  const windows: string[] = [];
  const rollups: { level: string; start: number; text: string; anomalies: number }[] = [];
  // events as the analyzer publishes them: noted a moment after they start (their hysteresis)
  const events = [
    {
      id: anomalyEventId('cam-1', 'box-1', iso(T0)),
      kind: 'object_appeared',
      at: T0 + 5_000,
      noted: T0 + 6_500,
      end: T0 + 15_000,
    },
    {
      id: anomalyEventId('cam-1', 'box-2', iso(T0)),
      kind: 'object_appeared',
      at: T0 + 25_000,
      noted: T0 + 26_500,
      end: T0 + 35_000,
    },
    // starts just before the minute ends, noted after its last window was cut and narrated
    {
      id: anomalyEventId('cam-1', 'box-3', iso(T0)),
      kind: 'object_appeared',
      at: T0 + 59_200,
      noted: T0 + 61_000,
      end: T0 + 70_000,
    },
    // open from the first minute across the whole second one
    {
      id: anomalyEventId('cam-1', 'zone-1', iso(T0)),
      kind: 'zone_entered',
      at: T0 + 30_000,
      noted: T0 + 31_000,
      end: T0 + 150_000,
    },
  ];
  for (let t = T0; t < T0 + 200_000; t += 500) {
    for (const e of events) {
      if (e.noted === t) {
        n.noteAnomaly({ at: e.at, kind: e.kind, score: 2, eventId: e.id });
        n.noteStart({ eventId: e.id, kind: e.kind, at: e.at, score: 2 });
      }
      if (e.end === t) n.noteEnd(e.id, t);
    }
    for (const w of n.add({ at: t, change: 0.01 })) {
      n.submitted(w);
      const result = await decoder.decode({ streamId: 'cam-1', window: w, ongoing: n.openAt(w.start) });
      windows.push(result.summary);
      for (const s of n.narrated('cam-1', 'cam-1', w, result, { eventIds: [], strideMs: 10_000 }))
        rollups.push({
          level: s.level,
          start: Date.parse(s.windowStart) - T0,
          text: s.text,
          anomalies: s.stats.anomalies,
        });
    }
  }
  const minutes = rollups.filter((r) => r.level === 'minute');
  assert.deepEqual(
    minutes.map((m) => [m.start, m.anomalies]),
    [
      [0, 4],
      [60_000, 0],
      [120_000, 0],
    ],
    'the four starts of the first minute, box-3 included',
  );
  assert.match(
    minutes[0]!.text,
    /4 anomalies: object appeared ×3 \(first at 10:00:05\); zone entered at 10:00:30\./,
  );
  assert.match(
    minutes[1]!.text,
    /No new anomalies; still open: zone entered \(since 10:00:30\), object appeared \(since 10:00:59\)\./,
  );
  assert.doesNotMatch(minutes[1]!.text, /No anomalies/);
  assert.match(minutes[2]!.text, /still open: zone entered/, 'open when the third minute began');
  const hour = rollups.find((r) => r.level === 'hour')!;
  assert.equal(hour.anomalies, 4, 'the hour counts what its minutes counted');
  // a window inside the zone event does not say "No anomalies" either
  const during = windows.filter((w) => /, 10:01:[0-4]0–/.test(w));
  assert.equal(during.length, 5);
  for (const w of during) assert.match(w, /No new anomalies; still open: zone entered \(since 10:00:30\)/, w);
});
