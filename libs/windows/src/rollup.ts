import { type WindowAnomaly } from './sliding-window.js';

/** What one narrated summary contributes to the rollup above it. */
export interface RollupChild {
  /** The stretch of stream time it accounts for (a window's stride, a minute, …), not overlapping its siblings. */
  readonly start: number;
  readonly end: number;
  readonly frames: number;
  /** Sum and max of the per-sample change over `frames`. */
  readonly sumChange: number;
  readonly maxChange: number;
  readonly anomalies: readonly WindowAnomaly[];
  /** Events that started before `start` and were still open at it (set when a rollup is settled). */
  readonly ongoing?: readonly WindowAnomaly[];
  readonly eventIds: readonly string[];
  readonly findings: readonly { readonly kind: string; readonly severity: string }[];
  readonly windows: number;
  readonly fallbacks: number;
}

export interface ClosedRollup {
  readonly level: string;
  readonly start: number;
  readonly end: number;
  readonly children: readonly RollupChild[];
  /** The children merged and settled: what the rollup reports, and what the level above gets. */
  readonly merged: RollupChild;
}

/**
 * Settles a closing rollup: given the children merged, returns what it reports (the narration replaces the
 * windows' anomalies by the event starts it counts, so each start is counted once, and adds what was open).
 */
export type SettleRollup = (level: string, merged: RollupChild) => RollupChild;

interface Bucket {
  pending: number;
  superseded: boolean;
  children: RollupChild[];
}

/** Merges children into the child the level above sees. */
export function mergeChildren(start: number, end: number, children: readonly RollupChild[]): RollupChild {
  const ids = new Set<string>();
  const seen = new Set<string>();
  const anomalies: WindowAnomaly[] = [];
  for (const c of children) {
    for (const id of c.eventIds) ids.add(id);
    for (const a of c.anomalies) {
      const key = a.eventId ?? `${a.kind}@${a.at}`;
      if (!seen.has(key)) {
        seen.add(key);
        anomalies.push(a);
      }
    }
  }
  return {
    start,
    end,
    frames: children.reduce((a, c) => a + c.frames, 0),
    sumChange: children.reduce((a, c) => a + c.sumChange, 0),
    maxChange: Math.max(0, ...children.map((c) => c.maxChange)),
    anomalies: anomalies.sort((a, b) => a.at - b.at),
    eventIds: [...ids],
    findings: children.flatMap((c) => c.findings),
    windows: children.reduce((a, c) => a + c.windows, 0),
    fallbacks: children.reduce((a, c) => a + c.fallbacks, 0),
  };
}

/**
 * One stream's rollups: level k collects the summaries of level k−1 in epoch-aligned buckets (minutes of
 * windows, hours of minutes). A bucket closes when nothing more can come for it: a child of a later bucket
 * has been announced (`expect`) and every child announced for it has been delivered — so windows narrated
 * out of order by a concurrent decoder still land in the right minute, and no minute closes early. Periods
 * are parameters (tests shorten the clock). Pure.
 */
export class Rollups {
  private readonly levels: { name: string; ms: number; buckets: Map<number, Bucket> }[];

  constructor(
    levels: readonly { readonly name: string; readonly ms: number }[],
    private readonly settle: SettleRollup = (_level, merged) => merged,
    /**
     * A bucket of the lowest level closes only once a child ending this long after it is announced, so an
     * event that started near its end (noted a moment later, after its hysteresis) is counted in it.
     */
    private readonly graceMs = 0,
  ) {
    for (let i = 1; i < levels.length; i++)
      if (levels[i]!.ms % levels[i - 1]!.ms !== 0)
        throw new RangeError(
          `rollup ${levels[i]!.name} (${levels[i]!.ms} ms) must be a whole number of ${levels[i - 1]!.name}s (${levels[i - 1]!.ms} ms)`,
        );
    this.levels = levels.map((l) => {
      if (!(l.ms > 0)) throw new RangeError(`rollup ${l.name} period must be positive`);
      return { ...l, buckets: new Map() };
    });
  }

  /** A summary accounting for the stretch ending at `end` is on its way (call when its window is cut). */
  expect(end: number): void {
    this.announce(0, end - 1);
  }

  /** The summary announced for its stretch arrived; returns the rollups that closed, lowest level first. */
  deliver(child: RollupChild): ClosedRollup[] {
    return this.land(0, child);
  }

  /** Children announced but not delivered, all levels (for shutdown reports). */
  get pending(): number {
    return this.levels.reduce((a, l) => a + [...l.buckets.values()].reduce((b, x) => b + x.pending, 0), 0);
  }

  private announce(level: number, t: number): void {
    const l = this.levels[level];
    if (!l) return;
    const key = t - (t % l.ms);
    let b = l.buckets.get(key);
    if (!b) {
      b = { pending: 0, superseded: false, children: [] };
      l.buckets.set(key, b);
      this.announce(level + 1, key);
    }
    b.pending++;
    const grace = level === 0 ? this.graceMs : 0;
    for (const [k, other] of l.buckets) if (k < key && k + l.ms + grace <= t) other.superseded = true;
  }

  private land(level: number, child: RollupChild): ClosedRollup[] {
    const l = this.levels[level];
    if (!l) return [];
    const t = child.end - 1;
    const b = l.buckets.get(t - (t % l.ms));
    if (!b) return [];
    b.pending--;
    b.children.push(child);
    const closed: ClosedRollup[] = [];
    for (const [key, bucket] of [...l.buckets].sort((x, y) => x[0] - y[0])) {
      if (!bucket.superseded || bucket.pending > 0) continue;
      l.buckets.delete(key);
      const children = bucket.children.sort((x, y) => x.start - y.start);
      const merged = this.settle(l.name, mergeChildren(key, key + l.ms, children));
      closed.push({ level: l.name, start: key, end: key + l.ms, children, merged });
      closed.push(...this.land(level + 1, merged));
    }
    return closed;
  }
}
