import {
  type CameraNetworks,
  type StreamSpec,
  type StreamUrlPolicy,
  streamUrlProblem,
} from '@vigil/contracts';

export interface IngestArgsOptions {
  /** Socket timeout for connecting and reading; ffmpeg 5.1 takes it in microseconds. */
  readonly ioTimeoutMs: number;
  /** Full decoding at this rate instead of the spec's sampling (adaptive burst). */
  readonly burstFps?: number;
  /** For file:// replay: read at the clip's own rate (live-like) instead of as fast as possible. */
  readonly realtime?: boolean;
  /** Decode on the GPU (NVDEC) on GPU nodes. */
  readonly hwaccel?: 'cuda';
  /** JPEG quality, ffmpeg's -q:v scale (2 best .. 31 worst). */
  readonly jpegQuality?: number;
  /** `mjpeg` (default): a stream of JPEGs; `raw`: packed RGB24 frames of width × height × 3 bytes. */
  readonly output?: 'mjpeg' | 'raw';
  /** Camera credentials from the secret store; put into the URL ffmpeg gets, and nowhere else. */
  readonly credentials?: { readonly username: string; readonly password: string };
  /** Log each sample's pts (showinfo) so samples can be mapped to stream time. */
  readonly timestamps?: boolean;
  /**
   * Decoder threads per stream. Default 1: a node runs many streams, so parallelism comes from processes;
   * ffmpeg's default (cores + 1 frame threads, each holding frames) only costs memory and switching there.
   */
  readonly decodeThreads?: number;
  /**
   * Directories whose files may be read: the operator's VIGIL_FILE_INPUT_DIRS, or the one recording that
   * `vigil replay` was given. Nothing else grants file input; a StreamSpec cannot.
   */
  readonly fileDirs?: readonly string[];
  /** The operator's camera networks (VIGIL_CAMERA_NETWORKS, VIGIL_CAMERA_DENY_NETWORKS). */
  readonly networks?: CameraNetworks;
  /** The URL as resolveCameraUrl checked it (the address pinned where the protocol allows). */
  readonly resolvedUrl?: string;
}

/**
 * The URL with credentials set, for ffmpeg's argument list only: as user info, or the password alone in
 * the query parameter `queryParam` (cameras that take a token there).
 */
export function withCredentials(
  raw: string,
  creds: IngestArgsOptions['credentials'],
  queryParam?: string,
): string {
  if (!creds) return raw;
  const url = new URL(raw);
  if (queryParam) url.searchParams.set(queryParam, creds.password);
  else {
    url.username = encodeURIComponent(creds.username);
    url.password = encodeURIComponent(creds.password);
  }
  return url.toString();
}

/** Protocols each scheme may use underneath; anything else is refused by ffmpeg itself. */
const PROTOCOL_WHITELIST: Record<string, string> = {
  rtsp: 'rtsp,rtp,srtp,udp,tcp',
  rtsps: 'rtsp,rtsps,rtp,srtp,udp,tcp,tls',
  rtmp: 'rtmp,tcp',
  rtmps: 'rtmp,rtmps,tcp,tls',
  srt: 'srt,udp',
  http: 'http,tcp,hls,crypto,data',
  https: 'http,https,tcp,tls,hls,crypto,data',
  file: 'file,crypto,data',
};

/**
 * Container formats each scheme may be demuxed as (ffmpeg's -format_whitelist): what cameras and
 * recordings are. Without it ffmpeg probes any input, and renders a text file as video (tty).
 */
export const FORMAT_WHITELIST: Record<string, string> = {
  rtsp: 'rtsp,rtp,sdp',
  rtsps: 'rtsp,rtp,sdp',
  rtmp: 'flv,live_flv',
  rtmps: 'flv,live_flv',
  srt: 'mpegts',
  http: 'hls,mpegts,mov,mpjpeg,mjpeg,flv,matroska',
  https: 'hls,mpegts,mov,mpjpeg,mjpeg,flv,matroska',
  file: 'mov,matroska,avi,mpegts,flv,h264,hevc,mjpeg',
};

