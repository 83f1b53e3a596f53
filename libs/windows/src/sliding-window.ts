/** A tracked object in a sample: its track id, detector class and box (fractions of the frame). */
export interface SampleObject {
  readonly id: string;
  readonly label: string;
  readonly box: { readonly x: number; readonly y: number; readonly w: number; readonly h: number };
}

/** One analyzed sample: when it was captured and the share of the picture that changed since the previous one. */
export interface WindowSample {
  readonly at: number;
  readonly change: number;
  /** What the detector and tracker saw in it (absent when detection is off). */
  readonly objects?: readonly SampleObject[];
}

/** What a decoder may look at for a sample: the JPEG and/or its vision tokens [T × D]. */
export interface FramePayload {
  readonly jpeg?: Buffer;
  readonly tokens?: Float32Array;
}

/** A frame of the window; near-duplicates that followed it are merged into it (`merged`, up to `until`). */
export interface WindowFrame extends FramePayload {
  readonly at: number;
  until: number;
  merged: number;
}

export interface WindowAnomaly {
  readonly at: number;
  readonly kind: string;
  readonly score: number;
  /** The anomaly event this refers to (links summaries to events). */
  readonly eventId?: string;
}

export type WindowTrigger = 'cadence' | 'anomaly' | 'request';

export interface ClosedWindow {
  readonly start: number;
  readonly end: number;
  /** Why it was cut: its stride came round, an anomaly started, or someone asked. */
  readonly trigger: WindowTrigger;
  readonly samples: readonly WindowSample[];
  /** Frames for the decoder: near-duplicates merged, thinned to the token budget; oldest first. */
  readonly frames: readonly WindowFrame[];
  readonly anomalies: readonly WindowAnomaly[];
  /** Frames merged into an earlier near-identical one, and frames left out to keep within the budget. */
  readonly merged: number;
  readonly dropped: number;
}

export interface SlidingWindowOptions {
  /** Window length W. */
  readonly lengthMs: number;
  /** Stride S ≤ W: a window ends at every multiple of S (epoch-aligned, so every analyzer cuts the same ones). */
  readonly strideMs: number;
  /** A frame whose change from the previous sample is below this is merged into the frame before it (0: never). */
  readonly mergeBelow?: number;
  /** Tokens a window's frames may cost the decoder, all together (0: no limit). */
  readonly tokenBudget?: number;
  /** What one frame costs. */
  readonly tokensPerFrame?: number;
}

/**
 * A stream's sliding windows of length W every stride S. Stream time, not wall-clock time, drives it (a
 * window closes when a sample at or past its end arrives), so replays narrate the same windows as live.
 * Besides the cadence, a window ending now can be cut at any time (an anomaly started, someone asked).
 * Frames carried for the decoder are merged when nearly identical and thinned to a token budget, keeping
 * the frames where anomalies happened. Memory is bounded by W: older samples are let go. Pure.
 */
export class SlidingWindow {
  private samples: WindowSample[] = [];
  private frames: WindowFrame[] = [];
  private anomalies: WindowAnomaly[] = [];
  private nextEnd: number | null = null;
  private lastAt = -Infinity;

  constructor(private readonly opts: SlidingWindowOptions) {
    if (!(opts.lengthMs > 0) || !(opts.strideMs > 0))
      throw new RangeError('window length and stride must be positive');
    if (opts.strideMs > opts.lengthMs)
      throw new RangeError(
        `window stride ${opts.strideMs} ms exceeds its length ${opts.lengthMs} ms: samples would fall between windows`,
      );
  }

  get strideMs(): number {
    return this.opts.strideMs;
  }

