/** Exponential backoff with "equal jitter": half the delay fixed, half random, capped. Pure. */
export function backoffDelay(
  attempt: number,
  initialMs: number,
  maxMs: number,
  random: () => number,
): number {
  const exp = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt));
  return Math.round(exp / 2 + (exp / 2) * random());
}
