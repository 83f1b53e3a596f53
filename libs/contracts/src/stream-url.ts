import { BlockList, isIP } from 'node:net';
import { posix } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Network schemes that may reach ffmpeg. `file` is not among them: see StreamUrlPolicy.fileDirs. */
export const ALLOWED_STREAM_SCHEMES = ['rtsp', 'rtsps', 'rtmp', 'rtmps', 'srt', 'http', 'https'] as const;

/** Where cameras may be: operators' networks, and what is refused on top of the built-in refusals. */
export interface CameraNetworks {
  /**
   * CIDRs (or single addresses) cameras may be at. Empty: anywhere that is not denied. Link-local and
   * cloud metadata addresses are refused unless a range listed here covers them.
   */
  readonly allow: readonly string[];
  /** CIDRs refused besides link-local and metadata addresses; they win over `allow`. */
  readonly deny: readonly string[];
}

export interface StreamUrlPolicy {
  /**
   * Directories whose files may be read (file:// URLs), as the operator configured them
   * (VIGIL_FILE_INPUT_DIRS). Absent or empty: file:// is refused. `any` checks the form only: for the
   * contract, whose every consumer (gateway, ingest, buildIngestArgs) applies its own directories.
   */
  readonly fileDirs?: readonly string[] | 'any';
  readonly networks?: CameraNetworks;
  /**
   * Allow user:password inside the URL. Off by default: a StreamSpec travels on Kafka and through the API,
   * so credentials belong in a secret referenced by `credentials.secret`.
   */
  readonly allowInlineCredentials?: boolean;
}

const METADATA_NAMES = new Set([
  'metadata.google.internal',
  'metadata.goog',
  'metadata',
  'instance-data',
  'instance-data.ec2.internal',
  'metadata.azure.internal',
]);

/** Refused unless an operator's allow-list covers them: link-local (cloud metadata lives there) and friends. */
const BUILT_IN_DENY: readonly (readonly [string, number, 'ipv4' | 'ipv6'])[] = [
  ['169.254.0.0', 16, 'ipv4'], // link-local; AWS, GCP, Azure, OpenStack metadata at 169.254.169.254
  ['100.100.100.200', 32, 'ipv4'], // Alibaba Cloud metadata
  ['0.0.0.0', 8, 'ipv4'], // "this host": connects to the node itself
  ['fe80::', 10, 'ipv6'], // IPv6 link-local
  ['fd00:ec2::254', 128, 'ipv6'], // AWS metadata over IPv6
  ['::', 128, 'ipv6'],
];

/** Query parameter names that carry credentials; such URLs are refused (use credentials.queryParam). */
const SECRET_PARAM =
  /pass|pwd|token|secret|auth|cred|session|sig(nature)?$|^sig|(^|[_-])key$|^key|apikey|jwt|bearer/i;

/** A host as the connecting code will see it: an IPv4 or IPv6 address, or a name to resolve. */
export type ParsedHost =
  | { readonly kind: 'ip'; readonly family: 'ipv4' | 'ipv6'; readonly address: string }
  | { readonly kind: 'name'; readonly name: string };

const NUMERIC_PART = /^(0x[0-9a-f]*|[0-9]+)$/i;

/**
 * An IPv4 address in any spelling the C library's inet_aton takes (and so getaddrinfo, and so ffmpeg):
 * 1 to 4 parts, each decimal, octal (leading 0) or hex (0x), the last filling the remaining bytes
 * (`2852039166`, `0xa9fea9fe`, `0251.0376.0251.0376`, `169.254.43518`). Null when it is not one;
 * 'invalid' when it is numeric but no address (`08.1.1.1`, a part too large).
 */
