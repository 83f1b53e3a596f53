import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type AnomalyEvent, type Zone, ZoneSchema } from '@vigil/contracts';
import { ObjectTracker, type TrackInput } from './object-tracker.js';
import { ZoneEvents, inPolygon, trackedObject } from './zone-events.js';
import { OpenEvents } from './open-events.js';

const opts = { minDurationMs: 1000, exitHoldMs: 2000, cooldownMs: 10_000, updateEveryMs: 10_000 };
const zone = (z: Partial<Zone> & Pick<Zone, 'name'>): Zone =>
  ZoneSchema.parse({
    polygon: [
      [0.5, 0],
      [1, 0],
      [1, 1],
      [0.5, 1],
    ],
    ...z,
  });
const iso = (ms: number) => new Date(ms).toISOString();
const person = (x: number, y = 0.4): TrackInput => ({
  label: 'person',
  score: 0.8,
  box: { x, y, w: 0.05, h: 0.2 },
});

/** Runs detection rounds a second apart through a tracker and the zone rules; every message. */
function run(zones: Zone[], rounds: TrackInput[][]): AnomalyEvent[] {
  const tracker = new ObjectTracker();
  const z = new ZoneEvents('cam-1', opts);
  z.configure(zones, 0, iso(0));
  return rounds.flatMap((dets, i) => z.observe(tracker.update(dets, i * 1000), i * 1000, iso(i * 1000)));
}

test('the even-odd rule: inside, outside, and a concave corner', () => {
  const l: [number, number][] = [
    [0, 0],
    [1, 0],
    [1, 0.5],
    [0.5, 0.5],
    [0.5, 1],
    [0, 1],
  ];
  assert.ok(inPolygon(0.25, 0.75, l));
  assert.ok(inPolygon(0.75, 0.25, l));
  assert.ok(!inPolygon(0.75, 0.75, l));
  assert.ok(!inPolygon(1.5, 0.25, l));
});

test('a person walking into a forbidden zone starts zone_entered with its track id; leaving ends it', () => {
  // walks left to right across the middle line x = 0.5, then back out
  const xs = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.65, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.02];
  const msgs = run(
    [zone({ name: 'rails', forbidden: true })],
    xs.map((x) => [person(x)]),
  );
  assert.deepEqual(
    msgs.map((m) => [m.kind, m.phase]),
    [
      ['zone_entered', 'start'],
      ['zone_entered', 'end'],
    ],
  );
  const [start, end] = msgs as [AnomalyEvent, AnomalyEvent];
  assert.equal(start.zone, 'rails');
  assert.equal(start.objects?.length, 1);
  assert.match(start.description, /A person entered forbidden zone "rails" \(track \d+\)/);
  assert.ok(start.description.includes(`track ${start.objects[0]!.trackId}`));
  assert.equal(start.eventId, end.eventId);
  // its foot crossed x = 0.5 when the box's left edge was at 0.475: the round at 0.5
  assert.equal(start.startedAt, iso(4000));
  assert.ok(start.region && start.region.x >= 0.5);
});

test('a person walking through a zone whose rule is about vehicles raises nothing', () => {
  const xs = Array.from({ length: 20 }, (_, i) => 0.05 + i * 0.045);
  const msgs = run(
    [zone({ name: 'yard', classes: ['vehicle'], forbidden: true, maxDwellS: 5 })],
    xs.map((x) => [person(x)]),
  );
  assert.deepEqual(msgs, []);
});

test('a vehicle parked over the dwell limit starts loitering, not before; a passing one never', () => {
  const van: TrackInput = { label: 'truck', score: 0.7, box: { x: 0.6, y: 0.3, w: 0.2, h: 0.15 } };
  const rounds = Array.from({ length: 40 }, (_, i) => (i >= 5 && i < 30 ? [van] : []));
  const msgs = run([zone({ name: 'gate', classes: ['vehicle'], maxDwellS: 15 })], rounds);
  assert.deepEqual(
    msgs.map((m) => [m.kind, m.phase, m.observedAt]),
    [
      ['loitering', 'start', iso(20_000)],
      ['loitering', 'update', iso(30_000)],
      // gone at 30 s; its track is kept on its prediction for 3 s, then the 2 s exit hold
      ['loitering', 'end', iso(35_000)],
    ],
  );
  assert.equal(msgs.at(-1)!.endedAt, iso(33_000));
  assert.match(msgs[0]!.description, /A truck in zone "gate" for 15 s, over its 15 s limit \(track \d+\)/);
  assert.equal(msgs.at(-1)!.phase, 'end');
  // a car driving through the same zone in 6 s
  const drive = Array.from({ length: 12 }, (_, i) => [
    { label: 'car', score: 0.8, box: { x: 0.45 + i * 0.04, y: 0.3, w: 0.1, h: 0.1 } },
  ]);
  assert.deepEqual(run([zone({ name: 'gate', classes: ['vehicle'], maxDwellS: 15 })], drive), []);
});

