import {
  type BaselineOptions,
  type BaselineSnapshot,
  PatchBaseline,
  floatsFromBase64,
  floatsToBase64,
} from './baseline.js';
import { EventTracker, type EventTrackerOptions, JITTER } from './event-tracker.js';
import { type Box, type PatchGrid } from './geometry.js';
import {
  FROZEN_MOTION,
  type FrameHealth,
  type HealthKind,
  type HealthNorms,
  emptyNorms,
  frameHealth,
  healthScores,
  learnNorms,
} from './health.js';

export type SceneKind = HealthKind | 'activity_stopped' | 'camera_moved' | 'object_appeared';

/** Strongest explanation first: a covered lens also looks dark, still and new, so it silences those. */
export const SCENE_KINDS: readonly SceneKind[] = [
  'lens_covered',
  'too_dark',
  'overexposed',
  'blur',
  'frozen',
  'camera_moved',
  'activity_stopped',
  'object_appeared',
];

const MASKS: Partial<Record<SceneKind, readonly SceneKind[]>> = {
  lens_covered: SCENE_KINDS.filter((k) => k !== 'lens_covered'),
  too_dark: ['blur', 'camera_moved', 'activity_stopped', 'object_appeared'],
  overexposed: ['blur', 'camera_moved', 'activity_stopped', 'object_appeared'],
  blur: ['camera_moved', 'object_appeared'],
  // a frozen picture shows nothing new happening: whatever stands still in it is not news
  frozen: ['activity_stopped', 'object_appeared', 'camera_moved'],
  camera_moved: ['object_appeared'],
  activity_stopped: ['object_appeared'],
};

export interface SceneOptions extends BaselineOptions {
  /** A patch this many times its usual distance from the baseline is novel (divided by sensitivity). */
  readonly novelRatio: number;
  /** 1 is the default; 2 halves the departure needed, 0.5 doubles it. */
  readonly sensitivity: number;
  /** A patch must stay novel this long to count as something that appeared (people walk on sooner). */
  readonly persistMs: number;
  /** Event lifecycle shared by all kinds; per-kind minimum durations override it. */
  readonly tracker: EventTrackerOptions;
  readonly minDurationMs?: Partial<Record<SceneKind, number>>;
}

export const DEFAULT_SCENE_OPTIONS: SceneOptions = {
  bankSize: 8,
  warmupSamples: 120,
  adaptRate: 0.05,
  novelRatio: 4,
  sensitivity: 1,
  persistMs: 1000,
  tracker: {
    enter: 1,
    exit: 0.6,
    minDurationMs: 1000,
    exitHoldMs: 2000,
    cooldownMs: 10_000,
    updateEveryMs: 10_000,
  },
  // these build their duration into the score (frozen for 1 s, still for 1.5 s, staying for 1 s)
  minDurationMs: { frozen: 0, activity_stopped: 0, object_appeared: 0 },
};

export interface SceneEvent {
  readonly kind: SceneKind;
  readonly phase: 'start' | 'update' | 'end';
  readonly startedAt: number;
  readonly endedAt?: number;
  readonly score: number;
  readonly peak: number;
  readonly region?: Box;
}

export interface SceneResult {
  /** Still learning the stream's normal (warm-up): no scores yet. */
  readonly learning: boolean;
  readonly scores: Record<SceneKind, number>;
  /** The highest score of the frame (0 while learning): 1 is the alarm threshold. */
  readonly frameScore: number;
  readonly events: SceneEvent[];
  /** Some kind's score is rising toward its threshold: time to sample at full rate. */
  readonly rising: boolean;
  readonly health: FrameHealth;
  /** Fraction of the scored picture that is new against the baseline. */
  readonly novelFraction: number;
}

export interface SceneSnapshot {
  readonly v: 1;
  readonly baseline: BaselineSnapshot;
  readonly norms: HealthNorms;
  /** Per patch, how often it usually moves between samples, then its usual luma spread (base64 Float32). */
  readonly patchNorms: string;
  readonly activitySamples: number;
}

/** A patch moved between two samples when its features changed by this much (in feature spreads). */
const ACTIVE_CHANGE = 0.3;
/** A patch that moves in at least this share of normal samples is a busy one (a machine); sensor noise
 * makes a still patch flicker in and out of "moved" far less often than that. */
const BUSY = 0.7;
/** A busy patch still for this long has stopped (a pause between two strokes is shorter). */
const STILL_MS = 1500;
/** The share of the (unexplained) picture that must be new for the camera to count as moved. */
const MOVED_FRACTION = 0.33;
/** Normal samples compared before a patch's usual activity is trusted. */
const ACTIVITY_SAMPLES = 20;

