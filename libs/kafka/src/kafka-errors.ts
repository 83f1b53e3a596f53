/** A fault reaching or talking to Kafka, with a message that says what to do about it. */
export class KafkaUnavailableError extends Error {
  constructor(
    readonly brokers: readonly string[],
    readonly reason: string,
  ) {
    super(
      `cannot reach Kafka at ${brokers.join(',')} (${reason}); start a broker there or set VIGIL_KAFKA_BROKERS to a reachable host:port`,
    );
    this.name = 'KafkaUnavailableError';
  }
}

/** A topic the app reads does not exist on the cluster (the apps that own it create it at boot). */
export class KafkaTopicMissingError extends Error {
  constructor(
    readonly topics: readonly string[],
    brokers: readonly string[],
  ) {
    super(
      `topic ${topics.join(', ')} does not exist on ${brokers.join(',')}; start Vigil's apps there first (they create their topics), or check VIGIL_KAFKA_BROKERS`,
    );
    this.name = 'KafkaTopicMissingError';
  }
}

/** True when kafkajs reports an unknown topic or partition. */
export function isUnknownTopic(err: unknown): boolean {
  let e: unknown = err;
  for (let i = 0; i < 5 && e && typeof e === 'object'; i++) {
    const type = (e as { type?: unknown }).type;
    if (type === 'UNKNOWN_TOPIC_OR_PARTITION') return true;
    e = (e as { originalError?: unknown; cause?: unknown }).originalError ?? (e as { cause?: unknown }).cause;
  }
  return /does not host this topic-partition|unknown topic/i.test(String((err as Error)?.message ?? ''));
}

/** The innermost useful reason of a kafkajs error chain (ECONNREFUSED, ENOTFOUND, timeouts...). */
export function kafkaErrorReason(err: unknown): string {
  let e: unknown = err;
  const seen = new Set<unknown>();
  let reason = err instanceof Error ? err.message : String(err);
  while (e && typeof e === 'object' && !seen.has(e)) {
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    const msg = (e as { message?: unknown }).message;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code))
      return code === 'ECONNREFUSED' ? 'connection refused' : code;
    if (typeof msg === 'string' && msg) reason = msg;
    e = (e as { cause?: unknown; originalError?: unknown }).originalError ?? (e as { cause?: unknown }).cause;
  }
  if (/ECONNREFUSED/.test(reason)) return 'connection refused';
  if (/ENOTFOUND|getaddrinfo/.test(reason)) return 'host not found';
  if (/timed? ?out/i.test(reason)) return 'connection timed out';
  return reason;
}
