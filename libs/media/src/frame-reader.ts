import { spawn } from 'node:child_process';
import { diesWithParent } from './child-guard.js';
import { JpegSplitter } from './jpeg-splitter.js';

export class FrameReadError extends Error {
  constructor(
    readonly code: number | null,
    readonly lastStderr: string,
  ) {
    super(`ffmpeg exited (${code ?? 'by a signal'}) before its first frame: ${lastStderr || 'no message'}`);
    this.name = 'FrameReadError';
  }
}

/**
 * One ffmpeg run read to its end: the JPEGs it writes to stdout (an `image2pipe` mjpeg command line such
 * as buildIngestArgs makes), one at a time, with back-pressure — while the consumer is busy the frames
 * wait in the pipe and ffmpeg blocks, so a long clip is never held in memory. No restarts (that is
 * StreamSupervisor's job, for cameras); for clips and one-shot grabs. A run that ends without a single
 * frame throws FrameReadError with ffmpeg's last line; leaving the loop early stops ffmpeg.
 */
export async function* readFrames(ffmpegPath: string, args: readonly string[]): AsyncGenerator<Buffer> {
  const cmd = diesWithParent(ffmpegPath, args);
  const child = spawn(cmd.command, cmd.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  const splitter = new JpegSplitter();
  let frames = 0;
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      for (const jpeg of splitter.push(chunk)) {
        frames++;
        yield jpeg;
      }
    }
    const code = await exited;
    if (spawnError) throw new FrameReadError(null, `cannot run ${ffmpegPath}: ${spawnError.message}`);
    if (frames === 0 && code !== 0) throw new FrameReadError(code, stderr.trim().split('\n').pop() ?? '');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
