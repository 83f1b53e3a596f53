/**
 * Whether a failed read means the camera is unreachable (offline) or reachable but unusable (degraded:
 * garbage bytes, an unsupported codec, no video track, bad credentials). Decided from ffmpeg's message. Pure.
 */
export function classifyFailure(reason: string): 'offline' | 'degraded' {
  if (
    /connection refused|timed? ?out|no route to host|network is unreachable|name or service not known|could not resolve|host is down|stopped sending frames/i.test(
      reason,
    )
  ) {
    return 'offline';
  }
  return 'degraded';
}

const EXPLANATIONS: [RegExp, string][] = [
  [
    /does not contain any stream|could not find codec parameters|unsupported codec/i,
    'no video track that can be decoded (unsupported codec, or audio only)',
  ],
  [
    /invalid data found when processing input|moov atom not found|header missing/i,
    'the source sent data that is not a valid video stream',
  ],
  [/401 unauthorized/i, 'the camera refused the credentials (401); check the credentials secret'],
  [/403 forbidden/i, 'the camera refused access (403)'],
  [/404 not found/i, 'the camera has no stream at this path (404); check the URL path'],
  [/connection refused/i, 'connection refused: nothing listens at that address and port'],
  [/connection timed out|timed out/i, 'the camera did not answer in time'],
  [/name or service not known|could not resolve|failed to resolve/i, 'the host name cannot be resolved'],
  [/no route to host|network is unreachable/i, 'the camera network is unreachable'],
];

/** A plain-language reason for ffmpeg's last error line, keeping the line itself for diagnosis. Pure. */
export function explainFfmpegError(line: string): string {
  const hit = EXPLANATIONS.find(([re]) => re.test(line));
  return hit ? `${hit[1]} (ffmpeg: ${line.trim()})` : line.trim();
}

const NOISE =
  /exiting normally|received signal|^press \[q\]|^(input|output) #\d+, |^\s+(stream|metadata|duration|side data)\b|\[parsed_showinfo/i;
const ERRORISH =
  /error|invalid|failed|refused|not found|unauthorized|forbidden|timed? ?out|does not contain|unsupported|could not|cannot|no route|unreachable|denied/i;

/** The stderr line that best says why ffmpeg stopped: the last error-like line, else the last non-noise line. */
export function pickErrorLine(lines: readonly string[]): string | undefined {
  for (let i = lines.length - 1; i >= 0; i--)
    if (ERRORISH.test(lines[i]!) && !NOISE.test(lines[i]!)) return lines[i];
  for (let i = lines.length - 1; i >= 0; i--) if (!NOISE.test(lines[i]!)) return lines[i];
  return undefined;
}
