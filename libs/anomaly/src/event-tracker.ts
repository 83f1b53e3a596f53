export interface EventTrackerOptions {
  /** A score at or above `enter`... */
  readonly enter: number;
  /** ...held for `minDurationMs` opens an event (its start is when the score first crossed). */
  readonly minDurationMs: number;
  /** An open event ends once the score has stayed below `exit` (< enter) for `exitHoldMs`. */
  readonly exit: number;
  readonly exitHoldMs: number;
  /** After an end, no new event of this kind opens for `cooldownMs`. */
  readonly cooldownMs: number;
  /** An open event reports an update on a new peak (10 % above the last) or at least this often. */
  readonly updateEveryMs: number;
}

/** Samples a second apart arrive a few ms early or late: durations are met at 90 % so they still count. */
export const JITTER = 0.9;

export type TrackerDecision =
  | { readonly phase: 'none'; readonly active: boolean }
  | { readonly phase: 'start'; readonly startedAt: number; readonly score: number; readonly peak: number }
  | { readonly phase: 'update'; readonly startedAt: number; readonly score: number; readonly peak: number }
  | {
      readonly phase: 'end';
      readonly startedAt: number;
      readonly endedAt: number;
      readonly score: number;
      readonly peak: number;
    };

/**
 * The life of one kind of event on one stream: hysteresis (enter / exit thresholds), a minimum duration
 * before it starts, a hold before it ends, a cooldown before the next one, and updates on new peaks or
 * periodically. Pure state machine over (score, time): no I/O, no clock.
 */
export class EventTracker {
  private pendingSince: number | null = null;
  private open: { startedAt: number; peak: number; reported: number; lastUpdate: number } | null = null;
  private calmSince: number | null = null;
  private quietUntil = -Infinity;

  constructor(private readonly opts: EventTrackerOptions) {
    if (!(opts.exit < opts.enter)) throw new RangeError('exit must be below enter (hysteresis)');
  }

  get active(): boolean {
    return this.open !== null;
  }

  get startedAt(): number | null {
    return this.open?.startedAt ?? null;
  }

  /** Re-opens an event that was running before a restart (the new owner of the stream resumes it). */
  resume(startedAt: number, peak: number, at: number): void {
    this.open = { startedAt, peak, reported: peak, lastUpdate: at };
    this.pendingSince = null;
    this.calmSince = null;
  }

  /**
   * One sample's score at time `at`. `since` dates the condition earlier when the score itself needed
   * time to build (a persistence check): the event's start is then `since`, not the sample's time.
   */
  observe(score: number, at: number, since?: number): TrackerDecision {
    const o = this.opts;
    if (!this.open) {
      if (score < o.enter || at < this.quietUntil) {
        this.pendingSince = null;
        return { phase: 'none', active: false };
      }
      this.pendingSince ??= Math.min(at, since ?? at);
      if (at - this.pendingSince < o.minDurationMs * JITTER) return { phase: 'none', active: false };
      this.open = { startedAt: this.pendingSince, peak: score, reported: score, lastUpdate: at };
      this.pendingSince = null;
      this.calmSince = null;
      return { phase: 'start', startedAt: this.open.startedAt, score, peak: score };
    }
    const ev = this.open;
    ev.peak = Math.max(ev.peak, score);
    if (score < o.exit) {
      this.calmSince ??= at;
      if (at - this.calmSince >= o.exitHoldMs * JITTER) {
        const endedAt = this.calmSince;
        this.open = null;
        this.calmSince = null;
        this.quietUntil = at + o.cooldownMs;
        return { phase: 'end', startedAt: ev.startedAt, endedAt, score, peak: ev.peak };
      }
      return { phase: 'none', active: true };
    }
    this.calmSince = null;
    if (ev.peak > ev.reported * 1.1 || at - ev.lastUpdate >= o.updateEveryMs) {
      ev.reported = ev.peak;
      ev.lastUpdate = at;
      return { phase: 'update', startedAt: ev.startedAt, score, peak: ev.peak };
    }
    return { phase: 'none', active: true };
  }

  /** Closes an open event from outside (stream removed, analyzer stopping); null when none is open. */
  close(at: number): { startedAt: number; endedAt: number; peak: number } | null {
    if (!this.open) return null;
    const ev = this.open;
    this.open = null;
    this.calmSince = null;
    return { startedAt: ev.startedAt, endedAt: at, peak: ev.peak };
  }
}
