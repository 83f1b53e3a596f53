import { type AnomalyKind } from '@vigil/contracts';
import { JITTER } from './event-tracker.js';

/** The per-patch features of vigil-patch-v1, in token order (see tools/scripts/generate-models.ts). */
export const PATCH_V1_FEATURES = [
  'r',
  'g',
  'b',
  'sr',
  'sg',
  'sb',
  'e0',
  'e90',
  'e45',
  'e135',
  'focus',
  'dc',
  'fh',
  'fv',
  'fd',
  'sy',
] as const;

/** What a frame looks like as a whole: the inputs of the tampering and camera-health detectors. */
export interface FrameHealth {
  /** Mean brightness, 0..1. */
  readonly luma: number;
  /** Fractions of the scored picture that are near black / near white. */
  readonly dark: number;
  readonly bright: number;
  /** Mean luma spread inside a patch (structure at any scale). */
  readonly spread: number;
  /** Mean oriented-gradient energy (edges) and Laplacian energy (fine detail: focus). */
  readonly texture: number;
  readonly focus: number;
  /** Fraction of scored patches that are flat (no structure at all): a covered lens. */
  readonly flat: number;
  /** Per patch luma spread (0 where not scored): where the structure is. */
  readonly spreads: Float32Array;
  /** Mean absolute difference of the gray thumbnail to the previous sample's, 0..1; null for the first. */
  readonly motion: number | null;
}

/**
 * Health of one frame from vigil-patch-v1 tokens (per-patch colour, spread, gradient and focus energy) and
 * its gray thumbnail (brightness, motion). `flatBelow` is the spread under which a patch counts as flat.
 */
export function frameHealth(
  tokens: Float32Array,
  mask: Uint8Array,
  thumb: Uint8Array,
  prevThumb: Uint8Array | null,
  flatBelow: number,
): FrameHealth {
  const D = PATCH_V1_FEATURES.length;
  const at = (name: (typeof PATCH_V1_FEATURES)[number]) => PATCH_V1_FEATURES.indexOf(name);
  const [dc, sy, focus, e0, e90, e45, e135] = [
    at('dc'),
    at('sy'),
    at('focus'),
    at('e0'),
    at('e90'),
    at('e45'),
    at('e135'),
  ];
  let n = 0;
  let luma = 0;
  let dark = 0;
  let bright = 0;
  let spread = 0;
  let texture = 0;
  let fine = 0;
  let flat = 0;
  const spreads = new Float32Array(mask.length);
  for (let p = 0; p < mask.length; p++) {
    if (!mask[p]) continue;
    const t = p * D;
    n++;
    const l = tokens[t + dc]!;
    luma += l;
    if (l < 0.08) dark++;
    if (l > 0.92) bright++;
    const s = tokens[t + sy]!;
    spreads[p] = s;
    spread += s;
    if (s < flatBelow) flat++;
    texture += tokens[t + e0]! + tokens[t + e90]! + tokens[t + e45]! + tokens[t + e135]!;
    fine += tokens[t + focus]!;
  }
  n = Math.max(1, n);
  let motion: number | null = null;
  if (prevThumb && prevThumb.length === thumb.length) {
    let sum = 0;
    for (let i = 0; i < thumb.length; i++) sum += Math.abs(thumb[i]! - prevThumb[i]!);
    motion = sum / (thumb.length * 255);
  }
  return {
    luma: luma / n,
    dark: dark / n,
    bright: bright / n,
    spread: spread / n,
    texture: texture / n,
    focus: fine / n,
    flat: flat / n,
    spreads,
    motion,
  };
}

/** A stream's usual health, learned with its baseline (exponential means over normal samples). */
export interface HealthNorms {
  luma: number;
  bright: number;
  spread: number;
  texture: number;
  focus: number;
  /** Usual motion between samples; `motionSamples` of them were seen. */
  motion: number;
  motionSamples: number;
  samples: number;
}

export const emptyNorms = (): HealthNorms => ({
  luma: 0,
  bright: 0,
  spread: 0,
  texture: 0,
  focus: 0,
  motion: 0,
  motionSamples: 0,
  samples: 0,
});

/** Folds a normal frame into the norms: a running mean for the first 50 samples, then a slow exponential one. */
export function learnNorms(n: HealthNorms, h: FrameHealth): void {
  n.samples++;
  const a = Math.max(1 / n.samples, 0.02);
  n.luma += a * (h.luma - n.luma);
  n.bright += a * (h.bright - n.bright);
  n.spread += a * (h.spread - n.spread);
  n.texture += a * (h.texture - n.texture);
  n.focus += a * (h.focus - n.focus);
  if (h.motion !== null) {
    n.motionSamples++;
    n.motion += Math.max(1 / n.motionSamples, 0.02) * (h.motion - n.motion);
  }
}

export type HealthKind = Extract<
  AnomalyKind,
  'lens_covered' | 'too_dark' | 'overexposed' | 'blur' | 'frozen'
>;

/** Under this correlation with the usual per-patch structure, the scene's layout is gone (see healthScores). */
export const LAYOUT_GONE = 0.3;

/** Motion at or under this between two samples means the picture did not change at all (a frozen feed). */
export const FROZEN_MOTION = 0.0004;
/** A picture identical for this long is frozen (a camera whose own frame rate is low repeats for less). */
export const FROZEN_MS = 1000;

/**
 * Scores of the tampering and camera-health detectors against the stream's norms: 1 is the threshold of
 * each (an event opens at 1 and closes under 0.6). `structureKept` is the correlation (-1..1) of the
 * frame's per-patch structure with the usual one: a darkened scene keeps it, a covered lens does not.
 * `frozenForMs` is how long the picture has been pixel-identical.
 */
export function healthScores(
  h: FrameHealth,
  n: HealthNorms,
  structureKept: number,
  frozenForMs: number,
): Record<HealthKind, number> {
  const clip = (v: number) => Math.max(0, Math.min(4, v));
  // most of the picture flat where the scene normally has structure
  const flatCover = n.spread > 0.02 && structureKept < 0.5 ? clip(h.flat / 0.7) : 0;
  // brightness fell to under half of usual, and is dark in absolute terms
  const dark = h.luma < 0.25 && n.luma > 0.1 ? clip((n.luma - h.luma) / (0.5 * n.luma)) : 0;
  // dark with the usual layout gone is something in front of the lens (a hand, light leaking past its
  // edge), not a lamp that went out: a darkened scene keeps where its structure is
  const layoutGone = n.spread > 0.02 && structureKept < LAYOUT_GONE;
  const lensCovered = Math.max(flatCover, layoutGone ? dark : 0);
  const tooDark = layoutGone ? 0 : dark;
  // half of the picture more blown out than usual
  const overexposed = clip((h.bright - n.bright) / 0.5);
  // fine detail lost while coarse structure stays (a covered lens loses both)
  const blur = n.focus > 1e-3 && h.spread >= 0.5 * n.spread ? clip((1 - h.focus / n.focus) / 0.6) : 0;
  // a feed that normally shows sensor noise or motion repeats the identical picture for frozenForMs
  const lively = n.motionSamples >= 5 && n.motion > 4 * FROZEN_MOTION;
  const frozen = lively && frozenForMs >= FROZEN_MS * JITTER ? 1.5 : 0;
  return {
    lens_covered: lensCovered,
    too_dark: tooDark,
    overexposed,
    blur,
    frozen,
  };
}
