import { type StreamSpec, streamUrlProblem } from '@vigil/contracts';

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
}

/** The URL with credentials set, for ffmpeg's argument list only. */
export function withCredentials(raw: string, creds: IngestArgsOptions['credentials']): string {
  if (!creds) return raw;
  const url = new URL(raw);
  url.username = encodeURIComponent(creds.username);
  url.password = encodeURIComponent(creds.password);
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
  const problem = streamUrlProblem(spec.url, { allowFiles: spec.replay });
  if (problem) throw new UnsafeStreamUrlError(spec.id, problem);
  const scheme = new URL(spec.url).protocol.replace(/:$/, '');
  const whitelist = PROTOCOL_WHITELIST[scheme];
  if (!whitelist)
    throw new UnsafeStreamUrlError(spec.id, `uses scheme "${scheme}", which has no protocol whitelist`);

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
  args.push('-protocol_whitelist', whitelist);

  const keyframesOnly = opts.burstFps === undefined && spec.sampling.mode !== 'fps';
  if (keyframesOnly) args.push('-skip_frame', 'nokey');
  args.push('-threads', String(opts.decodeThreads ?? 1));

  args.push('-i', withCredentials(spec.url, opts.credentials), '-an', '-sn', '-dn');

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
