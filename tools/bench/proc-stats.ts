import { readFileSync, readdirSync } from 'node:fs';

const TICKS = 100; // USER_HZ on Linux (getconf CLK_TCK)

function statFields(pid: number | 'self'): string[] {
  const raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // fields after "(comm)"; comm may contain spaces
  return raw.slice(raw.lastIndexOf(')') + 2).split(' ');
}

/** CPU seconds of the children this process has waited for (and theirs): cutime + cstime. */
export function childrenCpuSeconds(): number {
  const f = statFields('self');
  return (Number(f[13]) + Number(f[14])) / TICKS;
}

/** CPU seconds a live process has used itself: utime + stime. */
export function cpuSeconds(pid: number): number {
  try {
    const f = statFields(pid);
    return (Number(f[11]) + Number(f[12])) / TICKS;
  } catch {
    return 0;
  }
}

export function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Proportional set size: shared pages (the libav* libraries every ffmpeg maps) split among their users. */
export function pssMb(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

export function childPids(ppid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (Number(statFields(Number(e))[1]) === ppid) out.push(Number(e));
    } catch {
      // exited
    }
  }
  return out;
}
