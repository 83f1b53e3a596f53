import { type Summary, summaryId } from '@vigil/contracts';

/**
 * A grounded summary of `stream` for the ten seconds (or the level's span, for its id) ending at `endMs`,
 * as the analyzer publishes one: for tests that feed the gateway summaries without an analyzer.
 */
export function sampleSummary(
  stream: string,
  level: Summary['level'],
  endMs: number,
  text = `${level} ending ${new Date(endMs).toISOString()}`,
): Summary {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    summaryId: summaryId(stream, level, iso(endMs - 10_000)),
    streamId: stream,
    level,
    trigger: 'cadence',
    windowStart: iso(endMs - 10_000),
    windowEnd: iso(endMs),
    text,
    findings: [],
    eventIds: [],
    decoder: { type: 'grounded', fallback: false },
    stats: { frames: 20, meanChange: 0.01, maxChange: 0.02, anomalies: 0 },
    createdAt: iso(endMs),
  };
}
