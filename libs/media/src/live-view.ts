import { spawn } from 'node:child_process';

/**
 * The output options of the dashboard's live view: MPEG-1 (what JSMpeg decodes) at 640 px wide, 25 fps,
 * no B-frames (JSMpeg plays none), no audio. Pure; they follow `-i <url> -f mpegts -codec:v mpeg1video`.
 */
export function liveViewOptions(): Record<string, string> {
  return {
    '-an': '',
    '-vf': 'scale=640:-2',
    '-r': '25',
    '-b:v': '900k',
    '-bf': '0',
    '-loglevel': 'error',
    '-nostdin': '',
  };
}

/** A running live-view encode: MPEG-TS chunks out, ffmpeg's messages, its end. */
export interface LiveEncode {
  onData(fn: (chunk: Buffer) => void): void;
  /** ffmpeg's stderr, and a line when it cannot be started at all. */
  onStderr(fn: (text: string) => void): void;
  onExit(fn: (code: number | null) => void): void;
  stop(): void;
}

/**
 * Starts ffmpeg re-encoding a camera to MPEG-1 in MPEG-TS for JSMpeg, on a URL that the caller has already
 * checked against the allow-list (with credentials set, for ffmpeg's argument list only). `inputArgs` are
 * the input whitelists (`-protocol_whitelist`, `-format_whitelist`), which must come before `-i`:
 * node-rtsp-stream's muxer, which this replaced, puts every option after it, so it could not restrict
 * what ffmpeg opens. A missing binary is a message, not a crash.
 */
export function startLiveEncode(url: string, ffmpegPath: string, inputArgs: readonly string[]): LiveEncode {
  const flags = Object.entries(liveViewOptions()).flatMap(([k, v]) => (v === '' ? [k] : [k, v]));
  const proc = spawn(
    ffmpegPath,
    [...inputArgs, '-i', url, '-f', 'mpegts', '-codec:v', 'mpeg1video', ...flags, '-'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const stderrFns: ((text: string) => void)[] = [];
  proc.on('error', (err) => {
    for (const fn of stderrFns) fn(`\ncannot run ${ffmpegPath}: ${err.message}`);
  });
  proc.stderr.on('data', (data: Buffer) => {
    for (const fn of stderrFns) fn(data.toString());
  });
  return {
    onData: (fn) => proc.stdout.on('data', fn),
    onStderr: (fn) => stderrFns.push(fn),
    onExit: (fn) => proc.on('exit', (code) => fn(code)),
    stop: () => proc.kill('SIGTERM'),
  };
}
