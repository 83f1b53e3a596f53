import { type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';

/** node-rtsp-stream's muxer: ffmpeg re-encoding a camera to MPEG-1 in MPEG-TS for JSMpeg (CommonJS). */
interface Mpeg1Muxer {
  stream: ChildProcess;
  on(event: 'mpeg1data', fn: (data: Buffer) => void): void;
  on(event: 'ffmpegStderr', fn: (data: Buffer) => void): void;
}
const Mpeg1Muxer = createRequire(import.meta.url)('node-rtsp-stream/mpeg1muxer.js') as new (o: {
  url: string;
  ffmpegPath: string;
  ffmpegOptions: Record<string, string>;
}) => Mpeg1Muxer;

/**
 * The output options of the dashboard's live view: MPEG-1 (what JSMpeg decodes) at 640 px wide, 25 fps,
 * no B-frames (JSMpeg plays none), no audio. Pure; node-rtsp-stream puts them after `-i <url> -f mpegts
 * -codec:v mpeg1video`.
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
 * Starts node-rtsp-stream's muxer on a URL that the caller has already checked against the allow-list
 * (with credentials set, for ffmpeg's argument list only). The muxer does not listen for spawn errors (no
 * ffmpeg at the path): this adapter does, so a missing binary is a message, not a crash.
 */
export function startLiveEncode(url: string, ffmpegPath: string): LiveEncode {
  const muxer = new Mpeg1Muxer({ url, ffmpegPath, ffmpegOptions: liveViewOptions() });
  const stderrFns: ((text: string) => void)[] = [];
  muxer.stream.on('error', (err) => {
    for (const fn of stderrFns) fn(`\ncannot run ${ffmpegPath}: ${err.message}`);
  });
  muxer.on('ffmpegStderr', (data) => {
    for (const fn of stderrFns) fn(data.toString());
  });
  return {
    onData: (fn) => muxer.on('mpeg1data', fn),
    onStderr: (fn) => stderrFns.push(fn),
    onExit: (fn) => muxer.stream.on('exit', (code) => fn(code)),
    stop: () => muxer.stream.kill('SIGTERM'),
  };
}
