import {
  CE_TYPES,
  type FrameMeta,
  FrameMetaSchema,
  type StreamSpec,
  type StreamStatus,
  deterministicId,
  frameId,
  toCloudEventHeaders,
} from '@vigil/contracts';
import { type OutgoingMessage, jsonMessage } from './message-bus.js';

/** A sampled frame as ingest reads it from ffmpeg (@vigil/media's SampledFrame). */
export interface FrameSample {
  /** A JPEG. */
  readonly image: Buffer;
  readonly seq: number;
  readonly runId: string;
  /** Wall-clock time the sample was read from ffmpeg (ms since the epoch). */
  readonly capturedAt: number;
  /** Presentation time in the source stream, seconds. */
  readonly ptsSeconds?: number;
}

export const INGEST_SOURCE = 'urn:vigil:ingest';

/** A sampled frame as a vigil.frames.v1 message: JPEG value, CloudEvents + vigil_meta headers. Pure. */
export function frameMessage(
  spec: StreamSpec,
  frame: FrameSample,
  sampling: FrameMeta['sampling'],
): OutgoingMessage {
  const capturedAt = new Date(frame.capturedAt).toISOString();
  const meta: FrameMeta = FrameMetaSchema.parse({
    streamId: spec.id,
    seq: frame.seq,
    runId: frame.runId,
    capturedAt,
    ...(frame.ptsSeconds !== undefined ? { ptsSeconds: frame.ptsSeconds } : {}),
    width: spec.output.width,
    height: spec.output.height,
    sampling,
  });
  return {
    key: spec.id,
    value: frame.image,
    timestamp: frame.capturedAt,
    headers: toCloudEventHeaders(
      {
        id: frameId(spec.id, frame.runId, frame.seq),
        source: INGEST_SOURCE,
        type: CE_TYPES.frame,
        time: capturedAt,
        subject: spec.id,
        contentType: 'image/jpeg',
      },
      { vigil_meta: JSON.stringify(meta) },
    ),
  };
}

export function statusMessage(status: StreamStatus): OutgoingMessage {
  return jsonMessage(status, {
    id: deterministicId('status', status.streamId, status.at),
    source: INGEST_SOURCE,
    type: CE_TYPES.streamStatus,
    time: status.at,
  });
}
