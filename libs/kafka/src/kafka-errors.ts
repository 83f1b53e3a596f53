/** A fault reaching or talking to Kafka, with a message that says what to do about it. */
export class KafkaUnavailableError extends Error {
  constructor(
    readonly brokers: readonly string[],
    readonly reason: string,
  ) {
    super(`cannot reach Kafka at ${brokers.join(',')} (${reason}); ${fixFor(reason)}`);
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

/** What to change, by what went wrong. */
function fixFor(reason: string): string {
  if (reason.startsWith('SASL'))
    return 'check VIGIL_KAFKA_SASL_MECHANISM, VIGIL_KAFKA_SASL_USERNAME and the password in VIGIL_KAFKA_SASL_PASSWORD_FILE against the broker’s listener';
  if (reason.startsWith('TLS'))
    return 'set VIGIL_KAFKA_TLS_CA_FILE to the CA that signed the brokers’ certificates, and VIGIL_KAFKA_BROKERS to names those certificates carry';
  const fix = 'start a broker there or set VIGIL_KAFKA_BROKERS to a reachable host:port';
  // nothing listens, or no such host: the address is what is wrong
  if (reason === 'connection refused' || reason === 'host not found') return fix;
  // a listener that closes or never answers may want TLS or a login this client did not offer
  return `${fix} (and VIGIL_KAFKA_TLS / VIGIL_KAFKA_SASL_* to what its listener expects)`;
}

/** Node's codes for a certificate it does not trust. */
const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The innermost useful reason of a kafkajs error chain (ECONNREFUSED, ENOTFOUND, timeouts, SASL, TLS). */
export function kafkaErrorReason(err: unknown): string {
  let e: unknown = err;
  const seen = new Set<unknown>();
  let reason = err instanceof Error ? err.message : String(err);
  while (e && typeof e === 'object' && !seen.has(e)) {
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    const msg = (e as { message?: unknown }).message;
    if ((e as { name?: unknown }).name === 'KafkaJSSASLAuthenticationError')
      return `SASL login refused: ${typeof msg === 'string' ? msg.replace(/^SASL \S+ authentication failed: /, '') : 'authentication failed'}`;
    if (typeof code === 'string' && TLS_CODES.has(code))
      return `TLS: the broker’s certificate is not trusted (${code})`;
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
