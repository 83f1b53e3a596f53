import { type AnomalyEvent, type EventState, anomalyEventId } from '@vigil/contracts';
import { type Box } from './geometry.js';
import { type SceneEvent, type SceneKind, type SceneResult } from './scene-scorer.js';
import {
  type EventFacts,
  LABEL,
  SEVERITY,
  type Severity,
  closedMessage,
  describeStart,
  eventMessage,
  isSceneKind,
  severityOf,
} from './event-messages.js';
import { ZoneEvents, type ZoneEventOptions } from './zone-events.js';

/** Zone events' lifecycle when the analyzer gives none (its defaults). */
export const DEFAULT_ZONE_EVENT_OPTIONS: ZoneEventOptions = {
  minDurationMs: 1000,
  exitHoldMs: 2000,
  cooldownMs: 10_000,
  updateEveryMs: 10_000,
};

/** A detector's open event, as its messages describe it. */
interface OpenEvent {
  readonly eventId: string;
  readonly startedAt: number;
  region: Box | undefined;
  peak: number;
  /** A decoder finding confirmed it already. */
  confirmed: boolean;
}

/** An open model.flagged event: a decoder finding no detector covers, open while windows keep reporting it. */
interface FlaggedEvent {
  readonly eventId: string;
  readonly startedAt: number;
  readonly severity: Severity;
  peak: number;
  readonly description: string;
}

/** What a decoder noticed in a window (the shape of @vigil/decoders' Finding). */
export interface ModelFinding {
  readonly kind: string;
  readonly description: string;
  readonly severity: Severity;
  readonly confidence: number;
}

/** The narrated window the findings came from. */
export interface FindingsWindow {
  readonly start: number;
  readonly end: number;
  readonly trigger: 'cadence' | 'anomaly' | 'request';
  readonly summaryId: string;
  readonly decoder: { readonly type: string; readonly model?: string; readonly fallback: boolean };
}

