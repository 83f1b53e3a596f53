import { type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const tracked = new Set<ChildProcess>();
let hooked = false;

/**
 * Remembers a long-lived helper process (broker, RTSP server) so it is SIGKILLed if this process exits
 * without stopping it (a crashed test, an uncaught error): no java or python is ever left behind.
 */
export function trackChild(child: ChildProcess): void {
  tracked.add(child);
  child.once('exit', () => tracked.delete(child));
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const c of tracked) c.kill('SIGKILL');
    });
  }
}

export interface ProcessInfo {
  readonly pid: number;
  readonly cmdline: string;
}

/** Processes whose command line matches `pattern` (reads /proc; Linux). */
export function findProcesses(pattern: RegExp): ProcessInfo[] {
  const found: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const raw = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const cmdline = raw.split('\0').join(' ').trim();
      if (cmdline && pattern.test(cmdline)) found.push({ pid, cmdline });
    } catch {
      // the process exited while we looked
    }
  }
  return found;
}

export function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** SIGTERM, then SIGKILL when it has not exited after `graceMs`. */
export async function terminate(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  if (!(await waitForExit(child, graceMs))) {
    child.kill('SIGKILL');
    await waitForExit(child, 5000);
  }
}
