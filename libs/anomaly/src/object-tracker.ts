import { type Box } from './geometry.js';

/** One thing a detector found in a frame: class name, class score and box (fractions of the frame). */
export interface TrackInput {
  readonly label: string;
  readonly score: number;
  readonly box: Box;
}

/** A detector's finding, its box given as [x, y, w, h] (as the detector returns it), as tracker input. */
export const trackInput = (d: { label: string; score: number; box: readonly number[] }): TrackInput => ({
  label: d.label,
  score: d.score,
  box: { x: d.box[0]!, y: d.box[1]!, w: d.box[2]!, h: d.box[3]! },
});

/** A tracked object as the rest of the analyzer sees it. */
export interface Track {
  /** Stable for the life of the track on this stream ("3", "4", ...). */
  readonly id: string;
  readonly label: string;
  /** The detector's score at the last match. */
  readonly score: number;
  /** Where it is now: the last matched box, or the filter's prediction while it is missed. */
  readonly box: Box;
  readonly firstSeenAt: number;
  readonly lastSeenAt: number;
  /** Confirmed: matched in at least `confirmHits` detection rounds (a one-frame blip never is). */
  readonly confirmed: boolean;
  /** Missed in the latest round (kept on its prediction until `maxMissMs`). */
  readonly missed: boolean;
  /** Box centre when first seen and now, for the direction it went. */
  readonly from: { readonly x: number; readonly y: number };
  readonly to: { readonly x: number; readonly y: number };
}

export interface TrackerOptions {
  /** Detections at or above this score start tracks and are matched first. */
  readonly highScore: number;
  /** Detections between this and highScore only keep existing tracks alive (ByteTrack's second round). */
  readonly lowScore: number;
  /** A match needs at least this similarity (IoU, or proximity for a box that moved off itself). */
  readonly minSimilarity: number;
  /** Matched this many rounds before the track counts (confirmed). */
  readonly confirmHits: number;
  /** A track missed for this long is dropped (ids survive shorter gaps). */
  readonly maxMissMs: number;
}

export const DEFAULT_TRACKER_OPTIONS: TrackerOptions = {
  highScore: 0.35,
  lowScore: 0.2,
  minSimilarity: 0.2,
  confirmHits: 2,
  maxMissMs: 3000,
};

/** The coarse class a track keeps: a detector may call one van a car in one frame and a truck the next. */
export const VEHICLE_LABELS: ReadonlySet<string> = new Set(['car', 'truck', 'bus', 'motorcycle', 'bicycle']);
/**
 * Things that move about in a scene as a matter of course: where one of these is tracked, the scene model
 * does not call the picture new (PatchGrid.covered). Objects that are put down (a bag, a crate) are not
 * among them: one that stays is still `object_appeared`; a parked vehicle is a zone rule's (loitering).
 */
export const MOBILE_LABELS: ReadonlySet<string> = new Set([
  'person',
  'bicycle',
  'car',
  'motorcycle',
  'bus',
  'train',
  'truck',
  'boat',
  'bird',
  'cat',
  'dog',
  'horse',
  'sheep',
  'cow',
]);
/** The coarse class: a detector may call one van a car in one frame and a truck the next. */
export const family = (label: string) => (VEHICLE_LABELS.has(label) ? 'vehicle' : label);

export const boxIou = (a: Box, b: Box): number => {
  const ix = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
  const inter = ix * iy;
  const union = a.w * a.h + b.w * b.h - inter;
  return union > 0 ? inter / union : 0;
};

/**
 * A constant-velocity Kalman filter for one coordinate (position and velocity, time in seconds). The box
 * is four of them (centre x, centre y, width, height): a diagonal form of SORT's filter, which is enough
 * at the one-to-five detections a second an analyzer runs.
 */
class Kalman1D {
  x: number;
  v = 0;
  // covariance [[pxx, pxv], [pxv, pvv]]
  private pxx: number;
  private pxv = 0;
  private pvv: number;

  constructor(
    x: number,
    private readonly q: number,
    private readonly r: number,
  ) {
    this.x = x;
    this.pxx = r;
    this.pvv = 10 * r;
  }

  /** The state `dt` seconds on, without changing it. */
  peek(dt: number): number {
    return this.x + this.v * dt;
  }

  predict(dt: number): void {
    this.x += this.v * dt;
    // P = F P F' + Q, F = [[1, dt], [0, 1]], Q from white acceleration noise q
    const pxx = this.pxx + 2 * dt * this.pxv + dt * dt * this.pvv + (this.q * dt ** 4) / 4;
    const pxv = this.pxv + dt * this.pvv + (this.q * dt ** 3) / 2;
    const pvv = this.pvv + this.q * dt * dt;
    this.pxx = pxx;
    this.pxv = pxv;
    this.pvv = pvv;
  }

