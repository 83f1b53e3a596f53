import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, repoRoot } from '@vigil/testing';
import { envOf, parseDockerfile, stage } from '../k8s/dockerfile.js';

/**
 * The allocator settings (`MALLOC_*`) every benchmarked or chaos-tested `vigil` process gets: the image's
 * (Dockerfile `ENV`), so the runs measure what ships, unless this run's own environment sets them (for
 * comparing). `npm start` sets the same.
 */
export const vigilEnv: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(envOf(stage(parseDockerfile(join(repoRoot(), 'Dockerfile')), 'runtime')))
    .filter(([k]) => k.startsWith('MALLOC_'))
    .map(([k, v]) => [k, process.env[k] ?? v]),
);

/**
 * The environment of a `vigil up` on a broker already running (the e2e benchmark's, the chaos suite's):
 * a data dir (`vigil-<name>-up-*`) and demo RTSP port of its own, and free ports for every HTTP server,
 * so a `vigil up` still stopping cannot block the next one; the image's allocator settings (`vigilEnv`).
 */
export async function upEnv(brokers: readonly string[], name: string): Promise<Record<string, string>> {
  return {
    ...vigilEnv,
    VIGIL_KAFKA_BROKERS: brokers.join(','),
    VIGIL_DATA_DIR: mkdtempSync(join(tmpdir(), `vigil-${name}-up-`)),
    VIGIL_DEMO_RTSP_PORT: String(await freePort()),
    VIGIL_GATEWAY_PORT: '0',
    VIGIL_GATEWAY_HTTP_PORT: '0',
    VIGIL_INGEST_HTTP_PORT: '0',
    VIGIL_ANALYZER_HTTP_PORT: '0',
  };
}

/**
 * Runs a benchmark worker (dist/tools/bench/<name>.js) in a process of its own with the image's allocator
 * settings, and returns the JSON of its last line of output: memory is measured per process, so each
 * variant of a memory table gets one.
 */
export function runBenchWorker<T>(name: string, args: readonly string[]): T {
  const r = spawnSync(process.execPath, [join(repoRoot(), 'dist/tools/bench', `${name}.js`), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...vigilEnv },
  });
  if (r.status !== 0) throw new Error(`bench worker ${name} ${args.join(' ')} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as T;
}