const zeroScores = () => Object.fromEntries(SCENE_KINDS.map((k) => [k, 0])) as Record<SceneKind, number>;

/**
 * One stream's anomaly model: its learned normal (patch baseline and health norms), the detectors scored
 * against it, and one event lifecycle per kind. Learns during warm-up, then only from frames where nothing
 * is open or close to opening, so an anomaly never becomes normal. Pure: no I/O, no clock.
 */
export class SceneAnomalyModel {
  private readonly trackers = new Map<SceneKind, EventTracker>();
  /** The stream's current sensitivity (its StreamSpec may change it at any time). */
  sensitivity: number;
  private readonly regions = new Map<SceneKind, Box | undefined>();
  private prevThumb: Uint8Array | null = null;
  private prevTokens: Float32Array | null = null;
  /** Per patch, when it last moved; when the picture last changed at all. */
  private lastMovedAt: Float64Array | null = null;
  private lastChangeAt = -Infinity;
  private activitySamples = 0;
  private novelSince: Float64Array | null = null;
  /** The previous sample's explained patches: a person who walked out of a patch moved it too. */
  private prevExplained: Uint8Array | null = null;
  private lastObservedAt = -Infinity;

  private constructor(
    private readonly opts: SceneOptions,
    private baseline: PatchBaseline | null,
    private readonly norms: HealthNorms,
    private patchNorms: Float32Array | null,
  ) {
    this.sensitivity = opts.sensitivity;
    for (const k of SCENE_KINDS)
      this.trackers.set(
        k,
        new EventTracker({
          ...opts.tracker,
          minDurationMs: opts.minDurationMs?.[k] ?? opts.tracker.minDurationMs,
        }),
      );
  }

  static fresh(opts: SceneOptions = DEFAULT_SCENE_OPTIONS): SceneAnomalyModel {
    return new SceneAnomalyModel(opts, null, emptyNorms(), null);
  }

  /** A model that resumes from a snapshot: no warm-up needed. Throws RangeError when it does not fit. */
  static restore(s: SceneSnapshot, opts: SceneOptions = DEFAULT_SCENE_OPTIONS): SceneAnomalyModel {
    if (s.v !== 1) throw new RangeError(`scene snapshot version ${String(s.v)} is not known`);
    const baseline = PatchBaseline.restore(s.baseline, opts);
    const usual = floatsFromBase64(s.patchNorms, baseline.patches * 2, 'patch norms');
    const model = new SceneAnomalyModel(opts, baseline, { ...s.norms }, usual);
    model.activitySamples = s.activitySamples ?? 0;
    return model;
  }

  get learning(): boolean {
    return !this.baseline?.ready;
  }

  /** Closes every open event from outside (its stream went silent); what was open, as end events. */
  closeAll(at: number): SceneEvent[] {
    const out: SceneEvent[] = [];
    for (const k of SCENE_KINDS) {
      const c = this.trackers.get(k)!.close(at);
      if (c)
        out.push({
          kind: k,
          phase: 'end',
          startedAt: c.startedAt,
          endedAt: c.endedAt,
          score: 0,
          peak: c.peak,
        });
    }
    return out;
  }

  /**
   * Re-opens an event another analyzer had open on this stream (this one took the stream over): it goes on
   * with the same start, and ends when the condition clears, as if it had been open here all along.
   */
  resumeEvent(kind: SceneKind, startedAt: number, peak: number, at: number, region?: Box): void {
    this.trackers.get(kind)!.resume(startedAt, peak, at);
    if (region) this.regions.set(kind, region);
  }

  /** The scene has parts that normally move in most samples (a machine): their stillness is scored. */
  get hasBusyParts(): boolean {
    if (!this.patchNorms || this.activitySamples < ACTIVITY_SAMPLES) return false;
    let busy = 0;
    for (let p = 0; p < this.patchNorms.length / 2; p++) if (this.patchNorms[p]! >= BUSY) busy++;
    return busy >= 2;
  }

  get samplesLearned(): number {
    return this.baseline?.samples ?? 0;
  }

  snapshot(): SceneSnapshot | null {
    if (!this.baseline || !this.patchNorms) return null;
    return {
      v: 1,
      baseline: this.baseline.snapshot(),
      norms: { ...this.norms },
      patchNorms: floatsToBase64(this.patchNorms),
      activitySamples: this.activitySamples,
    };
  }

