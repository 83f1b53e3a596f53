/**
 * Whether a failed read means the camera is unreachable (offline) or reachable but unusable (degraded:
 * garbage bytes, an unsupported codec, no video track, bad credentials). Decided from ffmpeg's message. Pure.
 */
export function classifyFailure(reason: string): 'offline' | 'degraded' {
  if (
    /connection refused|timed? ?out|no route to host|network is unreachable|name or service not known|could not resolve|host is down|no frame for/i.test(
      reason,
    )
  ) {
    return 'offline';
  }
  return 'degraded';
}