  update(z: number): void {
    const s = this.pxx + this.r;
    const kx = this.pxx / s;
    const kv = this.pxv / s;
    const y = z - this.x;
    this.x += kx * y;
    this.v += kv * y;
    const pxx = (1 - kx) * this.pxx;
    const pxv = (1 - kx) * this.pxv;
    const pvv = this.pvv - kv * this.pxv;
    this.pxx = pxx;
    this.pxv = pxv;
    this.pvv = pvv;
  }
}

class TrackState {
  readonly cx: Kalman1D;
  readonly cy: Kalman1D;
  readonly w: Kalman1D;
  readonly h: Kalman1D;
  hits = 1;
  missed = false;
  /** The box of the last detection matched. */
  seen: Box;
  readonly from: { x: number; y: number };

  constructor(
    readonly id: string,
    public label: string,
    public score: number,
    box: Box,
    readonly firstSeenAt: number,
    public lastSeenAt: number,
    public at: number,
  ) {
    const q = 0.05;
    this.cx = new Kalman1D(box.x + box.w / 2, q, 0.0004);
    this.cy = new Kalman1D(box.y + box.h / 2, q, 0.0004);
    this.w = new Kalman1D(box.w, q / 10, 0.0004);
    this.h = new Kalman1D(box.h, q / 10, 0.0004);
    this.from = { x: box.x + box.w / 2, y: box.y + box.h / 2 };
    this.seen = box;
  }

  /** Where it is `at`: the box last seen, carried along the filter's velocity since then. */
  shownAt(at: number): Box {
    const dt = Math.max(0, (at - this.lastSeenAt) / 1000);
    return { ...this.seen, x: this.seen.x + this.cx.v * dt, y: this.seen.y + this.cy.v * dt };
  }

  /** Where the filter puts the box `at`. */
  boxAt(at: number): Box {
    const dt = Math.max(0, (at - this.at) / 1000);
    const w = Math.max(0.001, this.w.peek(dt));
    const h = Math.max(0.001, this.h.peek(dt));
    return { x: this.cx.peek(dt) - w / 2, y: this.cy.peek(dt) - h / 2, w, h };
  }

  advance(at: number): void {
    const dt = Math.max(0, (at - this.at) / 1000);
    for (const k of [this.cx, this.cy, this.w, this.h]) k.predict(dt);
    this.at = at;
  }

  correct(d: TrackInput, at: number): void {
    this.cx.update(d.box.x + d.box.w / 2);
    this.cy.update(d.box.y + d.box.h / 2);
    this.w.update(d.box.w);
    this.h.update(d.box.h);
    // the more confident detection names the object (a van called a truck, then a car, stays one track)
    if (d.score >= this.score) this.label = d.label;
    this.seen = d.box;
    this.score = d.score;
    this.hits++;
    this.lastSeenAt = at;
    this.missed = false;
  }
}

/** Some of the box is in the picture. */
const inside = (b: Box) => b.x < 1 && b.y < 1 && b.x + b.w > 0 && b.y + b.h > 0;

/**
 * How alike a track's predicted box and a detection are: their IoU, or, for an object that moved further
 * than its own size between two detection rounds (a walker at one detection a second), a proximity score
 * that falls from 0.5 at the same centre to 0 at three times the box's longer side away.
 */
function similarity(pred: Box, d: Box): number {
  const i = boxIou(pred, d);
  // in units of the box's longer side: a standing person moves sideways by a few of their widths a second
  const side = Math.max(pred.w, pred.h, d.w, d.h);
  const dx = (pred.x + pred.w / 2 - (d.x + d.w / 2)) / side;
  const dy = (pred.y + pred.h / 2 - (d.y + d.h / 2)) / side;
  const size = Math.min(pred.w * pred.h, d.w * d.h) / Math.max(pred.w * pred.h, d.w * d.h);
  const near = size < 0.25 ? 0 : 0.5 * Math.max(0, 1 - Math.hypot(dx, dy) / 3);
  return Math.max(i, near);
}

/**
 * One detection per object: the detector keeps a box per class, so one van comes as a truck and a bus at
 * once; of boxes of one family overlapping by IoU 0.7 or more, the most confident stays.
 */
function oneEach(dets: readonly TrackInput[]): TrackInput[] {
  const kept: TrackInput[] = [];
  for (const d of [...dets].sort((a, b) => b.score - a.score))
    if (!kept.some((k) => family(k.label) === family(d.label) && boxIou(k.box, d.box) >= 0.7)) kept.push(d);
  return kept;
}

