import { type AnomalyEvent, type ControlMessage, ControlMessageSchema } from '@vigil/contracts';

/** A frame this late, with a newer one of its stream already read, is skipped (the analyzer is behind). */
export const SUPERSEDED_AFTER_MS = 1000;

/** What happens to one frame of a fetched batch: analyzed, or dropped and why. */
export type Admission = 'analyze' | 'stale' | 'superseded';

/**
 * The frame-admission policy, pure. Behind (a backlog): a frame that waited over a second and has a newer
 * one of its stream in this batch is skipped, and anything past the age limit is dropped, so what is
 * analyzed stays current. Frames that arrive on time, bursts included, are all analyzed. The age is taken
 * at the frame's turn, not when the batch came: the streams share the encoder in turns, so a stream with a
 * long run of frames falls behind as it goes and skips to its newest instead of holding up the next fetch
 * while other partitions' frames age. `maxFrameAgeMs` 0 turns shedding off.
 */
export function admitFrame(ageMs: number, newerInBatch: boolean, maxFrameAgeMs: number): Admission {
  if (maxFrameAgeMs <= 0) return 'analyze';
  if (ageMs > maxFrameAgeMs) return 'stale';
  if (ageMs > SUPERSEDED_AFTER_MS && newerInBatch) return 'superseded';
  return 'analyze';
}

/** A batch's messages by key (stream), each stream's in the order read. */
export function byStream<M extends { key?: string | null }>(batch: readonly M[]): M[][] {
  const groups = new Map<string, M[]>();
  for (const msg of batch) {
    const key = msg.key ?? '';
    const msgs = groups.get(key);
    if (msgs) msgs.push(msg);
    else groups.set(key, [msg]);
  }
  return [...groups.values()];
}

/**
 * The fast path: when a score rises toward its threshold, or an event starts, ingest is asked for
 * full-rate sampling, so the onset and the end are timed precisely. One request per stream (an event's
 * start wins over a rising score, as it names the kind).
 */
export function burstRequests(
  rising: readonly { streamId: string; reason: string }[],
  anomalies: readonly Pick<AnomalyEvent, 'streamId' | 'phase' | 'kind'>[],
  now: Date,
): ControlMessage[] {
  const wanted = new Map<string, string>();
  for (const r of rising) wanted.set(r.streamId, r.reason);
  for (const e of anomalies) if (e.phase === 'start') wanted.set(e.streamId, `${e.kind} started`);
  return [...wanted].map(([streamId, reason]) =>
    ControlMessageSchema.parse({ streamId, action: 'burst', reason, requestedAt: now.toISOString() }),
  );
}
