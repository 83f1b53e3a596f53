import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * Camera-like scenes from ffmpeg's lavfi sources:
 * - steady: a static scene (SMPTE bars) with temporal sensor noise; nothing happens.
 * - moving: a scene with constant motion (testsrc2), busy but normal.
 * - box: steady, then at `changeAt` s a large white box appears and stays.
 * - blur: steady, then at `changeAt` s the image goes out of focus.
 * - freeze: moving, then from `changeAt` s the picture freezes (a hung encoder).
 * - small-changes: steady, then a small white box (1/8 × 1/8 of the picture) at `changeAt` s and a small
 *   black one at 2 × `changeAt` s: changes a near-duplicate gate must not miss.
 */
export type Scenario = 'steady' | 'moving' | 'box' | 'blur' | 'freeze' | 'small-changes';

export interface ClipOptions {
  readonly scenario: Scenario;
  readonly seconds: number;
  readonly width?: number;
  readonly height?: number;
  readonly fps?: number;
  /** Keyframe interval in frames (GOP); default one per second. */
  readonly gop?: number;
  /** When the scheduled change happens, seconds from the start. */
  readonly changeAt?: number;
}

export function clipFilter(o: ClipOptions): { source: string; filters: string[] } {
  const w = o.width ?? 640;
  const h = o.height ?? 360;
  const fps = o.fps ?? 10;
  const at = o.changeAt ?? o.seconds / 2;
  const steady = `smptebars=size=${w}x${h}:rate=${fps}`;
  const noise = 'noise=alls=6:allf=t';
  switch (o.scenario) {
    case 'steady':
      return { source: steady, filters: [noise] };
    case 'moving':
      return { source: `testsrc2=size=${w}x${h}:rate=${fps}`, filters: [noise] };
    case 'box':
      return {
        source: steady,
        filters: [`drawbox=x=iw/4:y=ih/4:w=iw/2:h=ih/2:color=white:t=fill:enable='gte(t,${at})'`, noise],
      };
    case 'small-changes':
      return {
        source: steady,
        filters: [
          `drawbox=x=iw/16:y=ih/9:w=iw/8:h=ih/8:color=white:t=fill:enable='gte(t,${at})'`,
          `drawbox=x=iw*13/16:y=ih*7/9:w=iw/8:h=ih/8:color=black:t=fill:enable='gte(t,${2 * at})'`,
          noise,
        ],
      };
    case 'blur':
      return {
        source: steady,
        filters: [`boxblur=luma_radius=12:luma_power=2:enable='gte(t,${at})'`, noise],
      };
    case 'freeze':
      // cut the moving scene at changeAt and repeat its last frame (noise included) to the end
      return {
        source: `testsrc2=size=${w}x${h}:rate=${fps}`,
        filters: [noise, `trim=end=${at}`, `tpad=stop_mode=clone:stop_duration=${o.seconds - at}`],
      };
  }
}

/**
 * Runs ffmpeg with `input` (its input and filter arguments) into an H.264 MP4 at `path` (yuv420p, a
 * keyframe every `gop` frames, faststart), through a temporary file so a half-written clip is never used.
 */
function encodeClip(path: string, input: string[], gop: number, what: string, ffmpegPath: string): string {
  const r = spawnSync(
    ffmpegPath,
    [
      ...['-hide_banner', '-loglevel', 'error', '-y', ...input],
      ...['-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p'],
      ...['-g', String(gop), '-keyint_min', String(gop), '-sc_threshold', '0', '-movflags', '+faststart'],
      `${path}.tmp.mp4`,
    ],
    { encoding: 'utf8' },
  );
  if (r.error || r.status !== 0)
    throw new Error(`cannot make ${what}: ${r.error?.message ?? r.stderr.trim()}; is ffmpeg installed?`);
  const mv = spawnSync('mv', [`${path}.tmp.mp4`, path]);
  if (mv.status !== 0) throw new Error(`cannot move clip into ${path}`);
  return path;
}

/** Writes an H.264 MP4 clip (yuv420p, fixed GOP) unless it already exists; returns its path. */
export function generateClip(path: string, o: ClipOptions, ffmpegPath = 'ffmpeg'): string {
  if (existsSync(path)) return path;
  mkdirSync(dirname(path), { recursive: true });
  const fps = o.fps ?? 10;
  const { source, filters } = clipFilter(o);
  return encodeClip(
    path,
    ['-f', 'lavfi', '-i', source, '-vf', filters.join(','), '-t', String(o.seconds)],
    o.gop ?? fps,
    `clip ${path}`,
    ffmpegPath,
  );
}

/**
 * Real footage as a demo or test camera: `src` (any file ffmpeg reads) played forwards then backwards, so
 * the RTSP server's loop has no jump cut, as H.264 (GOP 1 s) at `width`×`height` and `fps`; cached in
 * `path`. The reversal holds the clip's frames in memory: fine for a clip of a minute or two.
 */
export function footageClip(
  path: string,
  src: string,
  o: { readonly width: number; readonly height: number; readonly fps: number },
  ffmpegPath = 'ffmpeg',
): string {
  if (existsSync(path)) return path;
  mkdirSync(dirname(path), { recursive: true });
  const graph = `[0:v]fps=${o.fps},scale=${o.width}:${o.height},setsar=1,split[a][b];[b]reverse[r];[a][r]concat=n=2:v=1[v]`;
  return encodeClip(
    path,
    ['-i', src, '-filter_complex', graph, '-map', '[v]'],
    o.fps,
    `a clip of ${src}`,
    ffmpegPath,
  );
}

/** Where tools/setup.sh puts the real footage (OpenCV's vtest.avi, from Debian's opencv-doc). */
export const FOOTAGE = '.cache/footage/vtest.avi';

/**
 * Frames of a video file as JPEGs, cut by real ffmpeg with the filter `vf` (e.g. "fps=2"), in order.
 * Throws a readable error when the file is missing (tools/setup.sh fetches the footage) or unreadable.
 */
export function videoJpegs(src: string, vf: string, ffmpegPath = 'ffmpeg'): Buffer[] {
  if (!existsSync(src))
    throw new Error(`${src} is missing: run bash tools/setup.sh (it fetches the footage)`);
  const dir = mkdtempSync(join(tmpdir(), 'vigil-frames-'));
  try {
    const r = spawnSync(
      ffmpegPath,
      ['-v', 'error', '-i', src, '-vf', vf, '-q:v', '3', join(dir, 'f%05d.jpg')],
      {
        encoding: 'utf8',
      },
    );
    if (r.error || r.status !== 0)
      throw new Error(`ffmpeg could not read ${src}: ${r.error?.message ?? r.stderr.trim()}`);
    return readdirSync(dir)
      .sort()
      .map((f) => readFileSync(join(dir, f)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