  /** Adds a sample (with what the decoder may look at); returns the cadence windows it closed, oldest first. */
  add(sample: WindowSample, payload?: FramePayload): ClosedWindow[] {
    const { lengthMs: W, strideMs: S } = this.opts;
    const closed: ClosedWindow[] = [];
    if (this.nextEnd === null) this.nextEnd = alignUp(sample.at, S);
    while (sample.at >= this.nextEnd) {
      const w = this.build(this.nextEnd - W, this.nextEnd, 'cadence');
      if (w) closed.push(w);
      this.nextEnd += S;
      // after a gap, jump to the window the sample belongs to instead of walking through empty ones
      if (this.lastAt < this.nextEnd - W) this.nextEnd = Math.max(this.nextEnd, alignUp(sample.at, S));
    }
    this.samples.push(sample);
    if (payload && (payload.jpeg || payload.tokens)) this.addFrame(sample, payload);
    this.lastAt = Math.max(this.lastAt, sample.at);
    this.prune(Math.min(this.nextEnd, this.lastAt) - W);
    return closed;
  }

  noteAnomaly(a: WindowAnomaly): void {
    this.anomalies.push(a);
  }

  /** The window of length W ending at `end` (now), out of cadence; null when it holds no sample. */
  cut(end: number, trigger: Exclude<WindowTrigger, 'cadence'>): ClosedWindow | null {
    return this.build(end - this.opts.lengthMs, end + 1, trigger, end);
  }

  private addFrame(sample: WindowSample, payload: FramePayload): void {
    const last = this.frames.at(-1);
    const mergeBelow = this.opts.mergeBelow ?? 0;
    // a merged run spans less than a stride, so even a still scene gives each window a frame of its own
    if (
      last &&
      sample.at >= last.until &&
      sample.at - last.at < this.opts.strideMs &&
      sample.change < mergeBelow
    ) {
      last.until = sample.at;
      last.merged++;
      return;
    }
    this.frames.push({ ...payload, at: sample.at, until: sample.at, merged: 0 });
  }

  private build(start: number, endExcl: number, trigger: WindowTrigger, end = endExcl): ClosedWindow | null {
    const inside = <T extends { at: number }>(x: T) => x.at >= start && x.at < endExcl;
    const samples = this.samples.filter(inside);
    if (samples.length === 0) return null;
    // copies: the newest frame keeps absorbing near-duplicates after this window is handed on
    const frames = this.frames.filter((f) => f.until >= start && f.at < endExcl).map((f) => ({ ...f }));
    const anomalies = this.anomalies.filter(inside);
    const kept = this.withinBudget(frames, anomalies);
    return {
      start,
      end,
      trigger,
      samples,
      frames: kept,
      anomalies,
      merged: frames.reduce((a, f) => a + f.merged, 0),
      dropped: frames.length - kept.length,
    };
  }

  /** The frames that fit the token budget: those showing an anomaly first, then evenly spread over the window. */
  private withinBudget(frames: WindowFrame[], anomalies: WindowAnomaly[]): WindowFrame[] {
    const budget = this.opts.tokenBudget ?? 0;
    const per = this.opts.tokensPerFrame ?? 1;
    if (budget <= 0 || frames.length * per <= budget) return frames;
    const room = Math.max(1, Math.floor(budget / per));
    const keep = new Set<number>();
    for (const a of anomalies) {
      if (keep.size >= room) break;
      // the frame showing it: the last one taken at or before it
      const i = frames.findLastIndex((f) => f.at <= a.at);
      if (i >= 0) keep.add(i);
    }
    const left = room - keep.size;
    for (let k = 0; k < left; k++) {
      // evenly spread, always including the newest frame
      let i = left === 1 ? frames.length - 1 : Math.round((k * (frames.length - 1)) / (left - 1));
      while (keep.has(i) && i > 0) i--;
      while (keep.has(i) && i < frames.length - 1) i++;
      keep.add(i);
    }
    return [...keep].sort((a, b) => a - b).map((i) => frames[i]!);
  }

  private prune(before: number): void {
    if (this.samples.length > 0 && this.samples[0]!.at < before) {
      this.samples = this.samples.filter((s) => s.at >= before);
      this.frames = this.frames.filter((f) => f.until >= before);
      this.anomalies = this.anomalies.filter((a) => a.at >= before);
    }
  }
}

function alignUp(at: number, step: number): number {
  return at - (at % step) + step;
}
