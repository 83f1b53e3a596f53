import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export class MediaProbeError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file} is not a video ffmpeg can read (${reason}); give a recorded clip such as an .mp4`);
    this.name = 'MediaProbeError';
  }
}

/** ffprobe beside the given ffmpeg binary (VIGIL_FFMPEG_PATH points at ffmpeg; ffprobe ships with it). */
export function ffprobeBeside(ffmpegPath: string): string {
  return ffmpegPath.replace(/ffmpeg$/, 'ffprobe');
}

/** A recorded clip's duration in seconds, from ffprobe; a file it cannot read is a MediaProbeError. */
export async function probeDuration(ffprobePath: string, file: string, timeoutMs = 30_000): Promise<number> {
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(
      ffprobePath,
      ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file],
      { timeout: timeoutMs },
    ));
  } catch (err) {
    const msg = ((err as { stderr?: string }).stderr || (err as Error).message).trim().split('\n').pop();
    throw new MediaProbeError(file, msg ?? 'ffprobe failed');
  }
  const d = Number(stdout.trim());
  if (!Number.isFinite(d) || d <= 0) throw new MediaProbeError(file, 'it reports no duration');
  return d;
}
