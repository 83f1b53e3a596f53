import { type AnomalyEvent, type ScoreSample, type Zone } from '@vigil/contracts';
import {
  type Box,
  MOBILE_LABELS,
  type PatchGrid,
  type Track,
  inPicture,
  trackInput,
  trackedObject,
} from '@vigil/anomaly';
import { type SampleObject } from '@vigil/windows';
import { type Logger } from '@vigil/observability';
import { type ObjectDetectorService, SEEN_MIN_SCORE } from './object-detector.service.js';
import { type StreamState } from './stream-state.js';

/** A frame's objects: the stream's tracks now, and whether a detection round ran on this frame. */
export interface FrameObjects {
  readonly tracks: Track[];
  /**
   * People, vehicles and animals of the last round that no track may hold yet: a new one's first sighting,
   * one scored under the tracker's bar, one cut off by the picture's edge (scored lower; see isCutOff).
   */
  readonly seen: readonly Box[];
  /** A detection round ran on this frame: the zone rules are judged on it. */
  readonly detected: boolean;
}

/**
 * A box the picture's edge cuts off (within 2 % of it), of an object's size (at most 5 % of the picture: a
 * weak box over half the scene explains nothing).
 */
export const isCutOff = ({ x, y, w, h }: Box): boolean =>
  w * h <= 0.05 && (x <= 0.02 || y <= 0.02 || x + w >= 0.98 || y + h >= 0.98);

/**
 * The frame path's detect-and-track stage: the detector runs beside the encoder on a stream at most every
 * VIGIL_DETECT_EVERY_MS (a due frame waits for its round: tracks a second stale would explain the wrong
 * patches), the stream's tracker takes the detections in, and the rest of the path reads the tracks: the
 * patches they explain, the objects of a score sample and of a window sample.
 */
export class ObjectStage {
  constructor(
    private readonly detector: ObjectDetectorService,
    private readonly log: Logger,
  ) {}

  /** Undefined when the detector is off. */
  async track(
    streamId: string,
    st: StreamState,
    jpeg: Buffer,
    at: number,
  ): Promise<FrameObjects | undefined> {
    if (!this.detector.enabled) return undefined;
    const o = st.objects;
    // samples a second apart come a few ms early or late
    if (at - o.lastDetectAt < this.detector.everyMs * 0.9)
      return { tracks: o.tracker.current(at), seen: o.seen, detected: false };
    const last = o.lastDetectAt;
    o.lastDetectAt = at;
    try {
      const found = (await this.detector.detect(streamId, jpeg)).map(trackInput);
      const min = this.detector.minScore;
      o.seen = found
        .filter(
          (d) => MOBILE_LABELS.has(d.label) && (d.score >= Math.min(min, SEEN_MIN_SCORE) || isCutOff(d.box)),
        )
        .map((d) => d.box);
      const tracks = o.tracker.update(
        found.filter((d) => d.score >= min),
        at,
      );
      return { tracks, seen: o.seen, detected: true };
    } catch (e) {
      // the detector's queue for the stream was full: the next frame tries again
      o.lastDetectAt = last;
      this.log.debug(`no detection round: ${(e as Error).message}`, { streamId });
      return { tracks: o.tracker.current(at), seen: o.seen, detected: false };
    }
  }

  /**
   * The patches people, vehicles and animals cover (tracked, or seen in the last round): what the scene
   * model does not call new.
   */
  explained(grid: PatchGrid, objects: FrameObjects | undefined): Uint8Array | undefined {
    return (
      objects &&
      grid.covered([
        ...objects.tracks.filter((t) => MOBILE_LABELS.has(t.label)).map((t) => t.box),
        ...objects.seen,
      ])
    );
  }

  /** The confirmed tracks as a score sample lists them. */
  scoreObjects(objects: FrameObjects | undefined, at: number): Pick<ScoreSample, 'objects'> {
    return objects
      ? {
          objects: objects.tracks
            .filter((t) => t.confirmed)
            .slice(0, 100)
            .map((t) => trackedObject(t, at)),
        }
      : {};
  }

  /** The confirmed tracks as a window sample keeps them (for the narration's object story). */
  windowObjects(objects: FrameObjects | undefined): { objects?: SampleObject[] } {
    return objects
      ? {
          objects: objects.tracks
            .filter((t) => t.confirmed)
            .slice(0, 50)
            .map((t) => ({ id: t.id, label: t.label, box: inPicture(t.box) })),
        }
      : {};
  }

  /** The stream's zone rules: configured from its settings every frame, judged at each detection round. */
  zoneEvents(
    st: StreamState,
    zones: readonly Zone[],
    objects: FrameObjects | undefined,
    at: number,
    capturedAt: string,
  ): AnomalyEvent[] {
    const out = st.events.zones.configure(zones, at, capturedAt);
    if (objects?.detected) out.push(...st.events.zones.observe(objects.tracks, at, capturedAt));
    return out;
  }
}
