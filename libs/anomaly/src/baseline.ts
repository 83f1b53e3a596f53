import { mulberry32 } from '@vigil/contracts';

/** Options of a stream's learned normal. */
export interface BaselineOptions {
  /** Token vectors kept per patch (the bank); memory is patches × bankSize × dims floats. */
  readonly bankSize: number;
  /** Samples learned before scoring starts. */
  readonly warmupSamples: number;
  /** After warm-up, each normal sample replaces one bank entry with this probability (slow adaptation). */
  readonly adaptRate: number;
  /** Seed of the adaptation's choices: the same frames give the same baseline. */
  readonly seed?: number;
}

export interface PatchNovelty {
  /** Per patch: distance to its nearest normal token over the patch's usual distance (0 where not scored). */
  readonly ratio: Float32Array;
  /** Patches at or above `novelRatio`, in index order. */
  readonly novel: number[];
  /** Fraction of the scored patches that are novel. */
  readonly fraction: number;
  /** Mean ratio of the most novel patches (top 3), over `novelRatio`: ≥ 1 means something new is there. */
  readonly score: number;
}

/** The JSON form persisted on vigil.baselines.v1 (keyed by streamId). */
export interface BaselineSnapshot {
  readonly v: 1;
  readonly patches: number;
  readonly dims: number;
  readonly bankSize: number;
  readonly seen: number;
  readonly filled: number;
  readonly rng: number;
  readonly bank: string;
  readonly typical: string;
  readonly scale: string;
  /** Welford accumulators of the per-dimension spread (mean and M2), for scale. */
  readonly mean: string;
  readonly m2: string;
}