/** What a camera URL may lead to under these options: their file directories (none: no file) and networks. */
export function urlPolicyOf(opts: Pick<IngestArgsOptions, 'fileDirs' | 'networks'>): StreamUrlPolicy {
  return { fileDirs: opts.fileDirs ?? [], ...(opts.networks ? { networks: opts.networks } : {}) };
}

/** -protocol_whitelist and -format_whitelist for a URL's scheme; throws for a scheme without them. */
export function inputWhitelists(streamId: string, url: string): string[] {
  const scheme = new URL(url).protocol.replace(/:$/, '');
  const protocols = PROTOCOL_WHITELIST[scheme];
  const formats = FORMAT_WHITELIST[scheme];
  if (!protocols || !formats)
    throw new UnsafeStreamUrlError(streamId, `uses scheme "${scheme}", which has no input whitelist`);
  return ['-protocol_whitelist', protocols, '-format_whitelist', formats];
}

export class UnsafeStreamUrlError extends Error {
  constructor(streamId: string, problem: string) {
    super(`stream ${streamId}: URL ${problem}`);
    this.name = 'UnsafeStreamUrlError';
  }
}

/**
 * The ffmpeg command line that reads one camera, decodes only what is sampled, scales to the model size
 * inside ffmpeg (letterboxed, aspect kept) and writes a stream of JPEGs to stdout. Pure: no I/O.
 * The URL is re-checked here, so no caller can hand ffmpeg a scheme outside the allow-list.
 */
export function buildIngestArgs(spec: StreamSpec, opts: IngestArgsOptions): string[] {
  const policy = urlPolicyOf(opts);
  const problem = streamUrlProblem(spec.url, policy);
  if (problem) throw new UnsafeStreamUrlError(spec.id, problem);
  const url = opts.resolvedUrl ?? spec.url;
  const resolvedProblem = url === spec.url ? null : streamUrlProblem(url, policy);
  if (resolvedProblem) throw new UnsafeStreamUrlError(spec.id, resolvedProblem);
  const scheme = new URL(spec.url).protocol.replace(/:$/, '');
  const whitelists = inputWhitelists(spec.id, url);

  const timeoutUs = String(Math.round(opts.ioTimeoutMs * 1000));
  // showinfo reports at info level; without it errors alone are enough
  const args = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', opts.timestamps ? 'info' : 'error'];

  if (opts.hwaccel === 'cuda') args.push('-hwaccel', 'cuda');

  switch (scheme) {
    case 'rtsp':
    case 'rtsps':
      args.push('-rtsp_transport', spec.rtspTransport, '-timeout', timeoutUs);
      break;
    case 'file':
      if (opts.realtime) args.push('-re');
      break;
    default:
      args.push('-rw_timeout', timeoutUs);
  }
  args.push(...whitelists);

  const keyframesOnly = opts.burstFps === undefined && spec.sampling.mode !== 'fps';
  if (keyframesOnly) args.push('-skip_frame', 'nokey');
  args.push('-threads', String(opts.decodeThreads ?? 1));

  args.push('-i', withCredentials(url, opts.credentials, spec.credentials?.queryParam), '-an', '-sn', '-dn');

  const { width: w, height: h } = spec.output;
  const filters: string[] = [];
  const fps = opts.burstFps ?? (spec.sampling.mode === 'fps' ? spec.sampling.fps : undefined);
  if (fps !== undefined) filters.push(`fps=${fps}`);
  filters.push(`scale=${w}:${h}:force_original_aspect_ratio=decrease`, `pad=${w}:${h}:(ow-iw)/2:(oh-ih)/2`);
  const raw = opts.output === 'raw';
  filters.push(raw ? 'format=rgb24' : 'format=yuvj420p');
  if (opts.timestamps) filters.push('showinfo');
  args.push('-vf', filters.join(','), '-fps_mode', 'passthrough');
  if (raw) args.push('-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1');
  else args.push('-f', 'image2pipe', '-c:v', 'mjpeg', '-q:v', String(opts.jpegQuality ?? 5), 'pipe:1');
  return args;
}