  /**
   * One sample. `explained` marks the patches that tracked objects cover (PatchGrid.covered): a person or
   * vehicle the detector knows is not "something new in view", does not make a patch look busy, and a
   * crowd filling the view is not the camera turning.
   */
  observe(
    tokens: Float32Array,
    dims: number,
    thumb: Uint8Array,
    at: number,
    grid: PatchGrid,
    explained?: Uint8Array,
  ): SceneResult {
    const patches = grid.patches;
    this.baseline ??= new PatchBaseline(patches, dims, this.opts);
    if (this.baseline.patches !== patches || this.baseline.dims !== dims) {
      // another encoder or grid: what was learned does not apply
      this.baseline = new PatchBaseline(patches, dims, this.opts);
      Object.assign(this.norms, emptyNorms());
      this.patchNorms = null;
      this.prevTokens = null;
    }
    // a patch a tracked object stood in at this sample or the last one: its change is that object's
    const moverAt = explained && new Uint8Array(patches);
    if (moverAt)
      for (let p = 0; p < patches; p++) moverAt[p] = explained[p]! | (this.prevExplained?.[p] ?? 0);
    this.prevExplained = explained ?? null;
    const sinceLast = this.lastObservedAt;
    this.lastObservedAt = at;
    const health = frameHealth(
      tokens,
      grid.mask,
      thumb,
      this.prevThumb,
      Math.max(0.004, 0.2 * this.norms.spread),
    );
    this.prevThumb = thumb;
    // which patches moved since the previous sample
    const moved = new Uint8Array(patches);
    const comparable = this.prevTokens !== null && this.prevTokens.length === tokens.length;
    if (comparable) {
      for (let p = 0; p < patches; p++) {
        moved[p] = this.baseline.change(tokens, this.prevTokens!, p) >= ACTIVE_CHANGE ? 1 : 0;
      }
    }
    this.prevTokens = tokens;
    this.patchNorms ??= new Float32Array(patches * 2);
    const usual = this.patchNorms;
    this.lastMovedAt ??= new Float64Array(patches).fill(at);
    const lastMoved = this.lastMovedAt;
    const learnActivity = () => {
      if (!comparable) return;
      this.activitySamples++;
      const a = Math.max(1 / Math.max(1, this.baseline!.samples - 1), 0.02);
      for (let p = 0; p < patches; p++) {
        // a person walking by is not a machine's motion
        if (moverAt?.[p]) continue;
        usual[p]! += a * (moved[p]! - usual[p]!);
        usual[patches + p]! += a * (health.spreads[p]! - usual[patches + p]!);
      }
    };
    if (comparable) for (let p = 0; p < patches; p++) if (moved[p]) lastMoved[p] = at;
    if (health.motion === null || health.motion > FROZEN_MOTION) this.lastChangeAt = at;
    // a frozen picture is frozen since the first sample of it (the last one that changed)
    const frozenFor = at - this.lastChangeAt;

    if (!this.baseline.ready) {
      this.baseline.learn(tokens);
      learnNorms(this.norms, health);
      learnActivity();
      return {
        learning: true,
        scores: zeroScores(),
        frameScore: 0,
        events: [],
        rising: false,
        health,
        novelFraction: 0,
      };
    }

    const nov = this.baseline.novelty(tokens, grid.mask, this.opts.novelRatio / this.sensitivity);
    // a machine that normally moves stands still: its busy patches have not moved for stillMs
    let busy = 0;
    let still = 0;
    let stillSince = Infinity;
    for (let p = 0; p < patches; p++) {
      if (!grid.mask[p] || usual[p]! < BUSY || moverAt?.[p]) continue;
      busy++;
      if (at - lastMoved[p]! >= STILL_MS * JITTER) {
        still++;
        stillSince = Math.min(stillSince, lastMoved[p]!);
      }
    }
    // something that stays: patches novel in every sample for persistMs (a passer-by moves on sooner)
    this.novelSince ??= new Float64Array(patches).fill(NaN);
    const isNovel = new Uint8Array(patches);
    for (const p of nov.novel) isNovel[p] = 1;
    const staying: number[] = [];
    const stayingRatios: number[] = [];
    let unexplained = 0;
    let unexplainedNovel = 0;
    for (let p = 0; p < patches; p++) {
      if (grid.mask[p] && !explained?.[p]) {
        unexplained++;
        if (isNovel[p]) unexplainedNovel++;
      }
      if (!isNovel[p]) {
        this.novelSince[p] = NaN;
        continue;
      }
      if (Number.isNaN(this.novelSince[p]!)) this.novelSince[p] = at;
      if (explained?.[p]) {
        // a tracked object in front of it: its clock stops (a passer-by neither makes nor resets it)
        if (Number.isFinite(sinceLast)) this.novelSince[p]! += Math.max(0, at - sinceLast);
        continue;
      }
      if (at - this.novelSince[p]! >= this.opts.persistMs * JITTER) {
        staying.push(p);
        stayingRatios.push(nov.ratio[p]!);
      }
    }
    stayingRatios.sort((a, b) => b - a);
    // the share of what the detector does not explain that is new (all of it when nothing is tracked)
    const newFraction = explained ? unexplainedNovel / Math.max(1, unexplained) : nov.fraction;
    const stayingSince = staying.length ? Math.min(...staying.map((p) => this.novelSince![p]!)) : undefined;
    const top = stayingRatios.slice(0, 3);
    const novelty = this.opts.novelRatio / this.sensitivity;
    const stayScore = top.length ? top.reduce((a, b) => a + b, 0) / 3 / novelty : 0;
    const scores: Record<SceneKind, number> = {
      ...healthScores(
        health,
        this.norms,
        correlation(health.spreads, usual.subarray(patches), grid.mask),
        frozenFor,
      ),
      activity_stopped:
        busy >= 2 && comparable && this.activitySamples >= ACTIVITY_SAMPLES
          ? Math.min(4, still / busy / 0.75)
          : 0,
      // a third of what no tracked object explains no longer looks like itself: the view changed (on
      // real footage a camera turned by a quarter of the width leaves about a third of it new)
      camera_moved: Math.min(4, newFraction / MOVED_FRACTION),
      object_appeared: newFraction < MOVED_FRACTION ? Math.min(4, stayScore) : 0,
    };
    // a frozen feed has no motion at all; do not also call it stopped activity
    if (health.motion !== null && health.motion <= FROZEN_MOTION) scores.activity_stopped = 0;
    for (const k of SCENE_KINDS) {
      const on = scores[k] >= this.opts.tracker.enter || this.trackers.get(k)!.active;
      if (on) for (const m of MASKS[k] ?? []) scores[m] = 0;
    }

    const events: SceneEvent[] = [];
    const region = grid.region(staying.length ? staying : nov.novel);
    for (const k of SCENE_KINDS) {
      // kinds whose score needed time to build are dated from when the condition began
      const since =
        k === 'object_appeared'
          ? stayingSince
          : k === 'frozen'
            ? this.lastChangeAt
            : k === 'activity_stopped' && Number.isFinite(stillSince)
              ? stillSince
              : undefined;
      const d = this.trackers.get(k)!.observe(scores[k], at, since);
      if (d.phase === 'none') continue;
      if (d.phase === 'start' || (d.phase === 'update' && (k === 'object_appeared' || k === 'camera_moved')))
        this.regions.set(k, k === 'object_appeared' || k === 'camera_moved' ? region : undefined);
      const r = this.regions.get(k);
      events.push({
        kind: k,
        phase: d.phase,
        startedAt: d.startedAt,
        ...(d.phase === 'end' ? { endedAt: d.endedAt } : {}),
        score: d.score,
        peak: d.peak,
        ...(r ? { region: r } : {}),
      });
    }
    const frameScore = Math.max(...SCENE_KINDS.map((k) => scores[k]));
    const anyOpen = SCENE_KINDS.some((k) => this.trackers.get(k)!.active);
    // near-threshold frames are still learned, so a slow drift (daylight) keeps becoming normal
    if (!anyOpen && frameScore < this.opts.tracker.enter) {
      // what is new right now (it may be about to stay) is not learned as normal
      this.baseline.learn(tokens, isNovel);
      learnNorms(this.norms, health);
      learnActivity();
    }
    // rising: a score on its way to the threshold, or something new in view that may be about to stay
    const rising =
      SCENE_KINDS.some((k) => scores[k] >= this.opts.tracker.exit && !this.trackers.get(k)!.active) ||
      (nov.score >= 1 && !this.trackers.get('object_appeared')!.active);
    return { learning: false, scores, frameScore, events, rising, health, novelFraction: nov.fraction };
  }
}

/** Pearson correlation of two per-patch maps over the scored patches (0 when either is flat). */
function correlation(a: Float32Array, b: Float32Array, mask: Uint8Array): number {
  let n = 0;
  let ma = 0;
  let mb = 0;
  for (let p = 0; p < mask.length; p++) {
    if (!mask[p]) continue;
    n++;
    ma += a[p]!;
    mb += b[p]!;
  }
  if (n < 2) return 0;
  ma /= n;
  mb /= n;
  let cov = 0;
  let va = 0;
  let vb = 0;
  for (let p = 0; p < mask.length; p++) {
    if (!mask[p]) continue;
    const da = a[p]! - ma;
    const db = b[p]! - mb;
    cov += da * db;
    va += da * da;
    vb += db * db;
  }
  return va > 0 && vb > 0 ? cov / Math.sqrt(va * vb) : 0;
}
