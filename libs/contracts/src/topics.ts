/** Every Kafka topic Vigil uses, with the settings the apps create it with (one source of truth). */
export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
  /** `compact` keeps the latest value per key (streamId); `delete` expires by time. */
  readonly cleanupPolicy: 'delete' | 'compact' | 'compact,delete';
  /** -1 keeps forever. */
  readonly retentionMs: number;
  /** Further topic settings the apps create it with. */
  readonly config?: Readonly<Record<string, string>>;
  readonly description: string;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export const TOPICS = {
  streams: {
    name: 'vigil.streams.v1',
    partitions: 12,
    cleanupPolicy: 'compact',
    retentionMs: -1,
    description: 'StreamSpec per camera, keyed by streamId; a null value (tombstone) deletes the stream.',
  },
  frames: {
    name: 'vigil.frames.v1',
    partitions: 12,
    cleanupPolicy: 'delete',
    retentionMs: 1 * HOUR,
    // the broker stamps each frame when it takes it, so a reader knows how long a frame waited (the
    // capture time is in vigil_meta) and sheds what is too old under overload
    config: { 'message.timestamp.type': 'LogAppendTime' },
    description: 'Sampled frames as JPEG at model resolution; frame metadata in the vigil_meta header.',
  },
  streamStatus: {
    name: 'vigil.stream-status.v1',
    partitions: 6,
    cleanupPolicy: 'compact,delete',
    retentionMs: 7 * DAY,
    description: 'Camera health: state changes and periodic stats per stream.',
  },
  anomalies: {
    name: 'vigil.anomalies.v1',
    partitions: 6,
    cleanupPolicy: 'delete',
    retentionMs: 30 * DAY,
    description: 'AnomalyEvent with phase start | update | end; one eventId across its life.',
  },
  summaries: {
    name: 'vigil.summaries.v1',
    partitions: 6,
    cleanupPolicy: 'delete',
    retentionMs: 30 * DAY,
    description: 'Narrated Summary per window (and per minute / hour roll-up).',
  },
  control: {
    name: 'vigil.control.v1',
    partitions: 6,
    cleanupPolicy: 'delete',
    retentionMs: 1 * HOUR,
    description: 'Analyzer-to-ingest requests (burst sampling).',
  },
  scores: {
    name: 'vigil.scores.v1',
    partitions: 6,
    cleanupPolicy: 'delete',
    retentionMs: 6 * HOUR,
    description: 'ScoreSample per analyzed sample: the anomaly score over time (sparklines, evaluation).',
  },
  baselines: {
    name: 'vigil.baselines.v1',
    partitions: 6,
    cleanupPolicy: 'compact',
    retentionMs: -1,
    description: 'BaselineRecord per stream (its learned normal), keyed by streamId; restored by analyzers.',
  },
  eventState: {
    name: 'vigil.event-state.v1',
    partitions: 6,
    cleanupPolicy: 'compact',
    retentionMs: -1,
    description:
      'EventState per stream, keyed by streamId: the anomaly events its analyzer has open, with a heartbeat; whoever takes the stream over resumes them, and stale ones are closed.',
  },
  dlq: {
    name: 'vigil.dlq.v1',
    partitions: 3,
    cleanupPolicy: 'delete',
    retentionMs: 14 * DAY,
    description:
      'Messages a consumer could not use (corrupt JPEG, schema failure, unknown version): the original key, value and headers, with why and where from in the vigil_dlq header.',
  },
} as const satisfies Record<string, TopicSpec>;

export type TopicKey = keyof typeof TOPICS;
export const ALL_TOPICS: readonly TopicSpec[] = Object.values(TOPICS);

/** The topic names a process started with, before any namespace. */
const LIVE_NAMES = Object.fromEntries(Object.entries(TOPICS).map(([k, t]) => [k, t.name])) as Record<
  TopicKey,
  string
>;

/**
 * Moves every topic name of this process into a namespace of its own (`vigil.<ns>.anomalies.v1`, …), for
 * a process that must not touch live work: `vigil replay` on a shared broker. Process-wide, called before
 * any Kafka client starts; every app reads the names from TOPICS when it uses them. Returns the names.
 */
export function useTopicNamespace(ns: string): readonly string[] {
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(ns)) throw new Error(`topic namespace "${ns}" is not [a-z0-9-]`);
  for (const key of Object.keys(TOPICS) as TopicKey[])
    (TOPICS[key] as { name: string }).name = LIVE_NAMES[key].replace(/^vigil\./, `vigil.${ns}.`);
  return Object.values(TOPICS).map((t) => t.name);
}
