import { spawn, type ChildProcess } from 'node:child_process';
import { diesWithParent } from './child-guard.js';

/** A running child process as the supervisor sees it; the seam where tests could substitute a fake. */
export interface MediaProcess {
  readonly pid: number | undefined;
  onStdout(cb: (chunk: Buffer) => void): void;
  onStderrLine(cb: (line: string) => void): void;
  onExit(cb: (code: number | null, signal: NodeJS.Signals | null) => void): void;
  kill(signal: NodeJS.Signals): void;
  readonly exited: boolean;
}

export type MediaSpawner = (command: string, args: readonly string[]) => MediaProcess;

class ChildMediaProcess implements MediaProcess {
  exited = false;
  private exitCbs: ((code: number | null, signal: NodeJS.Signals | null) => void)[] = [];
  private lineCbs: ((line: string) => void)[] = [];
  private partial = '';

  constructor(private readonly child: ChildProcess) {
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      const lines = (this.partial + text).split(/\r?\n/);
      this.partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) for (const cb of this.lineCbs) cb(line);
    });
    // 'close' (not 'exit') fires after stdio is drained, so no frame arrives after onExit.
    child.on('close', (code, signal) => {
      if (this.partial.trim()) for (const cb of this.lineCbs) cb(this.partial);
      this.partial = '';
      this.exited = true;
      for (const cb of this.exitCbs) cb(code, signal);
    });
    child.on('error', (err) => {
      // spawn failure (ffmpeg missing): surface as a stderr line; 'close' still follows
      for (const cb of this.lineCbs) cb(`cannot start ${child.spawnfile}: ${err.message}`);
    });
  }

  get pid() {
    return this.child.pid;
  }
  onStdout(cb: (chunk: Buffer) => void) {
    this.child.stdout?.on('data', cb);
  }
  onStderrLine(cb: (line: string) => void) {
    this.lineCbs.push(cb);
  }
  onExit(cb: (code: number | null, signal: NodeJS.Signals | null) => void) {
    this.exitCbs.push(cb);
  }
  kill(signal: NodeJS.Signals) {
    if (!this.exited) this.child.kill(signal);
  }
}

// detached: a terminal's Ctrl-C reaches only Vigil, which then stops ffmpeg in order (no restart race).
export const spawnMediaProcess: MediaSpawner = (command, args) => {
  const guarded = diesWithParent(command, args, 'SIGKILL');
  return new ChildMediaProcess(
    spawn(guarded.command, guarded.args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true }),
  );
};
