import {
  type AnomalyEvent,
  type TrackedObject,
  VEHICLE_CLASSES,
  type Zone,
  anomalyEventId,
} from '@vigil/contracts';
import { EventTracker, type EventTrackerOptions } from './event-tracker.js';
import { type EventFacts, closedMessage, eventMessage } from './event-messages.js';
import { type Box } from './geometry.js';
import { type Track, boxIou, family } from './object-tracker.js';

export type ZoneKind = 'zone_entered' | 'loitering' | 'crowding' | 'object_removed';
export const ZONE_KINDS: readonly ZoneKind[] = ['zone_entered', 'loitering', 'crowding', 'object_removed'];

/** A guarded object gone this long is taken away (a missed detection or two is not). */
export const REMOVED_AFTER_MS = 10_000;
/** A taken object not back within this is let go: the zone's new state is accepted and the event ends. */
export const REMOVED_FORGET_MS = 60_000;

/** An object a guarding rule watches: where it stood, and since when it is gone (if it is). */
interface Guarded {
  trackId: string;
  readonly label: string;
  box: Box;
  score: number;
  readonly since: number;
  lastSeenAt: number;
}
export const isZoneKind = (kind: string): kind is ZoneKind =>
  (ZONE_KINDS as readonly string[]).includes(kind);