export type OpenEventEntry = EventState['open'][number];

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * One stream's open anomaly events: the detectors' (one per kind, fed by the scene model's lifecycle) and
 * the model-flagged ones (decoder findings no detector covers). Turns each change into its message, so an
 * event's messages all carry the same id, start and peak. Pure: no I/O, no clock.
 */
export class OpenEvents {
  private readonly open = new Map<SceneKind, OpenEvent>();
  /** When each detector's latest event ended. */
  private readonly endedAt = new Map<SceneKind, number>();
  private readonly flagged = new Map<string, FlaggedEvent>();
  /** The newest window whose findings were applied (results can come back out of order). */
  private flagsUntil = -Infinity;

  /** The zone rules' events (zone_entered, loitering, crowding), one per rule of each zone. */
  readonly zones: ZoneEvents;

  constructor(
    readonly streamId: string,
    zoneOptions: ZoneEventOptions = DEFAULT_ZONE_EVENT_OPTIONS,
  ) {
    this.zones = new ZoneEvents(streamId, zoneOptions);
  }

  get size(): number {
    return this.open.size + this.flagged.size + this.zones.size;
  }

  has(kind: SceneKind): boolean {
    return this.open.has(kind);
  }

  /** A detector's start, update or end as its message; `evidence` goes with a start. */
  sceneEvent(
    e: SceneEvent,
    r: SceneResult,
    observedAt: string,
    evidence?: AnomalyEvent['evidence'],
  ): AnomalyEvent {
    const eventId = anomalyEventId(this.streamId, e.kind, iso(e.startedAt));
    if (e.phase === 'start')
      this.open.set(e.kind, {
        eventId,
        startedAt: e.startedAt,
        region: e.region,
        peak: e.peak,
        confirmed: false,
      });
    const open = this.open.get(e.kind);
    if (open) open.peak = Math.max(open.peak, e.peak);
    if (e.region && open) open.region = e.region;
    if (e.phase === 'end') {
      this.open.delete(e.kind);
      this.endedAt.set(e.kind, e.endedAt ?? Date.parse(observedAt));
    }
    const lasted = ((e.endedAt ?? Date.parse(observedAt)) - e.startedAt) / 1000;
    const description =
      e.phase === 'start'
        ? describeStart(e.kind, r)
        : e.phase === 'update'
          ? `${LABEL[e.kind]} continues after ${lasted.toFixed(0)} s (peak score ${e.peak.toFixed(2)}).`
          : `${LABEL[e.kind]} ended after ${lasted.toFixed(1)} s (peak score ${e.peak.toFixed(2)}).`;
    return eventMessage(
      {
        eventId,
        streamId: this.streamId,
        kind: e.kind,
        severity: severityOf(e.kind, e.peak),
        startedAt: e.startedAt,
        peak: e.peak,
        region: open?.region,
      },
      {
        phase: e.phase,
        score: e.score,
        observedAt,
        description,
        ...(e.phase === 'end' ? { endedAt: e.endedAt!, endReason: 'condition cleared' } : {}),
        ...(evidence ? { evidence } : {}),
      },
    );
  }

  /** A detector event another analyzer had open, resumed here with its id, start and peak. */
  resume(kind: SceneKind, eventId: string, startedAt: number, peak: number, region?: Box): void {
    this.open.set(kind, { eventId, startedAt, region, peak, confirmed: false });
  }

  /**
   * A model's findings (warning or critical, confidence ≥ 0.5): one naming a detector's open event confirms
   * it (an update carrying the finding, once) and one naming a detector's event that has ended since is
   * already covered; another opens a model.flagged event, which stays open while the following windows
   * report it and ends at the first that does not. Grounded findings are the detectors' own events and
   * change nothing.
   */
  applyFindings(w: FindingsWindow, findings: readonly ModelFinding[]): AnomalyEvent[] {
    if (w.decoder.type === 'grounded' || w.decoder.fallback) return [];
    const out: AnomalyEvent[] = [];
    const seen = new Set<string>();
    const finding = (kind: string, confidence: number): AnomalyEvent['finding'] => ({
      kind,
      confidence,
      decoder: w.decoder.type,
      ...(w.decoder.model ? { model: w.decoder.model } : {}),
      summaryId: w.summaryId,
    });
    for (const f of findings) {
      if (f.severity === 'info' || f.confidence < 0.5) continue;
      const kind = f.kind
        .trim()
        .toLowerCase()
        .replace(/[\s-]+/g, '_')
        .slice(0, 100);
      seen.add(kind);
      const detected = isSceneKind(kind) ? this.open.get(kind) : undefined;
      // the detector's own event ended since the window: it covers this, nothing to open
      if (!detected && isSceneKind(kind) && (this.endedAt.get(kind) ?? -Infinity) >= w.start) continue;
      if (detected && isSceneKind(kind)) {
        if (detected.confirmed) continue;
        detected.confirmed = true;
        out.push(
          eventMessage(this.detectorFacts(kind, detected), {
            phase: 'update',
            score: detected.peak,
            observedAt: w.end,
            description: `${LABEL[kind]} confirmed by the model: ${f.description}`,
            finding: finding(f.kind, f.confidence),
          }),
        );
        continue;
      }
      const open = this.flagged.get(kind);
      if (open) {
        open.peak = Math.max(open.peak, f.confidence);
        continue;
      }
      const flagged: FlaggedEvent = {
        eventId: anomalyEventId(this.streamId, `model.flagged/${kind}`, iso(w.end)),
        startedAt: w.end,
        severity: f.severity,
        peak: f.confidence,
        description: f.description,
      };
      this.flagged.set(kind, flagged);
      out.push(
        eventMessage(this.flaggedFacts(flagged), {
          phase: 'start',
          score: flagged.peak,
          observedAt: w.end,
          description: `Model flagged: ${flagged.description}`,
          finding: finding(f.kind, f.confidence),
        }),
      );
    }
    // only a newer cadence window can say a finding is gone (results may come back out of order)
    if (w.trigger === 'cadence' && w.end > this.flagsUntil) {
      this.flagsUntil = w.end;
      for (const [kind, flagged] of this.flagged) {
        if (seen.has(kind)) continue;
        this.flagged.delete(kind);
        out.push(
          eventMessage(this.flaggedFacts(flagged), {
            phase: 'end',
            score: 0,
            observedAt: w.end,
            endedAt: w.end,
            endReason: 'the model no longer reports it',
            description: `Model no longer reports: ${flagged.description}`,
            finding: finding(kind, flagged.peak),
          }),
        );
      }
    }
    return out;
  }

  /** Ids of the events open when a window ending at `end` began or ran (started before its end). */
  idsBefore(end: number): string[] {
    const ids: string[] = [];
    for (const o of this.open.values()) if (o.startedAt < end) ids.push(o.eventId);
    for (const f of this.flagged.values()) if (f.startedAt < end) ids.push(f.eventId);
    ids.push(...this.zones.idsBefore(end));
    return ids;
  }

  /**
   * Closes every open event from outside (the stream went silent): `ended` are the scene model's own
   * closing events (SceneAnomalyModel.closeAll), model-flagged events close with them.
   */
  closeAll(ended: readonly SceneEvent[], now: number, why: string): AnomalyEvent[] {
    const out: AnomalyEvent[] = [];
    for (const e of ended) {
      const open = this.open.get(e.kind);
      this.open.delete(e.kind);
      this.endedAt.set(e.kind, now);
      if (open) out.push(closedMessage(this.detectorFacts(e.kind, open), now, now, why));
    }
    this.open.clear();
    for (const [k, f] of this.flagged) {
      this.flagged.delete(k);
      out.push(closedMessage({ ...this.flaggedFacts(f), description: f.description }, now, now, why));
    }
    out.push(...this.zones.closeAll(now, why));
    return out;
  }

  /** The open events as EventState lists them. */
  entries(): OpenEventEntry[] {
    return [
      ...[...this.open].map(([kind, o]) => ({
        eventId: o.eventId,
        kind,
        severity: severityOf(kind, o.peak),
        startedAt: iso(o.startedAt),
        peakScore: o.peak,
        ...(o.region ? { region: o.region } : {}),
        description: LABEL[kind],
      })),
      ...[...this.flagged.values()].map((f) => ({
        eventId: f.eventId,
        kind: 'model.flagged' as const,
        severity: f.severity,
        startedAt: iso(f.startedAt),
        peakScore: f.peak,
        description: f.description.slice(0, 1000),
      })),
      ...this.zones.entries(),
    ];
  }

  private detectorFacts(kind: SceneKind, o: OpenEvent): EventFacts {
    return {
      eventId: o.eventId,
      streamId: this.streamId,
      kind,
      severity: SEVERITY[kind],
      startedAt: o.startedAt,
      peak: o.peak,
      region: o.region,
    };
  }

  private flaggedFacts(f: FlaggedEvent): EventFacts {
    return {
      eventId: f.eventId,
      streamId: this.streamId,
      kind: 'model.flagged',
      severity: f.severity,
      startedAt: f.startedAt,
      peak: f.peak,
    };
  }
}
