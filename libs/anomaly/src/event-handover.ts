import { type AnomalyEvent, type EventState } from '@vigil/contracts';
import { type Box } from './geometry.js';
import { LABEL, closedMessage, eventMessage, isSceneKind } from './event-messages.js';
import { type OpenEvents } from './open-events.js';
import { type SceneKind } from './scene-scorer.js';
import { isZoneKind } from './zone-events.js';

// Open events change hands with their stream: the analyzer holding a stream publishes its open events
// (EventState, compacted vigil.event-state.v1) when they change and as a heartbeat; the next holder resumes
// them; events of a stream nobody holds are closed once nobody vouched for them for a stale period.

const iso = (ms: number) => new Date(ms).toISOString();

/** The scene model's side of a resumed event (SceneAnomalyModel.resumeEvent). */
export interface ResumesEvents {
  readonly learning: boolean;
  resumeEvent(kind: SceneKind, startedAt: number, peak: number, at: number, region?: Box): void;
}

/** A stream's open events as `owner` holds them now, to publish on vigil.event-state.v1. */
export function eventStateOf(events: OpenEvents, owner: string, now: number): EventState {
  return { streamId: events.streamId, owner, heartbeatAt: iso(now), open: events.entries() };
}

/** Another analyzer vouched for the stream after our last frame of it: it holds the stream now. */
export function heldElsewhere(rec: EventState | undefined, owner: string, lastSeenWall: number): boolean {
  return !!rec && rec.owner !== owner && Date.parse(rec.heartbeatAt) > lastSeenWall;
}

/**
 * The events another analyzer had open on this stream, at its first frame here (`observedAt`, stream time
 * `at`): a detector's event is resumed (same eventId, an update saying so; it ends here when the condition
 * clears) when this analyzer scores the stream from its restored normal; otherwise (still learning it, or
 * a model-flagged event) it is closed with the reason.
 */
export function takeOver(
  rec: EventState,
  events: OpenEvents,
  scene: ResumesEvents,
  observedAt: string,
  at: number,
): AnomalyEvent[] {
  const out: AnomalyEvent[] = [];
  for (const e of rec.open) {
    const facts = {
      eventId: e.eventId,
      streamId: events.streamId,
      kind: e.kind,
      severity: e.severity,
      startedAt: e.startedAt,
      peak: e.peakScore,
      region: e.region,
    };
    const detector = isSceneKind(e.kind);
    if (isSceneKind(e.kind) && !scene.learning && !events.has(e.kind)) {
      const startedAt = Date.parse(e.startedAt);
      scene.resumeEvent(e.kind, startedAt, e.peakScore, at, e.region);
      events.resume(e.kind, e.eventId, startedAt, e.peakScore, e.region);
      out.push(
        eventMessage(facts, {
          phase: 'update',
          score: e.peakScore,
          observedAt,
          description: `${LABEL[e.kind]} continues: this camera moved to another analyzer, which resumed the event.`,
        }),
      );
    } else {
      const why = detector
        ? 'handed over to an analyzer that is learning this camera’s normal again'
        : isZoneKind(e.kind)
          ? 'handed over to another analyzer; its tracker raises it again if the objects are still there'
          : 'handed over to another analyzer; the next narrated window raises it again if it persists';
      out.push(
        eventMessage(facts, {
          phase: 'end',
          score: 0,
          observedAt,
          endedAt: observedAt,
          endReason: why,
          description: `${isSceneKind(e.kind) ? LABEL[e.kind] : e.description} closed: ${why}.`,
        }),
      );
    }
  }
  return out;
}

/** What the janitor closes: end messages, and the emptied EventStates that say so. */
export interface JanitorWork {
  readonly closed: AnomalyEvent[];
  readonly states: EventState[];
}

/**
 * Open events of streams held nowhere (`held` says which are held here) that nobody vouched for within
 * `staleMs` are closed. Every analyzer does this with the same message (ended when last vouched for,
 * observed one stale period later), so repeats are plain duplicates.
 */
export function closeUnvouched(
  states: Iterable<EventState>,
  held: (streamId: string) => boolean,
  now: number,
  staleMs: number,
): JanitorWork {
  const out: JanitorWork = { closed: [], states: [] };
  for (const rec of states) {
    if (!rec.open.length || held(rec.streamId)) continue;
    const beat = Date.parse(rec.heartbeatAt);
    if (now - beat < staleMs) continue;
    const observed = beat + staleMs;
    const why = `no analyzer has vouched for it since ${rec.heartbeatAt}`;
    for (const e of rec.open)
      out.closed.push(
        closedMessage(
          {
            eventId: e.eventId,
            streamId: rec.streamId,
            kind: e.kind,
            severity: e.severity,
            startedAt: e.startedAt,
            peak: e.peakScore,
            region: e.region,
            description: e.description,
          },
          beat,
          observed,
          why,
        ),
      );
    out.states.push({ streamId: rec.streamId, owner: 'janitor', heartbeatAt: iso(observed), open: [] });
  }
  return out;
}
