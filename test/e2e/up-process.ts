import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { captureOutput, findProcesses, freePort, repoRoot, testDir } from '@vigil/testing';

// `vigil up` as a child process, for the e2e tests that run it as a user would.

export interface Up {
  child: ChildProcessWithoutNullStreams;
  dataDir: string;
  kafkaPort: number;
  rtspPort: number;
  output: { stdout: string; stderr: string };
  exited: Promise<number | null>;
}

export async function startUp(extra: Record<string, string> = {}): Promise<Up> {
  const dataDir = testDir('vigil-up');
  const kafkaPort = await freePort();
  const rtspPort = await freePort();
  const child = spawn(process.execPath, [join(repoRoot(), 'bin/vigil.js'), 'up'], {
    env: {
      ...process.env,
      VIGIL_KAFKA_BROKERS: '',
      VIGIL_DATA_DIR: dataDir,
      VIGIL_LOCAL_KAFKA_PORT: String(kafkaPort),
      VIGIL_DEMO_RTSP_PORT: String(rtspPort),
      // metrics ports picked free, so a `vigil up` still stopping cannot block the next one
      VIGIL_INGEST_HTTP_PORT: '0',
      VIGIL_ANALYZER_HTTP_PORT: '0',
      VIGIL_GATEWAY_PORT: '0',
      VIGIL_GATEWAY_HTTP_PORT: '0',
      ...extra,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  captureOutput(child, 'vigil-up');
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (output.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output.stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, dataDir, kafkaPort, rtspPort, output, exited };
}

/** Resolves with ms since `t0` once stdout (or stderr: the log) matches, or fails after timeoutMs / on early exit. */
export async function waitFor(
  up: Up,
  re: RegExp,
  t0: number,
  timeoutMs: number,
  from: 'stdout' | 'stderr' = 'stdout',
): Promise<number> {
  while (!re.test(up.output[from])) {
    if (up.child.exitCode !== null)
      assert.fail(`vigil up exited early (${up.child.exitCode})\n${up.output.stderr}`);
    if (Date.now() - t0 > timeoutMs)
      assert.fail(`no match for ${re} within ${timeoutMs} ms\n${up.output.stderr}`);
    await sleep(100);
  }
  return Date.now() - t0;
}

export const helpers = (up: Up) =>
  findProcesses(new RegExp(`${up.dataDir}|127\\.0\\.0\\.1:${up.rtspPort}|--port ${up.rtspPort}`));
