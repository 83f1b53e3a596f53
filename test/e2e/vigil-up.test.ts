import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { findProcesses, freePort, repoRoot, testDir } from '@vigil/testing';

test('`vigil up` starts Kafka, demo cameras and the pipeline, prints summaries, and Ctrl-C leaves nothing behind', async () => {
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
      VIGIL_SUMMARY_INTERVAL_S: '5',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const t0 = Date.now();
  const firstSummary = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no summary within 90 s\n${stderr}`)), 90_000);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (/\[demo-(yard|line)\] demo-(yard|line), .* frames? sampled/.test(stdout)) {
        clearTimeout(timer);
        resolve(Date.now() - t0);
      }
    });
    child.once('exit', (code) => reject(new Error(`vigil up exited early with ${code}\n${stderr}`)));
  });
  let exitCode: number | null = null;
  const exited = new Promise<void>((resolve) =>
    child.once('close', (code) => ((exitCode = code), resolve())),
  );
  try {
    const ms = await firstSummary;
    assert.ok(ms < 90_000);
    assert.match(
      stderr,
      new RegExp(`Vigil is up: cameras demo-yard, demo-line; Kafka at 127\\.0\\.0\\.1:${kafkaPort}`),
    );
  } finally {
    child.kill('SIGINT');
    await exited;
  }
  assert.equal(exitCode, 0, stderr);
  assert.match(stderr, /local Kafka broker stopped/);
  assert.deepEqual(
    findProcesses(new RegExp(`${dataDir}|127\\.0\\.0\\.1:${rtspPort}|--port ${rtspPort}`)),
    [],
  );
});
