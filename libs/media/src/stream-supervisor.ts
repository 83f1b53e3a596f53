import { randomUUID } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  type CameraNetworks,
  type HostResolver,
  type StreamSpec,
  type StreamState,
  redactSecrets,
  resolveCameraUrl,
  streamUrlProblem,
} from '@vigil/contracts';
import { buildIngestArgs, type IngestArgsOptions, urlPolicyOf } from './ffmpeg-args.js';
import { type MediaProcess, type MediaSpawner, spawnMediaProcess } from './ffmpeg-process.js';
import { JpegSplitter } from './jpeg-splitter.js';
import { RawFrameSplitter, parseShowinfo } from './raw-frame-splitter.js';
import { backoffDelay } from './backoff.js';
import { explainFfmpegError, pickErrorLine } from './failure.js';

export interface SupervisorOptions {
  readonly ffmpegPath: string;
  /** Restart ffmpeg when no frame arrived for this long (camera stalled). */
  readonly stallTimeoutMs: number;
  readonly ioTimeoutMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  /** Wait this long after SIGTERM before SIGKILL. */
  readonly killGraceMs?: number;
  readonly stderrLines?: number;
  readonly realtime?: boolean;
  /** `mjpeg` (default) or `raw` RGB24 frames. */
  readonly output?: 'mjpeg' | 'raw';
  /** Map samples to stream pts (ffmpeg showinfo). Default on. */
  readonly timestamps?: boolean;
  /** Resolves the camera's credentials at every start (secret rotation); throws when unavailable. */
  readonly credentials?: () => { username: string; password: string } | undefined;
  /** Directories file:// URLs may read (VIGIL_FILE_INPUT_DIRS, or the one recording `vigil replay` got). */
  readonly fileDirs?: readonly string[];
  /** The operator's camera networks; every resolved address is checked against them. */
  readonly networks?: CameraNetworks;
  /**
   * Resolves the camera's host before every start, so a name that now points at a refused address is
   * refused (and rtsp/rtmp/srt get the checked address). Absent: only the URL as written is checked.
   */
  readonly resolveHost?: HostResolver;
  readonly spawner?: MediaSpawner;
  readonly random?: () => number;
  readonly now?: () => number;
}

export interface SampledFrame {
  /** A JPEG, or width × height × 3 bytes of RGB24 with output 'raw'. */
  readonly image: Buffer;
  readonly seq: number;
  readonly runId: string;
  /** Wall-clock time the sample was read from ffmpeg (ms since the epoch). */
  readonly capturedAt: number;
  /** Presentation time in the source stream, seconds, when ffmpeg reported it. */
  readonly ptsSeconds?: number;
}

export interface StateChange {
  readonly state: StreamState;
  readonly previous: StreamState;
  /** Why the state changed, redacted, e.g. "ffmpeg exited with code 1: Connection refused". */
  readonly reason?: string;
  /** In backoff: when the next start happens. */
  readonly retryInMs?: number;
}

export interface SupervisorStats {
  readonly framesIn: number;
  readonly restarts: number;
  readonly garbageBytes: number;
  readonly lastFrameAt: number | null;
  readonly lastError: string | null;
}

/**
 * Keeps one ffmpeg process reading one camera alive: starting → running, stalled (watchdog) or exited →
 * backoff → starting, until stop(). Never throws after construction; every fault becomes a state change.
 * States: starting (ffmpeg spawned, no frame yet), running, stalled (no frame within stallTimeoutMs; being
 * restarted), backoff (waiting before a restart), stopped.
 */
export class StreamSupervisor {
  private proc: MediaProcess | null = null;
  private _state: StreamState = 'stopped';
  private attempt = 0;
  private seq = 0;
  private runId = '';
  private watchdog: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private stderrTail: string[] = [];
  private stopping = false;
  private exitWaiters: (() => void)[] = [];
  private framesIn = 0;
  private restarts = 0;
  private garbageBytes = 0;
  private lastFrameAt: number | null = null;
  private lastError: string | null = null;
  private burstFps: number | undefined;
  /** Set while ffmpeg is being restarted to change sampling: the restart is immediate, not a failure. */
  private switching = false;
  /** Set when the watchdog ended the current process, so its exit is reported as the stall it was. */
  private stallReason: string | null = null;
  /** showinfo's pts per frame number of the current run, until the frame itself arrives. */
  private pts = new Map<number, number>();
  /** Counts starts, so a host resolution that finishes after a stop or a newer start is dropped. */
  private starts = 0;