/** Float32 values as base64 (the snapshots' JSON form). */
export const floatsToBase64 = (a: Float32Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

/** The inverse of floatsToBase64; a RangeError names `what` when the count is not `n`. */
export function floatsFromBase64(s: string, n: number, what: string): Float32Array {
  const buf = Buffer.from(s, 'base64');
  if (buf.length !== n * 4)
    throw new RangeError(`baseline ${what} has ${buf.length / 4} values, expected ${n}`);
  const out = new Float32Array(n);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

/**
 * A stream's normal, learned from its own patch tokens: per patch a bank of up to `bankSize` token vectors
 * (a coreset of the looks the patch had, refreshed slowly so gradual change such as daylight becomes
 * normal), the usual distance of a new normal sample to the bank (so a busy patch needs a bigger departure
 * than a still one), and per-dimension scales so features of different ranges weigh alike. Bounded memory;
 * the caller never feeds it frames that lie inside an anomaly.
 */
export class PatchBaseline {
  private bank: Float32Array;
  private typical: Float32Array;
  private mean: Float32Array;
  private m2: Float32Array;
  private scale: Float32Array;
  private seen = 0;
  private filled = 0;
  private rng: number;

  constructor(
    readonly patches: number,
    readonly dims: number,
    private readonly opts: BaselineOptions,
  ) {
    this.bank = new Float32Array(patches * opts.bankSize * dims);
    this.typical = new Float32Array(patches);
    this.mean = new Float32Array(dims);
    this.m2 = new Float32Array(dims);
    this.scale = new Float32Array(dims).fill(1);
    this.rng = (opts.seed ?? 0x9e3779b9) >>> 0;
  }

  /** Samples learned so far. */
  get samples(): number {
    return this.seen;
  }

  get ready(): boolean {
    return this.seen >= this.opts.warmupSamples;
  }

  /** Bytes the bank and its tables take. */
  get bytes(): number {
    return (this.bank.length + this.typical.length + 3 * this.dims) * 4;
  }

  private random(): number {
    const r = mulberry32(this.rng);
    this.rng = r.state;
    return r.value;
  }

  /** Per patch, the scaled distance of `tokens` to the nearest bank entry (Infinity while the bank is empty). */
  distances(tokens: Float32Array, mask?: Uint8Array): Float32Array {
    const { patches, dims } = this;
    const K = this.opts.bankSize;
    const out = new Float32Array(patches);
    for (let p = 0; p < patches; p++) {
      if (mask && !mask[p]) continue;
      let best = Infinity;
      const x = p * dims;
      for (let k = 0; k < this.filled; k++) {
        const b = (p * K + k) * dims;
        let d = 0;
        for (let f = 0; f < dims; f++) {
          const v = (tokens[x + f]! - this.bank[b + f]!) / this.scale[f]!;
          d += v * v;
        }
        if (d < best) best = d;
      }
      out[p] = Math.sqrt(best);
    }
    return out;
  }

  /**
   * Learns one normal sample: updates the usual distances and scales, then the bank, a small coreset per
   * patch. A sample farther from the bank than the bank's two closest entries are from each other replaces
   * one of those two, so the bank keeps the patch's distinct looks (the aisle empty and with a person in
   * it) rather than many copies of the commonest; and, after warm-up, with probability adaptRate the sample
   * replaces its nearest entry, so a slow drift (daylight) moves the bank along. Patches in `skip` (those
   * showing something new right now) are left as they are.
   */
  learn(tokens: Float32Array, skip?: Uint8Array): void {
    const { patches, dims } = this;
    const K = this.opts.bankSize;
    if (tokens.length !== patches * dims)
      throw new RangeError(`tokens have ${tokens.length} values, the baseline expects ${patches}×${dims}`);
    const warm = this.seen < this.opts.warmupSamples;
    if (warm) {
      // per-dimension spread over all patches (Welford), fixed once warm-up ends
      for (let p = 0; p < patches; p++) {
        const n = this.seen * patches + p + 1;
        for (let f = 0; f < dims; f++) {
          const v = tokens[p * dims + f]!;
          const delta = v - this.mean[f]!;
          this.mean[f]! += delta / n;
          this.m2[f]! += delta * (v - this.mean[f]!);
        }
      }
      const n = (this.seen + 1) * patches;
      for (let f = 0; f < dims; f++) this.scale[f] = Math.max(Math.sqrt(this.m2[f]! / n), 1e-3);
    }
    this.seen++;
    if (this.filled < K) {
      if (this.filled > 0) this.foldTypical(this.distances(tokens));
      for (let p = 0; p < patches; p++)
        this.bank.set(tokens.subarray(p * dims, (p + 1) * dims), (p * K + this.filled) * dims);
      this.filled++;
      return;
    }
    const drift = !warm && this.random() < this.opts.adaptRate;
    const nearestDist = new Float32Array(patches);
    for (let p = 0; p < patches; p++) {
      if (skip?.[p]) {
        nearestDist[p] = this.typical[p]!;
        continue;
      }
      const x = tokens.subarray(p * dims, (p + 1) * dims);
      let nearest = 0;
      let best = Infinity;
      for (let k = 0; k < K; k++) {
        const d = this.dist(x, p, k);
        if (d < best) {
          best = d;
          nearest = k;
        }
      }
      nearestDist[p] = Math.sqrt(best);
      // the bank's closest pair
      let pair = Infinity;
      let victim = -1;
      for (let a = 0; a < K; a++) {
        for (let b = a + 1; b < K; b++) {
          const d = this.distEntries(p, a, b);
          if (d < pair) {
            pair = d;
            victim = b;
          }
        }
      }
      let slot = -1;
      if (best > pair) slot = victim;
      else if (drift) slot = nearest;
      if (slot >= 0) this.bank.set(x, (p * K + slot) * dims);
    }
    this.foldTypical(nearestDist);
  }

  /** Scaled distance between two samples' tokens at patch `p` (how much the patch changed between them). */
  change(a: Float32Array, b: Float32Array, p: number): number {
    let d = 0;
    for (let f = 0; f < this.dims; f++) {
      const v = (a[p * this.dims + f]! - b[p * this.dims + f]!) / this.scale[f]!;
      d += v * v;
    }
    return Math.sqrt(d);
  }

  /** The usual distance of a new normal sample to the bank: a running mean at first, then exponential. */
  private foldTypical(d: Float32Array): void {
    const alpha = this.seen <= this.opts.warmupSamples ? 1 / Math.max(1, this.seen - 1) : 0.02;
    for (let p = 0; p < this.patches; p++) this.typical[p]! += alpha * (d[p]! - this.typical[p]!);
  }

  private dist(x: Float32Array, p: number, k: number): number {
    const b = (p * this.opts.bankSize + k) * this.dims;
    let d = 0;
    for (let f = 0; f < this.dims; f++) {
      const v = (x[f]! - this.bank[b + f]!) / this.scale[f]!;
      d += v * v;
    }
    return d;
  }

  private distEntries(p: number, a: number, b: number): number {
    const K = this.opts.bankSize;
    const ia = (p * K + a) * this.dims;
    const ib = (p * K + b) * this.dims;
    let d = 0;
    for (let f = 0; f < this.dims; f++) {
      const v = (this.bank[ia + f]! - this.bank[ib + f]!) / this.scale[f]!;
      d += v * v;
    }
    return d;
  }

  /**
   * How new each scored patch is: its distance to the bank over its usual distance (floored, so a patch
   * that never moved still needs a visible change). `novelRatio` marks a patch novel.
   */
  novelty(tokens: Float32Array, mask: Uint8Array, novelRatio: number, floor = 0.5): PatchNovelty {
    const d = this.distances(tokens, mask);
    const ratio = new Float32Array(this.patches);
    const novel: number[] = [];
    const scored: number[] = [];
    let count = 0;
    for (let p = 0; p < this.patches; p++) {
      if (!mask[p]) continue;
      count++;
      const r = d[p]! / Math.max(this.typical[p]!, floor);
      ratio[p] = r;
      scored.push(r);
      if (r >= novelRatio) novel.push(p);
    }
    scored.sort((a, b) => b - a);
    const top = scored.slice(0, 3);
    const score = top.length ? top.reduce((a, b) => a + b, 0) / top.length / novelRatio : 0;
    return { ratio, novel, fraction: count ? novel.length / count : 0, score };
  }

  snapshot(): BaselineSnapshot {
    return {
      v: 1,
      patches: this.patches,
      dims: this.dims,
      bankSize: this.opts.bankSize,
      seen: this.seen,
      filled: this.filled,
      rng: this.rng,
      bank: floatsToBase64(this.bank),
      typical: floatsToBase64(this.typical),
      scale: floatsToBase64(this.scale),
      mean: floatsToBase64(this.mean),
      m2: floatsToBase64(this.m2),
    };
  }

  /** Rebuilds a baseline from its snapshot; throws RangeError when it does not fit these options. */
  static restore(s: BaselineSnapshot, opts: BaselineOptions): PatchBaseline {
    if (s.v !== 1) throw new RangeError(`baseline snapshot version ${String(s.v)} is not known`);
    if (s.bankSize !== opts.bankSize)
      throw new RangeError(`baseline bank size ${s.bankSize} differs from the configured ${opts.bankSize}`);
    const b = new PatchBaseline(s.patches, s.dims, opts);
    b.bank = floatsFromBase64(s.bank, s.patches * s.bankSize * s.dims, 'bank');
    b.typical = floatsFromBase64(s.typical, s.patches, 'typical');
    b.scale = floatsFromBase64(s.scale, s.dims, 'scale');
    b.mean = floatsFromBase64(s.mean, s.dims, 'mean');
    b.m2 = floatsFromBase64(s.m2, s.dims, 'm2');
    b.seen = s.seen;
    b.filled = s.filled;
    b.rng = s.rng >>> 0;
    return b;
  }
}
