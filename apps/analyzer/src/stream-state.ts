import { type EventState, type FrameMeta } from '@vigil/contracts';
import { type AnalyzerConfig } from '@vigil/config';
import {
  BaselineCadence,
  type Box,
  DEFAULT_SCENE_OPTIONS,
  ObjectTracker,
  OpenEvents,
  type SceneAnomalyModel,
  type SceneOptions,
} from '@vigil/anomaly';
import { StreamNarration } from '@vigil/decoders';

/**
 * Where the frame path is in a stream: the ingest run and sequence last analyzed (a redelivered frame is
 * not analyzed twice), the previous sample's tokens (for the window's activity figure) and when the
 * analyzer last had a frame of it (wall clock, for handover).
 */
export class FrameCursor {
  private runId = '';
  private lastSeq = -1;
  /** The previous frame's vision tokens [T × D]. */
  private prev: Float32Array | null = null;
  lastBurstAt = -Infinity;

  /** `lastSeenWall`: when the analyzer last had a frame of the stream (wall clock ms). */
  constructor(public lastSeenWall: number) {}

  /** The frame was analyzed already (same ingest run, sequence not newer). */
  isRepeat(meta: FrameMeta): boolean {
    return meta.runId === this.runId && meta.seq <= this.lastSeq;
  }

  /** Moves on to this frame; returns the previous sample's tokens when they compare with these. */
  advance(meta: FrameMeta, tokens: Float32Array): Float32Array | null {
    const comparable = this.prev !== null && this.runId === meta.runId && this.prev.length === tokens.length;
    const prev = comparable ? this.prev : null;
    this.prev = tokens;
    this.runId = meta.runId;
    this.lastSeq = meta.seq;
    return prev;
  }
}

/** What the detector found on a stream: its tracked objects and when it last ran. */
export interface StreamObjects {
  readonly tracker: ObjectTracker;
  lastDetectAt: number;
  /** Mobile objects of the last detection round that explain patches besides the tracks (ObjectStage). */
  seen: Box[];
}

/** One stream's state on this analyzer, split by the stage that owns each part. */
export interface StreamState {
  readonly frames: FrameCursor;
  /** The learned normal and the detectors' lifecycles. */
  readonly scene: SceneAnomalyModel;
  /** Open events and their messages (the detectors', the zone rules', the model's). */
  readonly events: OpenEvents;
  /** Tracked objects (when the object detector is on). */
  readonly objects: StreamObjects;
  /** When the normal is saved. */
  readonly baseline: BaselineCadence;
  /** Sliding windows and rollups. */
  readonly narration: StreamNarration;
  /** Events another analyzer had open on this stream, resumed or closed at its first frame here. */
  inherited?: EventState;
}

/** The scene model's options from the analyzer's settings. */
export function sceneOptionsFrom(c: AnalyzerConfig): SceneOptions {
  return {
    ...DEFAULT_SCENE_OPTIONS,
    warmupSamples: c.warmupSamples,
    sensitivity: c.sensitivity,
    tracker: {
      ...DEFAULT_SCENE_OPTIONS.tracker,
      minDurationMs: c.eventMinDurationMs,
      exitHoldMs: c.eventExitHoldMs,
      cooldownMs: c.eventCooldownS * 1000,
      updateEveryMs: c.eventUpdateS * 1000,
    },
    minDurationMs: DEFAULT_SCENE_OPTIONS.minDurationMs,
  };
}

/** A stream's state at its first frame here, around its scene model (restored or fresh). */
export function newStreamState(
  streamId: string,
  scene: SceneAnomalyModel,
  c: AnalyzerConfig,
  now: number,
): StreamState {
  return {
    frames: new FrameCursor(now),
    scene,
    events: new OpenEvents(streamId, {
      minDurationMs: c.eventMinDurationMs,
      exitHoldMs: c.eventExitHoldMs,
      cooldownMs: c.eventCooldownS * 1000,
      updateEveryMs: c.eventUpdateS * 1000,
    }),
    objects: { tracker: new ObjectTracker(), lastDetectAt: -Infinity, seen: [] },
    // a restored normal is saved again only after baselineSaveS
    baseline: new BaselineCadence(c.baselineSaveS * 1000, scene.learning, now),
    narration: new StreamNarration({ minuteMs: c.rollupMinuteS * 1000, hourMs: c.rollupHourS * 1000 }),
  };
}
