import { type Summary, SummarySchema, summaryId } from '@vigil/contracts';
import {
  type ClosedRollup,
  type ClosedWindow,
  type FramePayload,
  type RollupChild,
  Rollups,
  SlidingWindow,
  type WindowAnomaly,
  type WindowSample,
} from '@vigil/windows';
import { type DecodeResult } from './decoder.js';
import { narrateRollup } from './grounded-decoder.js';

const iso = (ms: number) => new Date(ms).toISOString();

/** The window settings a stream gets: its own StreamSpec's, else the analyzer's. */
export interface WindowSettings {
  /** Stride S, seconds. */
  readonly strideS: number;
  /** Length W, seconds; absent: 2 S. */
  readonly lengthS?: number;
  /** Frames whose change is below this merge into the one before. */
  readonly mergeBelow: number;
  /** Tokens a window's frames may cost the decoder (0: no limit). */
  readonly tokenBudget: number;
  /** What one frame of this stream costs the decoder. */
  readonly tokensPerFrame: number;
}

/** Rollup periods: a minute of windows, an hour of minutes (tests shorten them). */
export interface RollupPeriods {
  readonly minuteMs: number;
  readonly hourMs: number;
}

/**
 * One stream's narration state: its sliding window (remade when its settings change, the old one's samples
 * let go) and its minute and hour rollups, which close as the windows announced for them are narrated.
 * Pure: no I/O, no clock.
 */
export class StreamNarration {
  // replaced by configure() at the first frame, when the frame size (and so its token cost) is known
  private _window = new SlidingWindow({ lengthMs: 1, strideMs: 1 });
  private key = '';
  readonly rollups: Rollups;
  /** The newest sample's time. */
  lastAt = -Infinity;
  /**
   * The camera's events as published (start, end), for what the summaries say about them: each start is
   * counted in exactly one minute (the one it started in, or the first to close after it was noted), and
   * an event open across a window or rollup is said to be, never "No anomalies".
   */
  private readonly ledger = new Map<string, LedgerEntry>();

  constructor(private readonly periods: RollupPeriods) {
    this.rollups = new Rollups(
      [
        { name: 'minute', ms: periods.minuteMs },
        { name: 'hour', ms: periods.hourMs },
      ],
      (level, merged) => this.settle(level, merged),
      Math.min(5000, periods.minuteMs / 4),
    );
  }

  /** An event started (as published): counted by the rollup it falls in. */
  noteStart(e: { eventId: string; kind: string; at: number; score: number }): void {
    if (!this.ledger.has(e.eventId)) this.ledger.set(e.eventId, { ...e, counted: false });
  }

  /** An event ended (as published). */
  noteEnd(eventId: string, at: number): void {
    const e = this.ledger.get(eventId);
    if (e && e.endedAt === undefined) e.endedAt = at;
  }

  /** Events that started before `t` and were still open at it. */
  openAt(t: number): WindowAnomaly[] {
    return [...this.ledger.values()]
      .filter((e) => e.at < t && (e.endedAt === undefined || e.endedAt > t))
      .map(anomalyOf)
      .sort((a, b) => a.at - b.at);
  }

  private settle(level: string, merged: RollupChild): RollupChild {
    const ongoing = this.openAt(merged.start);
    if (level !== 'minute') {
      // an hour reports what its minutes counted; forget what ended well before it
      for (const [id, e] of this.ledger)
        if (e.counted && e.endedAt !== undefined && e.endedAt < merged.start - this.periods.hourMs)
          this.ledger.delete(id);
      return { ...merged, ongoing };
    }
    const starts: WindowAnomaly[] = [];
    for (const e of this.ledger.values())
      if (!e.counted && e.at < merged.end) {
        e.counted = true;
        starts.push(anomalyOf(e));
      }
    const ids = new Set([
      ...merged.eventIds,
      ...starts.map((a) => a.eventId!),
      ...ongoing.map((a) => a.eventId!),
    ]);
    return { ...merged, anomalies: starts.sort((a, b) => a.at - b.at), ongoing, eventIds: [...ids] };
  }

  get window(): SlidingWindow {
    return this._window;
  }

  /** Uses these settings from now on; true when they changed an earlier window's (not at the first). */
  configure(s: WindowSettings): boolean {
    const lengthS = s.lengthS ?? 2 * s.strideS;
    const key = `${lengthS}/${s.strideS}/${s.tokensPerFrame}`;
    if (key === this.key) return false;
    const changed = this.key !== '';
    this.key = key;
    this._window = new SlidingWindow({
      lengthMs: Math.max(lengthS, s.strideS) * 1000,
      strideMs: s.strideS * 1000,
      mergeBelow: s.mergeBelow,
      tokenBudget: s.tokenBudget,
      tokensPerFrame: s.tokensPerFrame,
    });
    return changed;
  }