/** Even-odd rule: is (x, y) inside the polygon (corners as fractions of the picture)? */
export function inPolygon(x: number, y: number, polygon: readonly (readonly [number, number])[]): boolean {
  let inside = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const [xi, yi] = polygon[i]!;
    const [xj, yj] = polygon[j]!;
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Where an object stands: the bottom centre of its box. */
const footIn = (b: Box, zone: Zone) => inPolygon(b.x + b.w / 2, b.y + b.h, zone.polygon);

const classMatcher = (zone: Zone) => {
  const set = new Set<string>(zone.classes.flatMap((c) => (c === 'vehicle' ? [...VEHICLE_CLASSES] : [c])));
  return (label: string) => set.has(label);
};

const plural = (n: number, label: string) =>
  n === 1 ? `a ${label}` : `${n} ${label === 'person' ? 'people' : label === 'bus' ? 'buses' : `${label}s`}`;

const round = (x: number) => Math.round(x * 1000) / 1000;

const clamp01 = (v: number) => Math.min(1, Math.max(0, v));

/** The part of a box inside the picture (a track carried along its motion can reach past an edge). */
export function inPicture(b: Box): Box {
  const x = clamp01(b.x);
  const y = clamp01(b.y);
  return { x, y, w: clamp01(b.x + b.w) - x, h: clamp01(b.y + b.h) - y };
}

/** A track as the messages list it (box inside the picture, rounded; dwell in tenths of a second). */
export function trackedObject(t: Track, at: number): TrackedObject {
  const b = inPicture(t.box);
  return {
    trackId: t.id,
    label: t.label,
    score: round(t.score),
    box: { x: round(b.x), y: round(b.y), w: round(b.w), h: round(b.h) },
    dwellS: Math.round((at - t.firstSeenAt) / 100) / 10,
  };
}

function union(boxes: readonly Box[]): Box | undefined {
  if (!boxes.length) return undefined;
  const x = Math.max(0, Math.min(...boxes.map((b) => b.x)));
  const y = Math.max(0, Math.min(...boxes.map((b) => b.y)));
  const x2 = Math.min(1, Math.max(...boxes.map((b) => b.x + b.w)));
  const y2 = Math.min(1, Math.max(...boxes.map((b) => b.y + b.h)));
  return { x: round(x), y: round(y), w: round(x2 - x), h: round(y2 - y) };
}

interface OpenZoneEvent {
  readonly eventId: string;
  readonly startedAt: number;
  peak: number;
  /** loitering: the longest time one of its objects has stood in the zone, s */
  longestS: number;
  objects: TrackedObject[];
  region: Box | undefined;
}

/** One rule of one zone: its condition's lifecycle and, while open, its event. */
interface Rule {
  readonly zone: Zone;
  readonly kind: ZoneKind;
  readonly matches: (label: string) => boolean;
  readonly tracker: EventTracker;
  open?: OpenZoneEvent;
  /** object_removed: the objects it guards. */
  readonly guarded: Map<string, Guarded>;
}

/** What the zone events take from the analyzer's event settings. */
export type ZoneEventOptions = Pick<EventTrackerOptions, 'exitHoldMs' | 'cooldownMs' | 'updateEveryMs'> & {
  /** How long a crowd must last before it is an event (entering and dwelling build their own time). */
  readonly minDurationMs: number;
};

/**
 * One stream's zone rules over its tracked objects: a forbidden zone entered (zone_entered), an object
 * staying over its limit (loitering: a parked vehicle, a bag left behind), more objects than allowed
 * (crowding). Each rule of each zone has the lifecycle of a detector's event (hysteresis, hold, cooldown,
 * updates), and its messages name the zone and the tracks. Only confirmed tracks count, so a one-frame
 * misdetection raises nothing. Pure: no I/O, no clock.
 */
export class ZoneEvents {
  private rules: Rule[] = [];
  private key = '[]';
  /** Per zone and track: since when the track stands in the zone. */
  private readonly inSince = new Map<string, number>();

  constructor(
    readonly streamId: string,
    private opts: ZoneEventOptions,
  ) {}

  get size(): number {
    return this.rules.filter((r) => r.open).length;
  }

  /**
   * The stream's zones (from its StreamSpec; may change at any time). A changed set of zones ends the open
   * events of rules that are gone; rules that stay keep their state.
   */
  configure(zones: readonly Zone[], at: number, observedAt: string): AnomalyEvent[] {
    const key = JSON.stringify(zones);
    if (key === this.key) return [];
    this.key = key;
    const old = new Map(this.rules.map((r) => [`${r.zone.name}/${r.kind}/${JSON.stringify(r.zone)}`, r]));
    const next: Rule[] = [];
    for (const zone of zones) {
      const kinds: ZoneKind[] = [
        ...(zone.forbidden ? (['zone_entered'] as const) : []),
        ...(zone.maxDwellS !== undefined ? (['loitering'] as const) : []),
        ...(zone.maxCount !== undefined ? (['crowding'] as const) : []),
        ...(zone.guardAfterS !== undefined ? (['object_removed'] as const) : []),
      ];
      for (const kind of kinds) {
        const id = `${zone.name}/${kind}/${JSON.stringify(zone)}`;
        const kept = old.get(id);
        old.delete(id);
        next.push(
          kept ?? {
            zone,
            kind,
            matches: classMatcher(zone),
            guarded: new Map(),
            tracker: new EventTracker({
              enter: 1,
              exit: 0.5,
              minDurationMs: kind === 'crowding' ? this.opts.minDurationMs : 0,
              exitHoldMs: this.opts.exitHoldMs,
              cooldownMs: this.opts.cooldownMs,
              updateEveryMs: this.opts.updateEveryMs,
            }),
          },
        );
      }
    }
    this.rules = next;
    const out: AnomalyEvent[] = [];
    for (const r of old.values())
      if (r.open)
        out.push(closedMessage(this.facts(r, r.open), at, observedAt, 'the zone’s rule was changed'));
    return out;
  }

  /** One detection round's tracks at `at`: the messages of the zone events that started, changed or ended. */
  observe(tracks: readonly Track[], at: number, observedAt: string): AnomalyEvent[] {
    const out: AnomalyEvent[] = [];
    const present = new Set<string>();
    const zones = new Map(this.rules.map((r) => [r.zone.name, r.zone]));
    for (const zone of zones.values())
      for (const t of tracks) {
        const k = `${zone.name}\u0000${t.id}`;
        if (!t.confirmed || !footIn(t.box, zone)) continue;
        present.add(k);
        // a track first confirmed in the zone stood there since it was first seen
        if (!this.inSince.has(k)) this.inSince.set(k, t.firstSeenAt);
      }
    for (const k of this.inSince.keys()) if (!present.has(k)) this.inSince.delete(k);

    for (const r of this.rules) {
      const inside = tracks.filter(
        (t) => r.matches(t.label) && this.inSince.has(`${r.zone.name}\u0000${t.id}`),
      );
      const dwell = (t: Track) => at - this.inSince.get(`${r.zone.name}\u0000${t.id}`)!;
      if (r.kind === 'object_removed') {
        out.push(...this.guard(r, inside, dwell, at, observedAt));
        continue;
      }
      let score = 0;
      let involved = inside;
      if (r.kind === 'zone_entered') score = inside.length ? 1 : 0;
      else if (r.kind === 'loitering') {
        const limit = r.zone.maxDwellS! * 1000;
        involved = inside.filter((t) => dwell(t) >= limit);
        // capped at 1: a longer stay is said in the description, not as ever new peaks
        score = Math.min(1, Math.max(0, ...inside.map((t) => dwell(t) / limit)));
      } else score = inside.length / (r.zone.maxCount! + 1);
      const d = r.tracker.observe(round(score), at);
      const longestS = Math.max(0, ...involved.map((t) => dwell(t) / 1000));
      if (d.phase === 'none') {
        if (r.open && involved.length) {
          r.open.objects = involved.map((t) => trackedObject(t, at));
          r.open.longestS = longestS;
        }
        continue;
      }
      const objects = involved.map((t) => trackedObject(t, at));
      if (d.phase === 'start') r.open = this.opened(r, d.startedAt, d.peak, longestS, objects);
      const open = r.open!;
      open.peak = Math.max(open.peak, d.peak);
      if (objects.length) {
        open.objects = objects;
        open.longestS = longestS;
        open.region = union(objects.map((o) => o.box));
      }
      const lasted = ((d.phase === 'end' ? d.endedAt : at) - open.startedAt) / 1000;
      out.push(
        eventMessage(this.facts(r, open), {
          phase: d.phase,
          score: d.score,
          observedAt,
          description:
            d.phase === 'start'
              ? this.describe(r, open)
              : d.phase === 'update'
                ? `${this.describe(r, open)} Continues after ${lasted.toFixed(0)} s.`
                : `${cap(this.title(r))} ended after ${lasted.toFixed(1)} s ${tracksOf(open.objects)}.`,
          ...(d.phase === 'end' ? { endedAt: d.endedAt, endReason: 'condition cleared' } : {}),
        }),
      );
      if (d.phase === 'end') r.open = undefined;
    }
    return out;
  }

  /**
   * object_removed: objects of the zone's classes that stood in it for guardAfterS are guarded; one whose
   * track is gone, with no object of its kind back where it stood (IoU ≥ 0.3: a new track of the same
   * thing after a gap), is taken once gone for REMOVED_AFTER_MS; it is back when such an object stands
   * there again, and let go after REMOVED_FORGET_MS. The event is open while something guarded is taken.
   */
  private guard(
    r: Rule,
    inside: readonly Track[],
    dwell: (t: Track) => number,
    at: number,
    observedAt: string,
  ): AnomalyEvent[] {
    const present = new Map(inside.filter((t) => !t.missed).map((t) => [t.id, t]));
    for (const g of r.guarded.values()) {
      let t = present.get(g.trackId);
      // the same thing under a new track id (the tracker lost it for a while)
      t ??= [...present.values()].find(
        (p) => family(p.label) === family(g.label) && boxIou(p.box, g.box) >= 0.3,
      );
      if (t) {
        r.guarded.delete(g.trackId);
        g.trackId = t.id;
        g.box = t.box;
        g.score = t.score;
        g.lastSeenAt = at;
        r.guarded.set(t.id, g);
        present.delete(t.id);
      } else if (at - g.lastSeenAt >= REMOVED_FORGET_MS) r.guarded.delete(g.trackId);
    }
    for (const t of present.values())
      if (!r.guarded.has(t.id) && dwell(t) >= r.zone.guardAfterS! * 1000)
        r.guarded.set(t.id, {
          trackId: t.id,
          label: t.label,
          box: t.box,
          score: t.score,
          since: at - dwell(t),
          lastSeenAt: at,
        });
    const taken = [...r.guarded.values()].filter((g) => at - g.lastSeenAt >= REMOVED_AFTER_MS);
    const since = taken.length ? Math.min(...taken.map((g) => g.lastSeenAt)) : undefined;
    const d = r.tracker.observe(taken.length ? 1 : 0, at, since);
    const objects = taken.map((g) => ({
      trackId: g.trackId,
      label: g.label,
      score: round(g.score),
      box: inPicture(g.box),
      dwellS: Math.round((g.lastSeenAt - g.since) / 100) / 10,
    }));
    if (d.phase === 'none') {
      if (r.open && objects.length) r.open.objects = objects;
      return [];
    }
    if (d.phase === 'start') r.open = this.opened(r, d.startedAt, 1, 0, objects);
    const open = r.open!;
    if (objects.length) {
      open.objects = objects;
      open.region = union(objects.map((o) => o.box));
    }
    const lasted = ((d.phase === 'end' ? d.endedAt : at) - open.startedAt) / 1000;
    const msg = eventMessage(this.facts(r, open), {
      phase: d.phase,
      score: d.score,
      observedAt,
      description:
        d.phase === 'end'
          ? `${cap(this.title(r))}: ended after ${lasted.toFixed(1)} s (back in place, or let go after ${REMOVED_FORGET_MS / 1000} s) ${tracksOf(open.objects)}.`
          : `${this.describe(r, open)}${d.phase === 'update' ? ` Still gone after ${lasted.toFixed(0)} s.` : ''}`,
      ...(d.phase === 'end' ? { endedAt: d.endedAt, endReason: 'condition cleared' } : {}),
    });
    if (d.phase === 'end') r.open = undefined;
    return [msg];
  }

  /** A rule's event as it starts: its id from the stream, rule, zone and start time. */
  private opened(
    r: Rule,
    startedAt: number,
    peak: number,
    longestS: number,
    objects: TrackedObject[],
  ): OpenZoneEvent {
    return {
      eventId: anomalyEventId(this.streamId, `${r.kind}/${r.zone.name}`, new Date(startedAt).toISOString()),
      startedAt,
      peak,
      longestS,
      objects,
      region: union(objects.map((o) => o.box)),
    };
  }

  /** Closes every open zone event from outside (the stream went silent). */
  closeAll(now: number, why: string): AnomalyEvent[] {
    const out: AnomalyEvent[] = [];
    for (const r of this.rules) {
      if (!r.open) continue;
      r.tracker.close(now);
      out.push(closedMessage(this.facts(r, r.open), now, now, why));
      r.open = undefined;
    }
    this.inSince.clear();
    return out;
  }

  /** The open zone events, as EventState lists them. */
  entries() {
    return this.rules.flatMap((r) =>
      r.open
        ? [
            {
              eventId: r.open.eventId,
              kind: r.kind,
              severity: r.zone.severity,
              startedAt: new Date(r.open.startedAt).toISOString(),
              peakScore: r.open.peak,
              ...(r.open.region ? { region: r.open.region } : {}),
              description: this.title(r),
            },
          ]
        : [],
    );
  }

  idsBefore(end: number): string[] {
    return this.rules.flatMap((r) => (r.open && r.open.startedAt < end ? [r.open.eventId] : []));
  }

  private facts(r: Rule, o: OpenZoneEvent): EventFacts & { description: string } {
    return {
      eventId: o.eventId,
      streamId: this.streamId,
      kind: r.kind,
      severity: r.zone.severity,
      startedAt: o.startedAt,
      peak: o.peak,
      region: o.region,
      zone: r.zone.name,
      objects: o.objects,
      description: this.title(r),
    };
  }

  private title(r: Rule): string {
    const what = r.zone.classes.join(' or ');
    return r.kind === 'zone_entered'
      ? `${what} in forbidden zone "${r.zone.name}"`
      : r.kind === 'loitering'
        ? `${what} staying over ${r.zone.maxDwellS} s in zone "${r.zone.name}"`
        : r.kind === 'crowding'
          ? `more than ${r.zone.maxCount} ${what} in zone "${r.zone.name}"`
          : `${what} taken from zone "${r.zone.name}"`;
  }

  private describe(r: Rule, { objects, longestS }: OpenZoneEvent): string {
    const labels = [...new Set(objects.map((o) => o.label))];
    const who = labels.map((l) => plural(objects.filter((o) => o.label === l).length, l)).join(' and ');
    const tracks = tracksOf(objects);
    if (r.kind === 'zone_entered') return `${cap(who)} entered forbidden zone "${r.zone.name}" ${tracks}.`;
    if (r.kind === 'loitering')
      return `${cap(who)} in zone "${r.zone.name}" for ${longestS.toFixed(0)} s, over its ${r.zone.maxDwellS} s limit ${tracks}.`;
    if (r.kind === 'crowding')
      return `${cap(who)} in zone "${r.zone.name}", over its limit of ${r.zone.maxCount} ${tracks}.`;
    return `${cap(who)} taken from zone "${r.zone.name}" ${tracks}, where ${objects.length === 1 ? 'it' : 'they'} had stood for ${Math.max(...objects.map((o) => o.dwellS)).toFixed(0)} s.`;
  }
}

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const tracksOf = (objects: readonly TrackedObject[]) =>
  `(track${objects.length === 1 ? '' : 's'} ${objects.map((o) => o.trackId).join(', ')})`;
