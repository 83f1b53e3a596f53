import { ConfigError } from '@vigil/config';
import { KafkaTopicMissingError, KafkaUnavailableError } from '@vigil/kafka';
import { UnsafeStreamUrlError } from '@vigil/media';
import { LocalKafkaError, RtspServerError } from '@vigil/testing';
import { ModelLoadError } from '@vigil/vision';
import { redactSecrets } from '@vigil/contracts';
import { PortInUseError } from '@vigil/observability';
import { ApiKeysError } from '../../gateway/src/index.js';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A call to the gateway's API that could not be made or failed on the gateway's side. */
export class GatewayCallError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GatewayCallError';
  }
}

const KNOWN = [
  GatewayCallError,
  ConfigError,
  KafkaUnavailableError,
  KafkaTopicMissingError,
  UnsafeStreamUrlError,
  LocalKafkaError,
  RtspServerError,
  UsageError,
];

/**
 * The one place unknown errors are mapped: a known fault becomes one line that names the problem and the
 * fix, with exit code 2 for bad input and 1 for an unavailable dependency; anything else is reported as
 * unexpected, its stack only at debug level.
 */
export function describeFatal(err: unknown): { line: string; code: number; stack?: string } {
  if (
    err instanceof ConfigError ||
    err instanceof UsageError ||
    err instanceof UnsafeStreamUrlError ||
    err instanceof ModelLoadError ||
    err instanceof PortInUseError ||
    err instanceof ApiKeysError
  ) {
    return { line: `vigil: ${redactSecrets(err.message)}`, code: 2 };
  }
  if (KNOWN.some((k) => err instanceof k)) {
    return { line: `vigil: ${redactSecrets((err as Error).message)}`, code: 1 };
  }
  const e = err instanceof Error ? err : new Error(String(err));
  return {
    line: `vigil: unexpected error: ${redactSecrets(e.message)} (run with VIGIL_LOG_LEVEL=debug for the stack trace)`,
    code: 1,
    ...(e.stack ? { stack: redactSecrets(e.stack) } : {}),
  };
}