export function parseIPv4(text: string): string | null {
  const parts = text.split('.');
  if (!parts.every((p) => NUMERIC_PART.test(p))) return null;
  if (parts.length > 4) return 'invalid';
  const values: number[] = [];
  for (const p of parts) {
    let v: number;
    if (/^0x/i.test(p)) v = p.length === 2 ? 0 : parseInt(p.slice(2), 16);
    else if (p.length > 1 && p.startsWith('0')) {
      if (!/^[0-7]+$/.test(p)) return 'invalid';
      v = parseInt(p, 8);
    } else v = parseInt(p, 10);
    if (!Number.isFinite(v)) return 'invalid';
    values.push(v);
  }
  const last = values.pop()!;
  if (values.some((v) => v > 255) || last >= 2 ** (8 * (4 - values.length))) return 'invalid';
  let n = last;
  values.forEach((v, i) => (n += v * 2 ** (8 * (3 - i))));
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** The IPv4 address an IPv6 one reaches (mapped, compatible or NAT64), or null. */
function embeddedIPv4(v6: string): string | null {
  const m = /^(?:::ffff:|::|64:ff9b::)(?:([0-9a-f]{1,4}):([0-9a-f]{1,4})|(\d+\.\d+\.\d+\.\d+))$/i.exec(v6);
  if (!m) return null;
  if (m[3]) return m[3];
  const hi = parseInt(m[1]!, 16);
  const lo = parseInt(m[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/**
 * One host parser for every scheme. WHATWG URL parsing normalizes hosts of http(s) only; for rtsp, rtmp
 * and srt it keeps the text as written, and ffmpeg's resolver then takes inet_aton spellings. This reads
 * the host the way the connecting code will: brackets and zone ids off, trailing dots off, numeric
 * spellings to their address, embedded IPv4 out of IPv6. Returns a sentence when the host is no host.
 */
export function parseHost(hostname: string): ParsedHost | string {
  let h = hostname.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) {
    h = h.slice(1, -1).replace(/%25.*$|%.*$/, '');
    if (isIP(h) !== 6) return `has host [${h}], which is not an IPv6 address`;
    const v4 = embeddedIPv4(h);
    return v4 ? { kind: 'ip', family: 'ipv4', address: v4 } : { kind: 'ip', family: 'ipv6', address: h };
  }
  h = h.replace(/\.+$/, '');
  if (!h) return 'has no host; write it as scheme://host[:port]/path';
  const v4 = parseIPv4(h);
  if (v4 === 'invalid') return `has host "${h}", which is neither a valid IPv4 address nor a name`;
  if (v4) return { kind: 'ip', family: 'ipv4', address: v4 };
  if (!/^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/.test(h) || h.length > 253)
    return `has host "${h.slice(0, 80)}", which is not a host name (letters, digits, "-" and "." only)`;
  return { kind: 'name', name: h };
}

function blockList(cidrs: readonly string[], what: string): BlockList | string {
  const list = new BlockList();
  for (const c of cidrs) {
    const [addr = '', bits] = c.trim().split('/');
    const family = isIP(addr) === 6 ? 'ipv6' : isIP(addr) === 4 ? 'ipv4' : null;
    const prefix = bits === undefined ? (family === 'ipv6' ? 128 : 32) : Number(bits);
    if (!family || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 'ipv6' ? 128 : 32))
      return `${what} entry "${c}" is not an address or CIDR (e.g. 10.20.0.0/16, 192.168.1.7, fd00::/8)`;
    list.addSubnet(addr, prefix, family);
  }
  return list;
}

const builtInDeny = new BlockList();
for (const [addr, prefix, family] of BUILT_IN_DENY) builtInDeny.addSubnet(addr, prefix, family);

/** Checks a camera network configuration; the sentence says which entry is wrong. */
export function cameraNetworksProblem(n: CameraNetworks): string | null {
  for (const [list, what] of [
    [n.allow, 'VIGIL_CAMERA_NETWORKS'],
    [n.deny, 'VIGIL_CAMERA_DENY_NETWORKS'],
  ] as const) {
    const b = blockList(list, what);
    if (typeof b === 'string') return b;
  }
  return null;
}

const compiled = new WeakMap<CameraNetworks, { allow: BlockList | null; deny: BlockList }>();
function lists(n: CameraNetworks | undefined) {
  if (!n) return { allow: null, deny: new BlockList() };
  let c = compiled.get(n);
  if (!c) {
    const allow = n.allow.length ? blockList(n.allow, 'allow') : null;
    const deny = blockList(n.deny, 'deny');
    c = {
      allow: typeof allow === 'string' ? new BlockList() : allow,
      deny: typeof deny === 'string' ? new BlockList() : deny,
    };
    compiled.set(n, c);
  }
  return c;
}

/** Why a camera may not be at this address, or null. */
export function addressProblem(
  address: string,
  family: 'ipv4' | 'ipv6',
  networks?: CameraNetworks,
): string | null {
  const v4 = family === 'ipv6' ? embeddedIPv4(address) : null;
  const [a, f] = v4 ? [v4, 'ipv4' as const] : [address, family];
  const { allow, deny } = lists(networks);
  if (deny.check(a, f)) return `reaches ${a}, which the operator refuses (VIGIL_CAMERA_DENY_NETWORKS)`;
  const allowed = allow?.check(a, f) ?? false;
  if (allow && !allowed)
    return `reaches ${a}, which is outside the camera networks (VIGIL_CAMERA_NETWORKS); use a camera on them or ask the operator to add its network`;
  if (!allowed && builtInDeny.check(a, f))
    return `reaches ${a}, a link-local, cloud metadata or "this host" address, which is refused; use the camera's own address (or list its network in VIGIL_CAMERA_NETWORKS)`;
  return null;
}

function fileProblem(url: URL, dirs: readonly string[] | 'any' | undefined): string | null {
  let path: string;
  try {
    path = fileURLToPath(url);
  } catch {
    return 'is a file URL with a host or an encoded "/"; write it as file:///absolute/path.mp4';
  }
  if (url.search || url.hash) return 'is a file URL with a query or fragment; give the plain path';
  if (dirs === 'any') return null;
  const inside = (dirs ?? []).some((d) => {
    const dir = posix.resolve(d);
    return path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
  });
  if (inside) return null;
  return dirs?.length
    ? `is a file outside the directories the operator allows for file input (VIGIL_FILE_INPUT_DIRS); put the recording in one of them`
    : 'is a file URL, and file input is off; backtest a recording with `vigil replay <file>`, or have the operator list its directory in VIGIL_FILE_INPUT_DIRS';
}

/**
 * Checks a camera URL against the allowed schemes and hosts without resolving names (that happens before
 * each ffmpeg start: resolveCameraUrl). Returns the problem as a sentence that says what is wrong and how
 * to fix it, or null when the URL may be given to ffmpeg. Never echoes credentials.
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
  if (scheme === 'file') return fileProblem(url, policy.fileDirs);
  if (!(ALLOWED_STREAM_SCHEMES as readonly string[]).includes(scheme)) {
    return `uses scheme "${scheme}", which is not allowed; use one of ${ALLOWED_STREAM_SCHEMES.join(', ')}`;
  }
  if (!url.hostname) return 'has no host; write it as scheme://host[:port]/path';
  if (!policy.allowInlineCredentials && (url.username || url.password)) {
    return 'contains a user name or password; store them in a secret and reference it with credentials.secret';
  }
  const secretParam = [...url.searchParams.keys()].find((k) => SECRET_PARAM.test(k));
  if (secretParam !== undefined)
    return `carries a credential in its query ("${secretParam.slice(0, 40)}"); store it in a secret and reference it with credentials: { secret, queryParam: "${secretParam.slice(0, 40)}" }`;
  const host = parseHost(url.hostname);
  if (typeof host === 'string') return host;
  if (host.kind === 'name') {
    if (METADATA_NAMES.has(host.name) && !lists(policy.networks).allow?.check('169.254.169.254', 'ipv4'))
      return `points at ${host.name}, a cloud metadata address, which is refused; use the camera's own address`;
    return null;
  }
  const problem = addressProblem(host.address, host.family, policy.networks);
  return problem && `${problem.replace(/^reaches/, 'points at')}`;
}

/** Resolves a host name to its addresses (dns.lookup with all: true, or a test's own resolver). */
export type HostResolver = (name: string) => Promise<readonly { address: string; family: number }[]>;

/** Schemes whose URL may carry the checked address instead of the name (no TLS name, no Host header). */
const PINNABLE = new Set(['rtsp', 'rtmp', 'srt']);

/**
 * Right before ffmpeg starts: the URL's host resolved and every address checked, so a name that resolves
 * to a refused address (a metadata alias, a rebinding name) is refused too. Where the protocol allows
 * (rtsp, rtmp, srt) the URL ffmpeg gets carries the checked address, so ffmpeg cannot resolve the name to
 * another one in between; http(s), rtsps and rtmps keep the name (TLS and Host need it).
 */
export async function resolveCameraUrl(
  raw: string,
  policy: StreamUrlPolicy,
  resolve: HostResolver,
): Promise<{ url: string; address?: string } | { problem: string }> {
  const problem = streamUrlProblem(raw, policy);
  if (problem) return { problem };
  const url = new URL(raw);
  const scheme = url.protocol.replace(/:$/, '');
  if (scheme === 'file') return { url: raw };
  const host = parseHost(url.hostname) as Exclude<ParsedHost | string, string>;
  let chosen: { address: string; family: 'ipv4' | 'ipv6' };
  if (host.kind === 'ip') chosen = host;
  else {
    let found: readonly { address: string; family: number }[];
    try {
      found = await resolve(host.name);
    } catch (err) {
      return {
        problem: `has host ${host.name}, which does not resolve (${(err as { code?: string }).code ?? (err as Error).message}); check the name or use the camera's address`,
      };
    }
    if (!found.length) return { problem: `has host ${host.name}, which resolves to no address` };
    for (const a of found) {
      const p = addressProblem(a.address, a.family === 6 ? 'ipv6' : 'ipv4', policy.networks);
      if (p) return { problem: `has host ${host.name}, which ${p}` };
    }
    const first = found[0]!;
    chosen = { address: first.address, family: first.family === 6 ? 'ipv6' : 'ipv4' };
  }
  if (!PINNABLE.has(scheme)) return { url: raw, address: chosen.address };
  url.hostname = chosen.family === 'ipv6' ? `[${chosen.address}]` : chosen.address;
  return { url: url.toString(), address: chosen.address };
}

/** The URL with any user/password replaced by "***" and every query value masked, for logs, events, API. */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.username || url.password) {
      url.username = '***';
      url.password = '';
    }
    for (const key of [...new Set(url.searchParams.keys())]) url.searchParams.set(key, '***');
    return url.toString();
  } catch {
    return redactSecrets(raw);
  }
}

/**
 * Redacts credentials of every URL inside free text (ffmpeg stderr, error messages): the user info, every
 * query value (a query may carry a token under any name), and credential-like `name=value` pairs.
 */
export function redactSecrets(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi, '$1***@')
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^\s?#]*\?)([^\s#]*)/gi, (_m, head: string, query: string) => {
      return head + query.replace(/(^|&)([^=&]*)=[^&]*/g, '$1$2=***');
    })
    .replace(/([?&](?:pass|password|pwd|token|secret|key|auth)[^=&\s]*=)[^&\s]+/gi, '$1***');
}