  constructor(
    readonly spec: StreamSpec,
    private readonly opts: SupervisorOptions,
    private readonly onFrame: (frame: SampledFrame) => void,
    private readonly onState: (change: StateChange) => void,
  ) {
    // Build once up front so an unsafe URL fails at construction, before any process exists.
    buildIngestArgs(spec, this.argOptions());
  }

  get state(): StreamState {
    return this._state;
  }

  get pid(): number | undefined {
    return this.proc?.exited === false ? this.proc.pid : undefined;
  }

  stats(): SupervisorStats {
    return {
      framesIn: this.framesIn,
      restarts: this.restarts,
      garbageBytes: this.garbageBytes,
      lastFrameAt: this.lastFrameAt,
      lastError: this.lastError,
    };
  }

  /** The last stderr lines of ffmpeg, credentials redacted, for diagnosis. */
  stderr(): readonly string[] {
    return this.stderrTail;
  }

  start(): void {
    if (this._state !== 'stopped' || this.stopping) return;
    this.spawn();
  }

  /** SIGTERM, then SIGKILL after the grace period; resolves when the process is gone. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.starts++;
    this.clearTimers();
    await this.killProcess();
    this.setState('stopped', 'stopped on request');
  }

  private argOptions(credentials?: IngestArgsOptions['credentials']): IngestArgsOptions {
    return {
      ioTimeoutMs: this.opts.ioTimeoutMs,
      timestamps: this.opts.timestamps ?? true,
      ...(this.opts.output ? { output: this.opts.output } : {}),
      ...(credentials ? { credentials } : {}),
      ...(this.opts.realtime !== undefined ? { realtime: this.opts.realtime } : {}),
      ...(this.burstFps !== undefined ? { burstFps: this.burstFps } : {}),
      ...(this.opts.fileDirs ? { fileDirs: this.opts.fileDirs } : {}),
      ...(this.opts.networks ? { networks: this.opts.networks } : {}),
    };
  }

  /**
   * The URL ffmpeg gets this time, checked where it really leads: a file's real path (a link out of the
   * allowed directories is refused), a host name's addresses. A sentence when it may not be opened.
   */
  private target(): { url: string } | { problem: string } | Promise<{ url: string } | { problem: string }> {
    const url = this.spec.url;
    const policy = urlPolicyOf(this.opts); // as buildIngestArgs applies it to the arguments
    if (url.startsWith('file:')) {
      const problem = streamUrlProblem(url, policy);
      if (problem) return { problem: `URL ${problem}` };
      let real: string;
      try {
        real = realpathSync(fileURLToPath(url));
      } catch {
        return { problem: 'the file of its URL cannot be read (it does not exist, or is not readable)' };
      }
      const realProblem = streamUrlProblem(pathToFileURL(real).toString(), policy);
      return realProblem ? { problem: `URL leads (through a link) to a file that ${realProblem}` } : { url };
    }
    if (!this.opts.resolveHost) return { url };
    return resolveCameraUrl(url, policy, this.opts.resolveHost).then((r) =>
      'problem' in r ? { problem: `URL ${r.problem}` } : { url: r.url },
    );
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  private spawn(): void {
    let credentials: IngestArgsOptions['credentials'];
    try {
      credentials = this.opts.credentials?.();
    } catch (err) {
      this.lastError = (err as Error).message;
      this.scheduleRestart(this.lastError);
      return;
    }
    const start = ++this.starts;
    const go = (t: { url: string } | { problem: string }) => {
      if (this.stopping || start !== this.starts) return;
      if ('problem' in t) {
        this.lastError = t.problem;
        this.scheduleRestart(t.problem);
        return;
      }
      this.launch(credentials, t.url);
    };
    const t = this.target();
    if (t instanceof Promise) {
      this.setState('starting');
      void t.then(go, (err: unknown) =>
        go({ problem: `URL could not be checked: ${(err as Error).message}` }),
      );
    } else go(t);
  }

  private launch(credentials: IngestArgsOptions['credentials'], resolvedUrl: string): void {
    const args = buildIngestArgs(this.spec, {
      ...this.argOptions(credentials),
      ...(resolvedUrl !== this.spec.url ? { resolvedUrl } : {}),
    });
    this.runId = randomUUID();
    this.seq = 0;
    this.stderrTail = [];
    this.pts.clear();
    const { width, height } = this.spec.output;
    const splitter =
      this.opts.output === 'raw' ? new RawFrameSplitter(width * height * 3) : new JpegSplitter();
    const proc = (this.opts.spawner ?? spawnMediaProcess)(this.opts.ffmpegPath, args);
    this.proc = proc;
    this.setState('starting');
    this.armWatchdog();

    proc.onStdout((chunk) => {
      if (proc !== this.proc) return;
      const frames = splitter.push(chunk);
      if (splitter instanceof JpegSplitter) this.garbageBytes = splitter.garbageBytes;
      for (const image of frames) this.frame(image);
    });
    proc.onStderrLine((line) => {
      if (proc !== this.proc) return;
      const info = parseShowinfo(line);
      if (info) {
        this.pts.set(info.n, info.ptsTime);
        if (this.pts.size > 256) this.pts.delete(this.pts.keys().next().value!);
        return;
      }
      this.stderrTail.push(redactSecrets(line).slice(0, 500));
      const keep = this.opts.stderrLines ?? 20;
      if (this.stderrTail.length > keep) this.stderrTail.splice(0, this.stderrTail.length - keep);
    });
    proc.onExit((code, signal) => {
      const waiters = this.exitWaiters;
      this.exitWaiters = [];
      for (const w of waiters) w();
      if (proc !== this.proc) return;
      this.proc = null;
      if (this.stopping) return;
      if (this.switching) {
        this.switching = false;
        this.spawn();
        return;
      }
      const how = signal
        ? `was killed by ${signal}`
        : code === 0
          ? 'reached the end of the stream (the source closed it)'
          : `exited with code ${code}`;
      const last = pickErrorLine(this.stderrTail);
      const detail = last ? `: ${explainFfmpegError(last)}` : '';
      this.lastError = this.stallReason ? `${this.stallReason}${detail}` : `ffmpeg ${how}${detail}`;
      this.stallReason = null;
      this.scheduleRestart(this.lastError);
    });
  }

  private frame(image: Buffer): void {
    const at = this.now();
    this.framesIn++;
    this.lastFrameAt = at;
    this.attempt = 0;
    if (this._state !== 'running') {
      // frames flow again: what went wrong before is history, not the camera's state (the card shows it)
      this.lastError = null;
      this.setState('running');
    }
    this.armWatchdog();
    const seq = this.seq++;
    const pts = this.pts.get(seq);
    this.pts.delete(seq);
    this.onFrame({
      image,
      seq,
      runId: this.runId,
      capturedAt: at,
      ...(pts !== undefined && pts >= 0 ? { ptsSeconds: pts } : {}),
    });
  }

  private armWatchdog(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      this.watchdog = null;
      const proc = this.proc;
      if (this.stopping || !proc) return;
      const ms = this.opts.stallTimeoutMs;
      const reason =
        this.seq > 0
          ? `the stream stopped sending frames for ${ms} ms`
          : `no frame within ${ms} ms of starting`;
      this.stallReason = reason;
      this.lastError = reason;
      this.setState('stalled', reason);
      // SIGTERM first so ffmpeg says what it was stuck on; the exit handler schedules the restart
      proc.kill('SIGTERM');
      const kill = setTimeout(() => proc.kill('SIGKILL'), this.opts.killGraceMs ?? 2000);
      kill.unref();
      proc.onExit(() => clearTimeout(kill));
    }, this.opts.stallTimeoutMs);
    this.watchdog.unref();
  }

  private scheduleRestart(reason: string): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    const delay = backoffDelay(
      this.attempt++,
      this.opts.backoffInitialMs,
      this.opts.backoffMaxMs,
      this.opts.random ?? Math.random,
    );
    this.setState('backoff', reason, delay);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.stopping) return;
      this.restarts++;
      this.spawn();
    }, delay);
  }

  /** Switches to full decoding at `fps` (or back to the spec's sampling with undefined); restarts ffmpeg. */
  setBurst(fps: number | undefined): void {
    if (fps === this.burstFps) return;
    this.burstFps = fps;
    if (this.proc && !this.proc.exited && !this.stopping) {
      this.switching = true;
      this.proc.kill('SIGTERM');
    }
  }

  get bursting(): boolean {
    return this.burstFps !== undefined;
  }

  private clearTimers(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.watchdog = null;
    this.retryTimer = null;
  }

  private async killProcess(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exited) return;
    const gone = new Promise<void>((resolve) => this.exitWaiters.push(resolve));
    proc.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.opts.killGraceMs ?? 2000);
    });
    const outcome = await Promise.race([gone, grace]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      proc.kill('SIGKILL');
      await gone;
    }
  }

  private setState(state: StreamState, reason?: string, retryInMs?: number): void {
    const previous = this._state;
    if (previous === state && state !== 'backoff') return;
    this._state = state;
    this.onState({
      state,
      previous,
      ...(reason !== undefined ? { reason: redactSecrets(reason) } : {}),
      ...(retryInMs !== undefined ? { retryInMs } : {}),
    });
  }
}
