import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { diesWithParent } from '@vigil/media';
import { repoRoot } from './repo-root.js';
import { terminate, trackChild } from './child-processes.js';
import { freePort } from './free-port.js';

/** A mount: a live videotestsrc pattern ("ball", "smpte", ...) or an H.264 file served in a loop. */
export type RtspMount =
  | {
      readonly name: string;
      readonly pattern: string;
      readonly width?: number;
      readonly height?: number;
      readonly fps?: number;
    }
  | { readonly name: string; readonly file: string }
  /** An H.264 MP4 looped without re-encoding: its own GOP, little CPU per client (benchmarks). */
  | { readonly name: string; readonly h264loop: string }
  /** A raw gst-launch description ending in a payloader named pay0 (audio-only, unusual codecs...). */
  | { readonly name: string; readonly launch: string };

export class RtspServerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RtspServerError';
  }
}

export interface RtspServerOptions {
  /** Every mount asks for RTSP Basic authentication with these, as a real camera does (401 without). */
  readonly auth?: { readonly username: string; readonly password: string };
}

/**
 * Debian's GStreamer RTSP server (tools/rtsp/rtsp-server.py, run by /usr/bin/python3 for python3-gi),
 * serving each mount at rtsp://127.0.0.1:<port>/<name> over TCP and UDP.
 */
export class RtspTestServer {
  private child: ChildProcess | null = null;
  private _port = 0;

  constructor(
    private readonly mounts: readonly RtspMount[],
    private readonly port?: number,
    private readonly options: RtspServerOptions = {},
  ) {}

  url(name: string): string {
    return `rtsp://127.0.0.1:${this._port}/${name}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(timeoutMs = 15_000): Promise<void> {
    this._port = this.port ?? (await freePort());
    const args = [join(repoRoot(), 'tools/rtsp/rtsp-server.py'), '--port', String(this._port)];
    for (const m of this.mounts) {
      const source =
        'file' in m
          ? `file:${m.file}`
          : 'h264loop' in m
            ? `h264loop:${m.h264loop}`
            : 'launch' in m
              ? `launch:${m.launch}`
              : `pattern:${m.pattern}@${m.width ?? 640}x${m.height ?? 360}@${m.fps ?? 10}`;
      args.push('--mount', `${m.name}=${source}`);
    }
    // detached: Ctrl-C reaches only Vigil, which stops its helpers in order.
    const cmd = diesWithParent(process.env.VIGIL_GST_PYTHON ?? '/usr/bin/python3', args);
    // the password goes through the environment, not the argument list anyone can read in /proc
    const { auth } = this.options;
    const env = auth ? { ...process.env, VIGIL_RTSP_AUTH: `${auth.username}:${auth.password}` } : process.env;
    const child = spawn(cmd.command, cmd.args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env });
    trackChild(child);
    this.child = child;
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (t: string) => (stderr = (stderr + t).slice(-4000)));
    await new Promise<void>((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        reject(
          new RtspServerError(
            `the RTSP test server did not start (${why}); it needs Debian's gir1.2-gst-rtsp-server-1.0, python3-gi and GStreamer plugins (good, bad, ugly)`,
          ),
        );
      };
      const timer = setTimeout(
        () => fail(`no READY within ${timeoutMs} ms: ${stderr.trim().slice(-300)}`),
        timeoutMs,
      );
      child.once('error', (e) => fail(e.message));
      child.once('exit', (code) =>
        fail(`exited with code ${code}: ${stderr.trim().split('\n').slice(-2).join(' ')}`),
      );
      child.stdout?.setEncoding('utf8');
      child.stdout?.on('data', (t: string) => {
        if (t.includes('READY')) {
          clearTimeout(timer);
          child.removeAllListeners('exit');
          resolve();
        }
      });
    });
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child) await terminate(child, 5_000);
  }
}