  /** A sample (and what the decoder may look at); returns the cadence windows it closed, oldest first. */
  add(sample: WindowSample, payload?: FramePayload): ClosedWindow[] {
    const closed = this._window.add(sample, payload);
    this.lastAt = Math.max(this.lastAt, sample.at);
    return closed;
  }

  noteAnomaly(a: WindowAnomaly): void {
    this._window.noteAnomaly(a);
  }

  /** The window ending at `end` (default: the newest sample), out of cadence; null when it is empty. */
  cut(trigger: 'anomaly' | 'request', end = this.lastAt): ClosedWindow | null {
    return this._window.cut(end, trigger);
  }

  /** A window is on its way to the decoder: a cadence one is announced to its minute. */
  submitted(w: ClosedWindow): void {
    if (w.trigger === 'cadence') this.rollups.expect(w.end);
  }

  /** A cadence window was narrated: the minute and hour rollups it closed, as summaries. */
  narrated(
    streamId: string,
    who: string,
    w: ClosedWindow,
    result: DecodeResult,
    /** The window's events, and the stream's stride when it was cut. */
    cut: { readonly eventIds: readonly string[]; readonly strideMs: number },
  ): Summary[] {
    if (w.trigger !== 'cadence') return [];
    const child = rollupChild(w, result, cut.eventIds, cut.strideMs);
    return this.rollups.deliver(child).map((r) => rollupSummary(streamId, who, r));
  }
}

/** A window summary's id: a cadence window by its start, a cut one by its trigger and end. */
export function windowSummaryId(streamId: string, w: ClosedWindow): string {
  return w.trigger === 'cadence'
    ? summaryId(streamId, 'window', iso(w.start))
    : summaryId(streamId, `window/${w.trigger}`, iso(w.end));
}

/** A narrated window as its Summary on vigil.summaries.v1. */
export function windowSummary(
  streamId: string,
  w: ClosedWindow,
  result: DecodeResult,
  latencyMs: number,
  eventIds: readonly string[],
): Summary {
  return SummarySchema.parse({
    summaryId: windowSummaryId(streamId, w),
    streamId,
    level: 'window',
    trigger: w.trigger,
    windowStart: iso(w.start),
    windowEnd: iso(w.end),
    text: result.summary,
    findings: result.findings.slice(0, 20),
    eventIds: eventIds.slice(0, 200),
    decoder: {
      ...result.decoder,
      latencyMs: Math.round(latencyMs * 10) / 10,
      ...(result.tokens ? { tokens: result.tokens } : {}),
    },
    stats: {
      frames: w.samples.length,
      meanChange: w.samples.reduce((a, s) => a + s.change, 0) / Math.max(1, w.samples.length),
      maxChange: Math.max(0, ...w.samples.map((s) => s.change)),
      anomalies: w.anomalies.length,
    },
    createdAt: new Date().toISOString(),
  });
}

/** What a cadence window adds to its minute: only its last stride, so overlapping windows count once. */
export function rollupChild(
  w: ClosedWindow,
  result: DecodeResult,
  eventIds: readonly string[],
  strideMs: number,
): RollupChild {
  const from = w.end - strideMs;
  const samples = w.samples.filter((s) => s.at >= from);
  const model = result.decoder.type !== 'grounded' && !result.decoder.fallback;
  return {
    start: from,
    end: w.end,
    frames: samples.length,
    sumChange: samples.reduce((a, s) => a + s.change, 0),
    maxChange: Math.max(0, ...samples.map((s) => s.change)),
    anomalies: w.anomalies.filter((a) => a.at >= from),
    eventIds,
    findings: model ? result.findings.map((f) => ({ kind: f.kind, severity: f.severity })) : [],
    windows: 1,
    fallbacks: result.decoder.fallback ? 1 : 0,
  };
}

interface LedgerEntry {
  readonly eventId: string;
  readonly kind: string;
  readonly at: number;
  readonly score: number;
  endedAt?: number;
  counted: boolean;
}

const anomalyOf = (e: LedgerEntry): WindowAnomaly => ({
  at: e.at,
  kind: e.kind,
  score: e.score,
  eventId: e.eventId,
});

/** A closed minute or hour as a summary: grounded narration over the summaries below it. */
export function rollupSummary(streamId: string, who: string, r: ClosedRollup): Summary {
  const m = r.merged;
  return SummarySchema.parse({
    summaryId: summaryId(streamId, r.level, iso(r.start)),
    streamId,
    level: r.level,
    trigger: 'cadence',
    windowStart: iso(r.start),
    windowEnd: iso(r.end),
    text: narrateRollup(r.level, who, m).slice(0, 4000),
    eventIds: m.eventIds.slice(0, 200),
    decoder: { type: 'grounded', fallback: false },
    stats: {
      frames: m.frames,
      meanChange: m.frames > 0 ? m.sumChange / m.frames : 0,
      maxChange: m.maxChange,
      anomalies: m.anomalies.length,
      windows: m.windows,
    },
    createdAt: new Date().toISOString(),
  });
}
