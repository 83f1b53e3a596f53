import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type EventState, anomalyEventId } from '@vigil/contracts';
import {
  type ResumesEvents,
  closeUnvouched,
  eventStateOf,
  heldElsewhere,
  takeOver,
} from './event-handover.js';
import { OpenEvents } from './open-events.js';
import { type SceneKind } from './scene-scorer.js';

const T0 = Date.parse('2026-03-01T10:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const DARK = anomalyEventId('cam-1', 'too_dark', iso(T0));
const SMOKE = anomalyEventId('cam-1', 'model.flagged/smoke', iso(T0 + 1000));

function held(owner: string, beat: number): EventState {
  return {
    streamId: 'cam-1',
    owner,
    heartbeatAt: iso(beat),
    open: [
      {
        eventId: DARK,
        kind: 'too_dark',
        severity: 'warning',
        startedAt: iso(T0),
        peakScore: 1.8,
        region: { x: 0, y: 0, w: 1, h: 1 },
        description: 'Picture too dark',
      },
      {
        eventId: SMOKE,
        kind: 'model.flagged',
        severity: 'critical',
        startedAt: iso(T0 + 1000),
        peakScore: 0.8,
        description: 'smoke by the press',
      },
    ],
  };
}

class Scene implements ResumesEvents {
  resumed: [SceneKind, number, number, number][] = [];
  constructor(readonly learning: boolean) {}
  resumeEvent(kind: SceneKind, startedAt: number, peak: number, at: number): void {
    this.resumed.push([kind, startedAt, peak, at]);
  }
}

test('taking over from a restored normal resumes a detector event under its id and closes a model event', () => {
  const events = new OpenEvents('cam-1');
  const scene = new Scene(false);
  const at = T0 + 30_000;
  const out = takeOver(held('a', T0 + 20_000), events, scene, iso(at), at);
  assert.deepEqual(
    out.map((e) => [e.eventId, e.phase]),
    [
      [DARK, 'update'],
      [SMOKE, 'end'],
    ],
  );
  assert.match(out[0]!.description, /^Picture too dark continues: this camera moved to another analyzer/);
  assert.equal(out[0]!.startedAt, iso(T0));
  assert.match(out[1]!.endReason!, /next narrated window raises it again/);
  assert.equal(out[1]!.description.startsWith('smoke by the press closed:'), true);
  assert.deepEqual(scene.resumed, [['too_dark', T0, 1.8, at]]);
  // the resumed event is held here now, with its id and region
  assert.deepEqual(
    eventStateOf(events, 'b', at).open.map((e) => [e.eventId, e.kind, e.region]),
    [[DARK, 'too_dark', { x: 0, y: 0, w: 1, h: 1 }]],
  );
});

test('taking over while learning the normal again closes the detector event with the reason', () => {
  const events = new OpenEvents('cam-1');
  const scene = new Scene(true);
  const out = takeOver(held('a', T0), events, scene, iso(T0 + 5000), T0 + 5000);
  assert.deepEqual(
    out.map((e) => [e.eventId, e.phase, e.endedAt]),
    [
      [DARK, 'end', iso(T0 + 5000)],
      [SMOKE, 'end', iso(T0 + 5000)],
    ],
  );
  assert.match(out[0]!.endReason!, /learning this camera’s normal again/);
  assert.deepEqual(scene.resumed, []);
  assert.equal(events.size, 0);
});

test('a stream is held elsewhere only when another owner vouched for it after our last frame', () => {
  assert.equal(heldElsewhere(undefined, 'me', T0), false);
  assert.equal(heldElsewhere(held('me', T0 + 9000), 'me', T0), false);
  assert.equal(heldElsewhere(held('other', T0 - 1), 'me', T0), false);
  assert.equal(heldElsewhere(held('other', T0 + 1), 'me', T0), true);
});

test('the janitor closes what nobody vouched for within the stale period, the same way on every analyzer', () => {
  const staleMs = 30_000;
  const beat = T0 + 10_000;
  const states = [held('gone', beat), { ...held('gone', beat), streamId: 'cam-2' }];
  // not yet stale, or held here: nothing
  assert.deepEqual(
    closeUnvouched(states, () => false, beat + staleMs - 1, staleMs),
    { closed: [], states: [] },
  );
  assert.deepEqual(
    closeUnvouched(states, () => true, beat + 99_000, staleMs),
    { closed: [], states: [] },
  );
  const a = closeUnvouched(states, (id) => id === 'cam-2', beat + 99_000, staleMs);
  const b = closeUnvouched(states, (id) => id === 'cam-2', beat + 50_000, staleMs);
  assert.deepEqual(a, b, 'the messages do not depend on when the janitor ran');
  assert.deepEqual(
    a.closed.map((e) => [e.streamId, e.eventId, e.endedAt, e.observedAt, e.severity]),
    [
      ['cam-1', DARK, iso(beat), iso(beat + staleMs), 'warning'],
      ['cam-1', SMOKE, iso(beat), iso(beat + staleMs), 'critical'],
    ],
  );
  assert.equal(a.closed[0]!.endReason, `no analyzer has vouched for it since ${iso(beat)}`);
  assert.deepEqual(a.states, [
    { streamId: 'cam-1', owner: 'janitor', heartbeatAt: iso(beat + staleMs), open: [] },
  ]);
  // an emptied state is not closed again
  assert.deepEqual(closeUnvouched(a.states, () => false, beat + 99_000, staleMs).closed, []);
});
