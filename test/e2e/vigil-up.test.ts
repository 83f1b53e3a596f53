import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { helpers, startUp, waitFor } from './up-process.js';

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
      new RegExp(
        `Vigil is up: cameras demo-yard, demo-line, demo-courtyard; Kafka at 127\\.0\\.0\\.1:${up.kafkaPort}`,
      ),
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
