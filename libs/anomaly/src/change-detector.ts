export interface ChangeDetectorOptions {
  /** A change at or above this (fraction of full scale) opens an event... */
  readonly enter: number;
  /** ...and the event ends after `calmSamples` consecutive samples below `exit`. */
  readonly exit: number;
  readonly calmSamples: number;
  /** Samples seen before any event may open, so start-up transients do not alarm. */
  readonly warmupSamples: number;
  /** The change must also be this many times the stream's usual change (a busy scene needs a bigger jump). */
  readonly ratio?: number;
}

export type ChangeDecision =
  | { readonly kind: 'none' }
  | { readonly kind: 'start'; readonly startedAt: number; readonly score: number }
  | { readonly kind: 'update'; readonly startedAt: number; readonly score: number; readonly peak: number }
  | { readonly kind: 'end'; readonly startedAt: number; readonly endedAt: number; readonly peak: number };

/**
 * Per-stream hysteresis over the frame change signal: calm → (change ≥ enter and ≥ ratio × usual) → active
 * → (calmSamples below exit) → calm. The usual level is an exponential mean learned only while calm, so
 * an event never teaches the stream that the anomaly is normal. Pure state machine: no I/O, no clock.
 */
export class ChangeDetector {
  private seen = 0;
  private usual = 0;
  private active: { startedAt: number; peak: number; calm: number } | null = null;

  constructor(private readonly opts: ChangeDetectorOptions) {}

  get usualChange(): number {
    return this.usual;
  }

  get isActive(): boolean {
    return this.active !== null;
  }

  observe(change: number, at: number): ChangeDecision {
    this.seen++;
    const ratio = this.opts.ratio ?? 3;
    if (!this.active) {
      const jump = change >= this.opts.enter && change >= ratio * this.usual;
      if (jump && this.seen > this.opts.warmupSamples) {
        this.active = { startedAt: at, peak: change, calm: 0 };
        return { kind: 'start', startedAt: at, score: change };
      }
      // learn fast at first, then slowly
      const alpha = this.seen <= 10 ? 1 / this.seen : 0.05;
      this.usual += alpha * (change - this.usual);
      return { kind: 'none' };
    }
    const ev = this.active;
    if (change < this.opts.exit) {
      ev.calm++;
      if (ev.calm >= this.opts.calmSamples) {
        this.active = null;
        return { kind: 'end', startedAt: ev.startedAt, endedAt: at, peak: ev.peak };
      }
      return { kind: 'none' };
    }
    ev.calm = 0;
    if (change > ev.peak) {
      ev.peak = change;
      return { kind: 'update', startedAt: ev.startedAt, score: change, peak: change };
    }
    return { kind: 'none' };
  }
}
