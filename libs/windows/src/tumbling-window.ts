export interface WindowSample {
  readonly at: number;
  readonly change: number;
}

export interface ClosedWindow {
  readonly start: number;
  readonly end: number;
  readonly samples: readonly WindowSample[];
  readonly anomalies: readonly { readonly at: number; readonly kind: string; readonly score: number }[];
}

/**
 * Per-stream windows of `lengthMs` aligned to the epoch (so every analyzer cuts the same windows and the
 * deterministic summaryId matches across restarts). A window closes when a sample at or past its end
 * arrives; stream time, not wall-clock time, drives it, so replays narrate the same windows as live.
 * The sliding variant (length W, stride S < W) comes with the decoders issue. Pure.
 */
export class TumblingWindow {
  private start: number | null = null;
  private samples: WindowSample[] = [];
  private anomalies: { at: number; kind: string; score: number }[] = [];

  constructor(private readonly lengthMs: number) {
    if (!(lengthMs > 0)) throw new RangeError('window length must be positive');
  }

  /** Adds a sample; returns the window it closed, if any. */
  add(sample: WindowSample): ClosedWindow | null {
    const aligned = sample.at - (sample.at % this.lengthMs);
    if (this.start !== null && aligned < this.start) {
      // a late sample (clock step back or reordering) stays in the open window rather than reopening one
      this.samples.push(sample);
      return null;
    }
    let closed: ClosedWindow | null = null;
    if (this.start !== null && aligned !== this.start && this.samples.length > 0) {
      closed = {
        start: this.start,
        end: this.start + this.lengthMs,
        samples: this.samples,
        anomalies: this.anomalies,
      };
      this.samples = [];
      this.anomalies = [];
    }
    this.start = aligned;
    this.samples.push(sample);
    return closed;
  }

  noteAnomaly(at: number, kind: string, score: number): void {
    this.anomalies.push({ at, kind, score });
  }
}
