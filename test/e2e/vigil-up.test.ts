import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { findProcesses, freePort, repoRoot, testDir } from '@vigil/testing';

interface Up {
  child: ChildProcessWithoutNullStreams;
  dataDir: string;
  kafkaPort: number;
  rtspPort: number;
  output: { stdout: string; stderr: string };
  exited: Promise<number | null>;
}

async function startUp(extra: Record<string, string> = {}): Promise<Up> {
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
      ...extra,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (output.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output.stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, dataDir, kafkaPort, rtspPort, output, exited };
}

/** Resolves with ms since `t0` once stdout matches, or fails after timeoutMs / on early exit. */
async function waitFor(up: Up, re: RegExp, t0: number, timeoutMs: number): Promise<number> {
  while (!re.test(up.output.stdout)) {
    if (up.child.exitCode !== null)
      assert.fail(`vigil up exited early (${up.child.exitCode})\n${up.output.stderr}`);
    if (Date.now() - t0 > timeoutMs)
      assert.fail(`no match for ${re} within ${timeoutMs} ms\n${up.output.stderr}`);
    await sleep(100);
  }
  return Date.now() - t0;
}

const helpers = (up: Up) =>
  findProcesses(new RegExp(`${up.dataDir}|127\\.0\\.0\\.1:${up.rtspPort}|--port ${up.rtspPort}`));

// a grounded summary line: "[demo-yard] Demo yard (…) (demo-yard), 10:00:00–10:00:10 UTC: 20 frames sampled …"
const SUMMARY = /\[demo-(yard|line)\] .*\(demo-(yard|line)\), .* frames? sampled/;

test('`vigil up` prints a summary within 30 s of being up, rolls them up by minute and hour, and Ctrl-C stops everything it started', async () => {
  // a shortened clock: windows every 2 s, "minutes" of 4 s and "hours" of 8 s
  const up = await startUp({
    VIGIL_SUMMARY_INTERVAL_S: '2',
    VIGIL_WINDOW_S: '4',
    VIGIL_ROLLUP_MINUTE_S: '4',
    VIGIL_ROLLUP_HOUR_S: '8',
  });
  try {
    const t0 = Date.now();
    while (!/Vigil is up/.test(up.output.stderr)) {
      if (up.child.exitCode !== null) assert.fail(up.output.stderr);
      if (Date.now() - t0 > 90_000) assert.fail(`not up within 90 s\n${up.output.stderr}`);
      await sleep(100);
    }
    assert.match(
      up.output.stderr,
      new RegExp(`Vigil is up: cameras demo-yard, demo-line; Kafka at 127\\.0\\.0\\.1:${up.kafkaPort}`),
    );
    const ms = await waitFor(up, SUMMARY, Date.now(), 30_000);
    assert.ok(ms <= 30_000);
    // the demo stream's windows roll up into minutes, and those into an hour, on Kafka
    await waitFor(
      up,
      /\[demo-yard\] .*\(demo-yard\), minute \d\d:\d\d:\d\d–.*.* narrated windows?/,
      Date.now(),
      30_000,
    );
    await waitFor(
      up,
      /\[demo-yard\] .*\(demo-yard\), hour \d\d:\d\d:\d\d–.*.* narrated windows?/,
      Date.now(),
      30_000,
    );
  } finally {
    up.child.kill('SIGINT');
  }
  assert.equal(await up.exited, 0, up.output.stderr);
  assert.match(up.output.stderr, /local Kafka broker stopped/);
  assert.deepEqual(helpers(up), []);
});

test('even when `vigil up` is killed outright, its Kafka, RTSP server and ffmpeg processes die with it', async () => {
  const up = await startUp();
  await waitFor(up, SUMMARY, Date.now(), 60_000);
  assert.ok(helpers(up).length >= 4, `expected java, python and two ffmpeg: ${JSON.stringify(helpers(up))}`);
  up.child.kill('SIGKILL');
  await up.exited;
  const deadline = Date.now() + 30_000;
  while (helpers(up).length > 0 && Date.now() < deadline) await sleep(250);
  assert.deepEqual(helpers(up), []);
});
