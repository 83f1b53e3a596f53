import { type AnomalyEvent, AnomalyEventSchema } from '@vigil/contracts';
import { type Box } from './geometry.js';
import { SCENE_KINDS, type SceneKind, type SceneResult } from './scene-scorer.js';

export type Severity = AnomalyEvent['severity'];

/** How bad each detector's event is (object_appeared turns critical when it is large, see severityOf). */
export const SEVERITY: Record<SceneKind, Severity> = {
  lens_covered: 'critical',
  camera_moved: 'critical',
  frozen: 'critical',
  too_dark: 'warning',
  overexposed: 'warning',
  blur: 'warning',
  activity_stopped: 'warning',
  object_appeared: 'warning',
};

/** Each detector's event as a person names it, at the head of its messages. */
export const LABEL: Record<SceneKind, string> = {
  lens_covered: 'Lens covered',
  too_dark: 'Picture too dark',
  overexposed: 'Picture overexposed',
  blur: 'Picture out of focus',
  frozen: 'Picture frozen',
  camera_moved: 'Camera moved',
  activity_stopped: 'Activity stopped',
  object_appeared: 'Something new in view',
};

export const isSceneKind = (kind: string): kind is SceneKind =>
  (SCENE_KINDS as readonly string[]).includes(kind);

/** A detector event's severity at its peak score: something new that covers much of the view is critical. */
export function severityOf(kind: SceneKind, peak: number): Severity {
  return kind === 'object_appeared' && peak >= 2 ? 'critical' : SEVERITY[kind];
}

const iso = (ms: number) => new Date(ms).toISOString();
const time = (t: number | string) => (typeof t === 'string' ? t : iso(t));
const pct = (x: number) => `${Math.round(x * 100)} %`;

/** One grounded sentence from what was measured, for a detector event's start. */
export function describeStart(kind: SceneKind, r: SceneResult): string {
  const h = r.health;
  switch (kind) {
    case 'lens_covered':
      return `Lens covered or blocked: ${pct(h.flat)} of the picture shows no structure at all.`;
    case 'too_dark':
      return `Picture too dark: mean brightness ${pct(h.luma)}, under half of what is usual here.`;
    case 'overexposed':
      return `Picture overexposed: ${pct(h.bright)} of it is blown out to white.`;
    case 'blur':
      return `Picture out of focus: fine detail fell to a fraction of what is usual while the scene is still there.`;
    case 'frozen':
      return `Picture frozen: consecutive samples are identical although this camera normally shows motion or noise.`;
    case 'camera_moved':
      return `Camera moved or turned: ${pct(r.novelFraction)} of the view no longer matches its usual scene.`;
    case 'activity_stopped':
      return `Activity stopped: the parts of the scene that normally move have stood still for several samples.`;
    case 'object_appeared':
      return `Something new in view: ${pct(r.novelFraction)} of the picture departs from its usual look (score ${r.scores.object_appeared.toFixed(2)}).`;
  }
}

/** What every message of one event says the same: which event, of what, since when, how bad at most. */
export interface EventFacts {
  readonly eventId: string;
  readonly streamId: string;
  readonly kind: AnomalyEvent['kind'];
  readonly severity: Severity;
  /** Epoch ms, or the ISO time as another message gave it. */
  readonly startedAt: number | string;
  readonly peak: number;
  readonly region?: Box | AnomalyEvent['region'];
  /** Zone events: the zone and the tracked objects behind it. */
  readonly zone?: string;
  readonly objects?: AnomalyEvent['objects'];
}

/** What one message of the event says. */
export interface EventNews {
  readonly phase: AnomalyEvent['phase'];
  readonly score: number;
  readonly observedAt: number | string;
  readonly description: string;
  readonly endedAt?: number | string;
  readonly endReason?: string;
  readonly evidence?: AnomalyEvent['evidence'];
  readonly finding?: AnomalyEvent['finding'];
}

/** The one place an AnomalyEvent is put together (and checked against its schema). */
export function eventMessage(f: EventFacts, n: EventNews): AnomalyEvent {
  return AnomalyEventSchema.parse({
    eventId: f.eventId,
    streamId: f.streamId,
    phase: n.phase,
    kind: f.kind,
    severity: f.severity,
    score: n.score,
    peakScore: f.peak,
    startedAt: time(f.startedAt),
    observedAt: time(n.observedAt),
    ...(n.endedAt !== undefined ? { endedAt: time(n.endedAt) } : {}),
    ...(n.endReason !== undefined ? { endReason: n.endReason } : {}),
    ...(f.region ? { region: f.region } : {}),
    ...(f.zone !== undefined ? { zone: f.zone } : {}),
    ...(f.objects?.length ? { objects: f.objects.slice(0, 50) } : {}),
    description: n.description.slice(0, 1000),
    ...(n.evidence ? { evidence: n.evidence } : {}),
    ...(n.finding ? { finding: n.finding } : {}),
  });
}

/**
 * An event closed from outside its detector (its stream went silent, nobody vouches for it): score 0,
 * ended at `endedAt`, and the reason in both endReason and the description.
 */
export function closedMessage(
  f: EventFacts & { readonly description?: string },
  endedAt: number | string,
  observedAt: number | string,
  why: string,
): AnomalyEvent {
  const label = isSceneKind(f.kind) ? LABEL[f.kind] : (f.description ?? f.kind);
  return eventMessage(f, {
    phase: 'end',
    score: 0,
    observedAt,
    endedAt,
    endReason: why,
    description: `${label} closed: ${why}.`,
  });
}
