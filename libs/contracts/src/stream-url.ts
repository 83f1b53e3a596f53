import { isIP } from 'node:net';

/** Schemes that may reach ffmpeg. `file` is only allowed when replay is explicitly enabled. */
export const ALLOWED_STREAM_SCHEMES = ['rtsp', 'rtsps', 'rtmp', 'rtmps', 'srt', 'http', 'https'] as const;

export interface StreamUrlPolicy {
  /** Allow file:// (replay of recorded clips). Off by default: a file URL reads the server's disk. */
  readonly allowFiles?: boolean;
  /** Allow link-local and cloud metadata addresses. Off by default: they are SSRF targets. */
  readonly allowMetadataHosts?: boolean;
  /**
   * Allow user:password inside the URL. Off by default: a StreamSpec travels on Kafka and through the API,
   * so credentials belong in a secret referenced by `credentials.secret`.
   */
  readonly allowInlineCredentials?: boolean;
}

const METADATA_HOSTS = new Set([
  'metadata.google.internal',
  'metadata',
  'instance-data',
  'instance-data.ec2.internal',
]);

function isLinkLocalOrMetadata(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (METADATA_HOSTS.has(h)) return true;
  if (isIP(h) === 4) {
    const [a, b] = h.split('.').map(Number);
    // 169.254.0.0/16 link-local (AWS/GCP/Azure metadata at .169.254), 100.100.100.200 Alibaba metadata
    return (a === 169 && b === 254) || h === '100.100.100.200';
  }
  if (isIP(h) === 6) {
    // IPv4-mapped addresses (::ffff:169.254.169.254 normalizes to ::ffff:a9fe:a9fe) reach IPv4 hosts
    const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(h);
    if (mapped) {
      const hi = parseInt(mapped[1]!, 16);
      const lo = parseInt(mapped[2]!, 16);
      return isLinkLocalOrMetadata(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`);
    }
    return /^fe[89ab][0-9a-f]:/.test(h) || h === 'fd00:ec2::254';
  }
  return false;
}

/**
 * Checks a camera URL against the allowed schemes and hosts. Returns the problem as a sentence that says
 * what is wrong and how to fix it, or null when the URL may be given to ffmpeg. Never echoes credentials.
 */
export function streamUrlProblem(raw: string, policy: StreamUrlPolicy = {}): string | null {
  // WHATWG URL parsing silently drops tabs and newlines, but ffmpeg would get the raw string: refuse them.
  if (/[\s\x00-\x1f\x7f]/.test(raw)) {
    return 'contains whitespace or control characters; percent-encode them (e.g. %20) or remove them';
  }
  if (raw.startsWith('-'))
    return 'starts with "-", which ffmpeg would read as an option; give a scheme://host URL';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'is not a valid URL; write it as scheme://host[:port]/path, e.g. rtsp://camera.local:554/stream1';
  }
  const scheme = url.protocol.replace(/:$/, '');
  if (scheme === 'file') {
    if (!policy.allowFiles) {
      return 'uses file://, which is only allowed for replay; enable replay or use a network stream URL';
    }
    return null;
  }
  if (!(ALLOWED_STREAM_SCHEMES as readonly string[]).includes(scheme)) {
    return `uses scheme "${scheme}", which is not allowed; use one of ${ALLOWED_STREAM_SCHEMES.join(', ')}`;
  }
  if (!url.hostname) return 'has no host; write it as scheme://host[:port]/path';
  if (!policy.allowInlineCredentials && (url.username || url.password)) {
    return 'contains a user name or password; store them in a secret and reference it with credentials.secret';
  }
  if (!policy.allowMetadataHosts && isLinkLocalOrMetadata(url.hostname)) {
    return `points at ${url.hostname}, a link-local or cloud metadata address, which is refused; use the camera's own address`;
  }
  return null;
}

/** The URL with any user/password replaced by "***", for logs, events and API responses. */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.username || url.password) {
      url.username = '***';
      url.password = '';
    }
    for (const key of [...url.searchParams.keys()]) {
      if (/pass|pwd|token|secret|key|auth/i.test(key)) url.searchParams.set(key, '***');
    }
    return url.toString();
  } catch {
    return redactSecrets(raw);
  }
}

/** Redacts credentials of every URL inside free text (ffmpeg stderr, error messages). */
export function redactSecrets(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi, '$1***@')
    .replace(/([?&](?:pass|password|pwd|token|secret|key|auth)[^=&\s]*=)[^&\s]+/gi, '$1***');
}
