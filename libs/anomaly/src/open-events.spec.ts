import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anomalyEventId, summaryId } from '@vigil/contracts';
import { closedMessage, describeStart, eventMessage, severityOf } from './event-messages.js';
import { type FindingsWindow, OpenEvents } from './open-events.js';
import { SCENE_KINDS, type SceneEvent, type SceneKind, type SceneResult } from './scene-scorer.js';

const T0 = Date.parse('2026-03-01T10:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

function result(over: Partial<SceneResult> = {}): SceneResult {
  const scores = Object.fromEntries(SCENE_KINDS.map((k) => [k, 0])) as Record<SceneKind, number>;
  return {
    learning: false,
    scores: { ...scores, object_appeared: 1.4 },
    frameScore: 1.4,
    events: [],
    rising: false,
    health: {
      luma: 0.12,
      dark: 0.8,
      bright: 0.01,
      spread: 0.1,
      texture: 0.1,
      focus: 0.1,
      flat: 0.93,
      spreads: new Float32Array(4),
      motion: 0,
    },
    novelFraction: 0.25,
    ...over,
  };
}

const ev = (kind: SceneKind, phase: SceneEvent['phase'], at: number, extra: Partial<SceneEvent> = {}) => ({
  kind,
  phase,
  startedAt: T0,
  score: 1.5,
  peak: 1.5,
  ...extra,
  ...(phase === 'end' ? { endedAt: at } : {}),
});

const modelWindow = (start: number, end: number, trigger: FindingsWindow['trigger'] = 'cadence') => ({
  start,
  end,
  trigger,
  summaryId: summaryId('cam-1', 'window', iso(end)),
  decoder: { type: 'openai', model: 'qwen3-vl', fallback: false },
});

test('a detector event: start, update and end share id, start and the highest peak seen', () => {
  const events = new OpenEvents('cam-1');
  const box = { x: 0.1, y: 0.2, w: 0.3, h: 0.4 };
  const start = events.sceneEvent(ev('lens_covered', 'start', T0, { region: box }), result(), iso(T0), {
    mime: 'image/jpeg',
    base64: 'AAAA',
  });
  assert.equal(start.eventId, anomalyEventId('cam-1', 'lens_covered', iso(T0)));
  assert.equal(start.severity, 'critical');
  assert.match(start.description, /93 % of the picture shows no structure/);
  assert.deepEqual(start.region, box);
  assert.equal(start.evidence?.base64, 'AAAA');
  assert.equal(events.size, 1);
  assert.ok(events.has('lens_covered'));

  const upd = events.sceneEvent(
    ev('lens_covered', 'update', T0 + 10_000, { peak: 2.5 }),
    result(),
    iso(T0 + 10_000),
  );
  assert.equal(upd.eventId, start.eventId);
  assert.equal(upd.peakScore, 2.5);
  assert.equal(upd.evidence, undefined);
  assert.deepEqual(upd.region, box, 'the region stays with the event');
  assert.match(upd.description, /^Lens covered continues after 10 s/);

  const end = events.sceneEvent(
    ev('lens_covered', 'end', T0 + 12_500, { peak: 2.5, score: 0.2 }),
    result(),
    iso(T0 + 13_000),
  );
  assert.equal(end.eventId, start.eventId);
  assert.equal(end.endedAt, iso(T0 + 12_500));
  assert.equal(end.endReason, 'condition cleared');
  assert.match(end.description, /ended after 12\.5 s \(peak score 2\.50\)/);
  assert.equal(events.size, 0);
  assert.deepEqual(events.entries(), []);
});

test('something new in view turns critical at a peak of 2, in its messages and in EventState', () => {
  assert.equal(severityOf('object_appeared', 1.9), 'warning');
  assert.equal(severityOf('object_appeared', 2), 'critical');
  assert.equal(severityOf('too_dark', 9), 'warning');
  const events = new OpenEvents('cam-1');
  const m = events.sceneEvent(ev('object_appeared', 'start', T0, { peak: 2.2 }), result(), iso(T0));
  assert.equal(m.severity, 'critical');
  assert.equal(events.entries()[0]!.severity, 'critical');
  assert.match(describeStart('object_appeared', result()), /25 % of the picture departs .* \(score 1\.40\)/);
});

test('a model finding confirms an open detector event once, and one that ended since is covered', () => {
  const events = new OpenEvents('cam-1');
  events.sceneEvent(ev('blur', 'start', T0), result(), iso(T0));
  const finding = {
    kind: 'Blur',
    description: 'the picture is soft',
    severity: 'warning',
    confidence: 0.8,
  } as const;
  const first = events.applyFindings(modelWindow(T0 - 5000, T0 + 5000), [finding]);
  assert.equal(first.length, 1);
  assert.equal(first[0]!.phase, 'update');
  assert.equal(first[0]!.kind, 'blur');
  assert.match(first[0]!.description, /^Picture out of focus confirmed by the model: the picture is soft/);
  assert.deepEqual(first[0]!.finding, {
    kind: 'Blur',
    confidence: 0.8,
    decoder: 'openai',
    model: 'qwen3-vl',
    summaryId: summaryId('cam-1', 'window', iso(T0 + 5000)),
  });
  assert.deepEqual(events.applyFindings(modelWindow(T0, T0 + 10_000), [finding]), [], 'confirmed once');

  events.sceneEvent(ev('blur', 'end', T0 + 11_000), result(), iso(T0 + 11_000));
  // a later window that began before the detector's event ended: covered, nothing opens
  assert.deepEqual(events.applyFindings(modelWindow(T0 + 5000, T0 + 15_000), [finding]), []);
  // one that began after it: a model-flagged event of its own
  const flagged = events.applyFindings(modelWindow(T0 + 12_000, T0 + 22_000), [finding]);
  assert.equal(flagged[0]?.kind, 'model.flagged');
});

test('a model-flagged event stays open while cadence windows report it and ends at the first that does not', () => {
  const events = new OpenEvents('cam-1');
  const smoke = {
    kind: 'smoke near the press',
    description: 'smoke rises',
    severity: 'critical',
    confidence: 0.7,
  } as const;
  const [start] = events.applyFindings(modelWindow(0, T0), [smoke]);
  assert.equal(start!.phase, 'start');
  assert.equal(start!.severity, 'critical');
  assert.equal(start!.eventId, anomalyEventId('cam-1', 'model.flagged/smoke_near_the_press', iso(T0)));
  assert.equal(events.size, 1);
  // below confidence 0.5 or info: ignored, and on an anomaly-cut window absence means nothing
  assert.deepEqual(events.applyFindings(modelWindow(T0, T0 + 1000, 'anomaly'), []), []);
  assert.deepEqual(events.applyFindings(modelWindow(T0, T0 + 2000), [{ ...smoke, confidence: 0.9 }]), []);
  assert.equal(events.entries()[0]!.peakScore, 0.9);
  // a window older than one already applied cannot end it (results come back out of order)
  assert.deepEqual(events.applyFindings(modelWindow(T0 - 9000, T0 + 1000), []), []);
  const [end] = events.applyFindings(modelWindow(T0, T0 + 10_000), [{ ...smoke, confidence: 0.3 }]);
  assert.equal(end!.phase, 'end');
  assert.equal(end!.eventId, start!.eventId);
  assert.equal(end!.endReason, 'the model no longer reports it');
  assert.match(end!.description, /^Model no longer reports: smoke rises/);
  assert.equal(events.size, 0);
});

test('grounded or fallen-back findings change nothing: they are the detectors own events', () => {
  const events = new OpenEvents('cam-1');
  const f = [{ kind: 'smoke', description: 'smoke', severity: 'critical', confidence: 1 } as const];
  assert.deepEqual(
    events.applyFindings({ ...modelWindow(0, T0), decoder: { type: 'grounded', fallback: false } }, f),
    [],
  );
  assert.deepEqual(
    events.applyFindings({ ...modelWindow(0, T0), decoder: { type: 'openai', fallback: true } }, f),
    [],
  );
  assert.equal(events.size, 0);
});

test('idsBefore lists what was open before a window end; closeAll closes detector and model events with the reason', () => {
  const events = new OpenEvents('cam-1');
  const d = events.sceneEvent(ev('frozen', 'start', T0), result(), iso(T0));
  const [f] = events.applyFindings(modelWindow(0, T0 + 3000), [
    { kind: 'spill', description: 'a spill', severity: 'warning', confidence: 0.9 },
  ]);
  assert.deepEqual(events.idsBefore(T0 + 1), [d.eventId]);
  assert.deepEqual(events.idsBefore(T0 + 3001).sort(), [d.eventId, f!.eventId].sort());
  const now = T0 + 60_000;
  const closed = events.closeAll(
    [{ kind: 'frozen', phase: 'end', startedAt: T0, endedAt: now, score: 0, peak: 1.5 }],
    now,
    'no frames for 60 s',
  );
  assert.deepEqual(
    closed.map((c) => [c.kind, c.eventId, c.endedAt, c.description]),
    [
      ['frozen', d.eventId, iso(now), 'Picture frozen closed: no frames for 60 s.'],
      ['model.flagged', f!.eventId, iso(now), 'a spill closed: no frames for 60 s.'],
    ],
  );
  assert.equal(events.size, 0);
});

test('a resumed event keeps the id it had and ends here', () => {
  const events = new OpenEvents('cam-1');
  const moved = anomalyEventId('cam-1', 'camera_moved', iso(T0));
  events.resume('camera_moved', moved, T0, 3);
  assert.deepEqual(events.entries(), [
    {
      eventId: moved,
      kind: 'camera_moved',
      severity: 'critical',
      startedAt: iso(T0),
      peakScore: 3,
      description: 'Camera moved',
    },
  ]);
  const end = events.sceneEvent(
    { kind: 'camera_moved', phase: 'end', startedAt: T0, endedAt: T0 + 5000, score: 0, peak: 3 },
    result(),
    iso(T0 + 5000),
  );
  // the tracker resumed with the same start, so the id derived from it is the one the event had
  assert.equal(end.eventId, moved);
});

test('eventMessage checks the schema and caps the description; closedMessage names the reason', () => {
  const facts = {
    eventId: anomalyEventId('cam-1', 'too_dark', iso(T0)),
    streamId: 'cam-1',
    kind: 'too_dark',
    severity: 'warning',
    startedAt: T0,
    peak: 1,
  } as const;
  const long = eventMessage(facts, {
    phase: 'start',
    score: 1,
    observedAt: T0,
    description: 'x'.repeat(5000),
  });
  assert.equal(long.description.length, 1000);
  assert.throws(
    () =>
      eventMessage(
        { ...facts, peak: Number.NaN },
        { phase: 'start', score: 1, observedAt: T0, description: 'd' },
      ),
    (e: { issues?: { path: PropertyKey[] }[] }) => e.issues?.some((i) => i.path[0] === 'peakScore') === true,
  );
  const c = closedMessage(facts, T0 + 1000, '2026-03-01T10:00:30.000Z', 'nobody vouched');
  assert.equal(c.score, 0);
  assert.equal(c.observedAt, '2026-03-01T10:00:30.000Z');
  assert.equal(c.endedAt, iso(T0 + 1000));
  assert.equal(c.description, 'Picture too dark closed: nobody vouched.');
});
