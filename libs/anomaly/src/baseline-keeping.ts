import { type BaselineRecord } from '@vigil/contracts';
import {
  SceneAnomalyModel,
  type SceneOptions,
  type SceneSnapshot,
  DEFAULT_SCENE_OPTIONS,
} from './scene-scorer.js';

/** The encoder a learned normal belongs to: a normal of other tokens means nothing to this one. */
export interface EncoderIdentity {
  readonly name: string;
  readonly tokenGrid: readonly [number, number];
  readonly tokenDims: number;
}

/** A stream's scene model, and what became of its saved normal (for the log). */
export interface RestoredScene {
  readonly scene: SceneAnomalyModel;
  readonly restored: boolean;
  /** Why a saved normal was not used; absent when there was none or it was. */
  readonly rejected?: string;
}

/** The stream's saved normal when it fits this encoder; otherwise a fresh model that warms up. */
export function restoreScene(
  rec: BaselineRecord | undefined,
  encoder: EncoderIdentity,
  options: SceneOptions = DEFAULT_SCENE_OPTIONS,
): RestoredScene {
  if (!rec) return { scene: SceneAnomalyModel.fresh(options), restored: false };
  const fits =
    rec.model === encoder.name &&
    rec.tokenGrid[0] === encoder.tokenGrid[0] &&
    rec.tokenGrid[1] === encoder.tokenGrid[1] &&
    rec.tokenDims === encoder.tokenDims;
  if (!fits)
    return {
      scene: SceneAnomalyModel.fresh(options),
      restored: false,
      rejected: `saved for another encoder (${rec.model})`,
    };
  try {
    const scene = SceneAnomalyModel.restore(rec.snapshot as unknown as SceneSnapshot, options);
    return { scene, restored: true };
  } catch (e) {
    return { scene: SceneAnomalyModel.fresh(options), restored: false, rejected: (e as Error).message };
  }
}

/** The stream's learned normal as a record for vigil.baselines.v1; null while it is still learning. */
export function baselineRecord(
  streamId: string,
  scene: SceneAnomalyModel,
  encoder: EncoderIdentity,
  at: number,
): BaselineRecord | null {
  if (scene.learning) return null;
  const snapshot = scene.snapshot();
  if (!snapshot) return null;
  return {
    streamId,
    model: encoder.name,
    tokenGrid: [encoder.tokenGrid[0], encoder.tokenGrid[1]],
    tokenDims: encoder.tokenDims,
    samples: scene.samplesLearned,
    savedAt: new Date(at).toISOString(),
    snapshot: snapshot as unknown as BaselineRecord['snapshot'],
  };
}

/** What one sample means for saving the stream's normal. */
export interface SaveStep {
  /** The warm-up ended with this sample. */
  readonly learned: boolean;
  /** Save the normal now. */
  readonly save: boolean;
}

/**
 * When a stream's normal is saved: as soon as the warm-up ends, then every `everyMs` of stream time while
 * it is scored. A restored normal counts as saved at `since`, so it is saved again only after `everyMs`.
 */
export class BaselineCadence {
  private wasLearning: boolean;
  private lastSavedAt: number;

  constructor(
    private readonly everyMs: number,
    learning: boolean,
    since: number,
  ) {
    this.wasLearning = learning;
    this.lastSavedAt = since;
  }

  step(at: number, learning: boolean): SaveStep {
    const learned = this.wasLearning && !learning;
    const save = learned || (!learning && at - this.lastSavedAt >= this.everyMs);
    this.wasLearning = learning;
    return { learned, save };
  }

  /** The normal was saved at `at` (a record could be made). */
  saved(at: number): void {
    this.lastSavedAt = at;
  }
}
