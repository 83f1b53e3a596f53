import { redactSecrets } from '@vigil/contracts';

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

/**
 * Known faults by their class's name, not by instanceof: naming a class would import its library (the
 * vision models, the gateway), and the CLI imports a command's code only when that command runs, so that
 * `vigil streams ls` or `vigil tail` starts in about a second. Each of these classes sets its name.
 */
/** Bad input or setup: exit 2. */
const BAD_INPUT = new Set([
  'ConfigError',
  'UsageError',
  'UnsafeStreamUrlError',
  'ModelLoadError',
  'PortInUseError',
  'ApiKeysError',
]);
/** A dependency that is not there or refused: exit 1. */
const UNAVAILABLE = new Set([
  'GatewayCallError',
  'KafkaUnavailableError',
  'KafkaTopicMissingError',
  'LocalKafkaError',
  'RtspServerError',
]);

/**
 * The one place unknown errors are mapped: a known fault becomes one line that names the problem and the
 * fix, with exit code 2 for bad input and 1 for an unavailable dependency; anything else is reported as
 * unexpected, its stack only at debug level.
 */
export function describeFatal(err: unknown): { line: string; code: number; stack?: string } {
  if (err instanceof Error && BAD_INPUT.has(err.name))
    return { line: `vigil: ${redactSecrets(err.message)}`, code: 2 };
  if (err instanceof Error && UNAVAILABLE.has(err.name))
    return { line: `vigil: ${redactSecrets(err.message)}`, code: 1 };
  const e = err instanceof Error ? err : new Error(String(err));
  return {
    line: `vigil: unexpected error: ${redactSecrets(e.message)} (run with VIGIL_LOG_LEVEL=debug for the stack trace)`,
    code: 1,
    ...(e.stack ? { stack: redactSecrets(e.stack) } : {}),
  };
}
