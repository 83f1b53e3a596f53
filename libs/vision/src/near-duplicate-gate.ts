import { meanAbsDiff } from './thumbnail.js';

export interface GateOptions {
  /** Mean absolute luma difference (0..1) of the small thumbnails under which a frame is a near-duplicate. */
  readonly threshold: number;
  /** Encode for real at least this often, whatever the scene does. */
  readonly maxReuseMs: number;
}

interface StreamGate<T> {
  thumb: Uint8Array;
  at: number;
  tokens: T;
  skipped: number;
  encoded: number;
}

/**
 * Spends encoder time only on frames that changed: a frame nearly identical to its stream's last *encoded*
 * frame (not merely the previous frame, so slow drift cannot creep past) reuses that frame's tokens. At
 * least one real encode happens every maxReuseMs. Pure: thumbnails in, decisions out.
 */
export class NearDuplicateGate<T> {
  private readonly streams = new Map<string, StreamGate<T>>();

  constructor(private readonly opts: GateOptions) {}

  check(streamId: string, thumb: Uint8Array, at: number): { reuse: true; tokens: T } | { reuse: false } {
    const s = this.streams.get(streamId);
    if (!s || s.thumb.length !== thumb.length || at - s.at >= this.opts.maxReuseMs) return { reuse: false };
    if (meanAbsDiff(s.thumb, thumb) >= this.opts.threshold) return { reuse: false };
    s.skipped++;
    return { reuse: true, tokens: s.tokens };
  }

  encoded(streamId: string, thumb: Uint8Array, at: number, tokens: T): void {
    const s = this.streams.get(streamId);
    if (s) Object.assign(s, { thumb, at, tokens, encoded: s.encoded + 1 });
    else this.streams.set(streamId, { thumb, at, tokens, skipped: 0, encoded: 1 });
  }

  /** Fraction of the stream's frames that reused tokens. */
  skipRatio(streamId: string): number {
    const s = this.streams.get(streamId);
    return s ? s.skipped / Math.max(1, s.skipped + s.encoded) : 0;
  }

  forget(streamId: string): void {
    this.streams.delete(streamId);
  }
}
