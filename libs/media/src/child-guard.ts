import { existsSync } from 'node:fs';

const SETPRIV = '/usr/bin/setpriv';
const hasSetpriv = process.platform === 'linux' && existsSync(SETPRIV);

/**
 * Wraps a command so that Linux sends it `signal` when the Vigil process dies, however it dies (SIGKILL,
 * OOM, a closed terminal). Helpers run in their own process group (so a terminal's Ctrl-C reaches only
 * Vigil, which stops them in order); this is what keeps them from outliving Vigil. util-linux's setpriv
 * sets PR_SET_PDEATHSIG and then execs the command, so the pid and command line stay the command's own.
 */
export function diesWithParent(
  command: string,
  args: readonly string[],
  signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM',
): { command: string; args: string[] } {
  if (!hasSetpriv) return { command, args: [...args] };
  return { command: SETPRIV, args: ['--pdeathsig', signal, '--', command, ...args] };
}