/** Greedy assignment by similarity, best pair first (the lists are a few dozen long). */
function assign(
  tracks: TrackState[],
  dets: TrackInput[],
  at: number,
  minSimilarity: number,
): { pairs: [TrackState, TrackInput][]; tracks: TrackState[]; dets: TrackInput[] } {
  const cand: [number, number, number][] = [];
  tracks.forEach((t, i) => {
    const pred = t.boxAt(at);
    dets.forEach((d, j) => {
      if (family(d.label) !== family(t.label)) return;
      const s = similarity(pred, d.box);
      if (s >= minSimilarity) cand.push([s, i, j]);
    });
  });
  cand.sort((a, b) => b[0] - a[0]);
  const usedT = new Set<number>();
  const usedD = new Set<number>();
  const pairs: [TrackState, TrackInput][] = [];
  for (const [, i, j] of cand) {
    if (usedT.has(i) || usedD.has(j)) continue;
    usedT.add(i);
    usedD.add(j);
    pairs.push([tracks[i]!, dets[j]!]);
  }
  return {
    pairs,
    tracks: tracks.filter((_, i) => !usedT.has(i)),
    dets: dets.filter((_, j) => !usedD.has(j)),
  };
}

/**
 * One stream's multi-object tracker, ByteTrack-style: confident detections are matched to the tracks'
 * Kalman predictions first; the less confident ones then only keep unmatched tracks alive (a person half
 * hidden behind a pillar keeps their id); unmatched confident detections start tracks, confirmed at their
 * second match; a track missed for `maxMissMs` is dropped. Pure: no I/O, no clock.
 */
export class ObjectTracker {
  private tracks: TrackState[] = [];
  private nextId = 1;
  private lastAt = -Infinity;

  constructor(private readonly opts: TrackerOptions = DEFAULT_TRACKER_OPTIONS) {}

  /** One detection round at time `at` (ms); the tracks after it. Rounds out of order are ignored. */
  update(detections: readonly TrackInput[], at: number): Track[] {
    if (at < this.lastAt) return this.current(this.lastAt);
    this.lastAt = at;
    const o = this.opts;
    const kept = oneEach(detections);
    const high = kept.filter((d) => d.score >= o.highScore);
    const low = kept.filter((d) => d.score >= o.lowScore && d.score < o.highScore);
    const first = assign(this.tracks, high, at, o.minSimilarity);
    const second = assign(
      first.tracks.filter((t) => t.hits >= o.confirmHits),
      low,
      at,
      Math.max(o.minSimilarity, 0.3),
    );
    for (const t of this.tracks) t.advance(at);
    for (const [t, d] of [...first.pairs, ...second.pairs]) t.correct(d, at);
    const matched = new Set([...first.pairs, ...second.pairs].map(([t]) => t));
    for (const t of this.tracks) if (!matched.has(t)) t.missed = true;
    this.tracks = this.tracks.filter(
      (t) =>
        !t.missed ||
        // a missed track is kept on its prediction for a while, unless that took it out of the picture
        (t.hits >= o.confirmHits && at - t.lastSeenAt <= o.maxMissMs && inside(t.shownAt(at))),
    );
    for (const d of first.dets)
      this.tracks.push(new TrackState(String(this.nextId++), d.label, d.score, d.box, at, at, at));
    return this.current(at);
  }

  /** The tracks as they stand at `at` (missed ones on their prediction). */
  current(at = this.lastAt): Track[] {
    return this.tracks.map((t) => {
      // between detection rounds (or while missed) the box is carried along the track's motion
      const box = t.shownAt(at);
      return {
        id: t.id,
        label: t.label,
        score: t.score,
        box,
        firstSeenAt: t.firstSeenAt,
        lastSeenAt: t.lastSeenAt,
        confirmed: t.hits >= this.opts.confirmHits,
        missed: t.missed,
        from: t.from,
        to: { x: box.x + box.w / 2, y: box.y + box.h / 2 },
      };
    });
  }

  /** Forgets every track (the camera's picture changed: moved, covered, another run). */
  reset(): void {
    this.tracks = [];
  }
}

/** Which way a track went, in words ("left to right"), or undefined when it hardly moved. */
export function direction(t: Pick<Track, 'from' | 'to' | 'box'>): string | undefined {
  const dx = t.to.x - t.from.x;
  const dy = t.to.y - t.from.y;
  if (Math.hypot(dx / Math.max(t.box.w, 0.02), dy / Math.max(t.box.h, 0.02)) < 1) return undefined;
  if (Math.abs(dx) >= Math.abs(dy)) return dx > 0 ? 'left to right' : 'right to left';
  return dy > 0 ? 'top to bottom' : 'bottom to top';
}
