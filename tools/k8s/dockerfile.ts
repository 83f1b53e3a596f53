// Reads the Dockerfile's stages, for the test that assembles the runtime image's /app from the same
// instructions and runs every role from it as the image's user (no Docker engine can run where CI does).
import { readFileSync } from 'node:fs';

export interface Instruction {
  readonly op: string;
  readonly args: string;
}

export interface Stage {
  readonly name: string;
  readonly from: string;
  readonly instructions: Instruction[];
}

/** The stages of a Dockerfile, continuation lines joined and comments dropped. */
export function parseDockerfile(path: string): Stage[] {
  const lines = readFileSync(path, 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of lines) {
    const [op = '', ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (op.toUpperCase() === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!m) throw new Error(`Dockerfile: cannot read "${line}"`);
      stages.push({ from: m[1]!, name: m[2] ?? String(stages.length), instructions: [] });
    } else if (stages.length) stages.at(-1)!.instructions.push({ op: op.toUpperCase(), args });
  }
  return stages;
}

export function stage(stages: readonly Stage[], name: string): Stage {
  const s = stages.find((x) => x.name === name);
  if (!s) throw new Error(`Dockerfile has no stage "${name}"`);
  return s;
}

/** `COPY --from=<stage> <src> <dst>` lines of a stage, as [src, dst] pairs. */
export function copiesFrom(s: Stage, from: string): [string, string][] {
  return s.instructions
    .filter((i) => i.op === 'COPY' && i.args.startsWith(`--from=${from} `))
    .map((i) => {
      const [src, dst] = i.args.slice(`--from=${from} `.length).split(/\s+/);
      return [src!, dst!];
    });
}

/** The runtime user as "uid:gid" numbers. */
export function userOf(s: Stage): { uid: number; gid: number } {
  const u = s.instructions.filter((i) => i.op === 'USER').at(-1)?.args;
  const m = u ? /^(\d+)(?::(\d+))?$/.exec(u) : null;
  if (!m) throw new Error(`stage ${s.name}: USER must be a numeric uid[:gid], not ${u ?? 'missing'}`);
  return { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) };
}

/** ENV of a stage (the `ENV A=1 B=2` form). */
export function envOf(s: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of s.instructions.filter((x) => x.op === 'ENV'))
    for (const pair of i.args.split(/\s+/)) {
      const eq = pair.indexOf('=');
      if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  return env;
}

/** ENTRYPOINT and CMD in their JSON (exec) form. */
export function execForm(s: Stage, op: 'ENTRYPOINT' | 'CMD'): string[] {
  const i = s.instructions.filter((x) => x.op === op).at(-1);
  if (!i) throw new Error(`stage ${s.name} has no ${op}`);
  return JSON.parse(i.args) as string[];
}
