import { createHash } from 'node:crypto';

/**
 * A deterministic id in UUID form (version nibble 8, "custom") from the sha256 of its parts, so a retried
 * publish of the same event carries the same id and consumers can drop the duplicate.
 */
export function deterministicId(...parts: ReadonlyArray<string | number>): string {
  const hash = createHash('sha256')
    .update(parts.map((p) => String(p).replaceAll('\\', '\\\\').replaceAll('|', '\\|')).join('|'))
    .digest();
  const b = Buffer.from(hash.subarray(0, 16));
  b[6] = (b[6]! & 0x0f) | 0x80; // version 8
  b[8] = (b[8]! & 0x3f) | 0x80; // RFC 4122 variant
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function anomalyEventId(streamId: string, kind: string, startedAt: string): string {
  return deterministicId('anomaly', streamId, kind, startedAt);
}

export function summaryId(streamId: string, level: string, windowStart: string): string {
  return deterministicId('summary', streamId, level, windowStart);
}

export function frameId(streamId: string, runId: string, seq: number): string {
  return deterministicId('frame', streamId, runId, seq);
}