test('more people than a zone allows, for the minimum duration, is crowding; the open set is EventState material', () => {
  const events = new OpenEvents('cam-1', opts);
  const tracker = new ObjectTracker();
  events.zones.configure([zone({ name: 'dock', maxCount: 2 })], 0, iso(0));
  const crowd = [person(0.55), person(0.65), person(0.75), person(0.85)];
  const msgs: AnomalyEvent[] = [];
  for (let i = 0; i < 6; i++) {
    const dets = i < 2 ? crowd.slice(0, 2) : crowd;
    msgs.push(...events.zones.observe(tracker.update(dets, i * 1000), i * 1000, iso(i * 1000)));
  }
  assert.deepEqual(
    msgs.map((m) => [m.kind, m.phase]),
    [['crowding', 'start']],
  );
  assert.match(msgs[0]!.description, /^4 people in zone "dock", over its limit of 2 \(tracks /);
  assert.equal(events.size, 1);
  assert.deepEqual(
    events.entries().map((e) => [e.kind, e.eventId]),
    [['crowding', msgs[0]!.eventId]],
  );
  assert.deepEqual(events.idsBefore(10_000), [msgs[0]!.eventId]);
  // the camera goes silent: the zone's event closes with the others
  const closed = events.closeAll([], 20_000, 'no frames for 45 s');
  assert.deepEqual(
    closed.map((m) => [m.kind, m.phase, m.endReason]),
    [['crowding', 'end', 'no frames for 45 s']],
  );
  assert.equal(events.size, 0);
});

test('changing a zone ends its open event; a zone needs a rule and known classes', () => {
  const tracker = new ObjectTracker();
  const z = new ZoneEvents('cam-1', opts);
  z.configure([zone({ name: 'rails', forbidden: true })], 0, iso(0));
  let msgs: AnomalyEvent[] = [];
  for (let i = 0; i < 3; i++)
    msgs = z.observe(tracker.update([person(0.7)], i * 1000), i * 1000, iso(i * 1000));
  assert.equal(z.size, 1);
  const ended = z.configure(
    [zone({ name: 'rails', forbidden: true, classes: ['vehicle'] })],
    3000,
    iso(3000),
  );
  assert.deepEqual(
    ended.map((m) => [m.phase, m.endReason]),
    [['end', 'the zone’s rule was changed']],
  );
  assert.equal(z.size, 0);
  assert.deepEqual(msgs, []);
  const noRule = ZoneSchema.safeParse({
    name: 'x',
    polygon: [
      [0, 0],
      [1, 0],
      [1, 1],
    ],
  });
  assert.ok(!noRule.success);
  assert.match(noRule.error.issues[0]!.message, /needs a rule/);
  const badClass = ZoneSchema.safeParse({
    name: 'x',
    polygon: [
      [0, 0],
      [1, 0],
      [1, 1],
    ],
    forbidden: true,
    classes: ['forklift'],
  });
  assert.ok(!badClass.success);
  assert.match(badClass.error.issues[0]!.message, /must be "vehicle" or a detector class: person, /);
});

test('an object listed in a message has its box cut to the picture', () => {
  const o = trackedObject(
    {
      id: '4',
      label: 'person',
      score: 0.81234,
      box: { x: -0.05, y: 0.9, w: 0.1, h: 0.2 },
      firstSeenAt: 0,
      lastSeenAt: 1000,
      confirmed: true,
      missed: false,
      from: { x: 0, y: 0 },
      to: { x: 0, y: 0 },
    },
    2500,
  );
  assert.deepEqual(o, {
    trackId: '4',
    label: 'person',
    score: 0.812,
    box: { x: 0, y: 0.9, w: 0.05, h: 0.1 },
    dwellS: 2.5,
  });
});

test('a guarded bag taken away is object_removed until it is back; a short gap or a bag never guarded is nothing', () => {
  const bag: TrackInput = { label: 'backpack', score: 0.6, box: { x: 0.7, y: 0.6, w: 0.05, h: 0.08 } };
  const guardZone = zone({ name: 'desk', classes: ['backpack', 'suitcase'], guardAfterS: 30 });
  // there from 0 s, hidden 45–50 s (a person in front), taken at 60 s, back (a new track) at 90 s
  const rounds = Array.from({ length: 110 }, (_, i) =>
    (i >= 45 && i < 50) || (i >= 60 && i < 90) ? [] : [bag],
  );
  const msgs = run([guardZone], rounds);
  assert.deepEqual(
    msgs.map((m) => [m.kind, m.phase, m.startedAt, m.observedAt]),
    [
      // last seen at 59 s, taken once gone for 10 s; back at 90 s (a new track, confirmed at 91 s), ended
      // after the 2 s hold
      ['object_removed', 'start', iso(59_000), iso(69_000)],
      ['object_removed', 'update', iso(59_000), iso(79_000)],
      ['object_removed', 'update', iso(59_000), iso(89_000)],
      ['object_removed', 'end', iso(59_000), iso(93_000)],
    ],
  );
  assert.match(
    msgs[0]!.description,
    /^A backpack taken from zone "desk" \(track \d+\), where it had stood for 59 s\.$/,
  );
  assert.equal(msgs[0]!.zone, 'desk');
  assert.equal(msgs[0]!.objects?.[0]?.label, 'backpack');
  // a bag there for less than guardAfterS, then gone: never guarded
  const brief = Array.from({ length: 60 }, (_, i) => (i < 20 ? [bag] : []));
  assert.deepEqual(run([guardZone], brief), []);
  // taken for good: let go after a minute
  const gone = run(
    [guardZone],
    Array.from({ length: 140 }, (_, i) => (i < 40 ? [bag] : [])),
  );
  assert.deepEqual(
    gone.map((m) => [m.phase, m.observedAt]),
    [
      ['start', iso(49_000)],
      ['update', iso(59_000)],
      ['update', iso(69_000)],
      ['update', iso(79_000)],
      ['update', iso(89_000)],
      ['end', iso(101_000)],
    ],
  );
});
