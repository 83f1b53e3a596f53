import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TOPICS } from '@vigil/contracts';
import { createKafka } from '@vigil/kafka';
import { Logger } from '@vigil/observability';
import { captureOutput, generateClip, repoRoot, testDir, watchTopics } from '@vigil/testing';
import { startUp, waitFor } from './up-process.js';

// `vigil replay` beside a running `vigil up`, as a user would run them in two terminals: the replay runs
// (on a broker of its own, and on up's broker with --brokers), `vigil up` goes on, and neither sees the
// other's streams or events: no replay message on a live topic, no live camera in the replay's result.

const log = new Logger('replay-beside-up', { level: 'error' });

function vigil(args: string[], env: Record<string, string>) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [join(repoRoot(), 'bin/vigil.js'), ...args], {
      env: { PATH: process.env.PATH ?? '', VIGIL_TEST_RUN: process.env.VIGIL_TEST_RUN ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    captureOutput(child, `vigil-${args[0]}`);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('`vigil replay` beside `vigil up`: both work, neither sees the other’s streams or events', async () => {
  const up = await startUp();
  const live: { topic: string; key: string }[] = [];
  let stopWatch: (() => Promise<void>) | undefined;
  try {
    await waitFor(up, /Vigil is up/, Date.now(), 120_000, 'stderr');
    const brokers = [`127.0.0.1:${up.kafkaPort}`];
    const sub = await watchTopics(
      brokers,
      {
        groupId: 'replay-beside-up-watch',
        topics: [
          TOPICS.streams.name,
          TOPICS.frames.name,
          TOPICS.anomalies.name,
          TOPICS.summaries.name,
          TOPICS.scores.name,
          TOPICS.streamStatus.name,
        ],
      },
      (m) => live.push({ topic: m.topic, key: m.key ?? '' }),
      log,
    );
    stopWatch = () => sub.stop();
    const clip = generateClip(join(testDir('replay-beside-up'), 'yard-box.mp4'), {
      scenario: 'box',
      seconds: 20,
      width: 640,
      height: 360,
      changeAt: 10,
    });
    const env = { VIGIL_LOG_LEVEL: 'error', VIGIL_ANALYZER_WARMUP_SAMPLES: '12', VIGIL_DETECTOR: 'off' };

    // 1. as a user types it in a second terminal: `vigil up` has the default broker port, so the replay
    //    starts a broker of its own
    const own = await vigil(['replay', clip, '--fps', '2', '--json'], {
      ...env,
      VIGIL_LOCAL_KAFKA_PORT: String(up.kafkaPort),
    });
    assert.equal(own.code, 0, own.stderr);
    const ownResult = JSON.parse(own.stdout) as {
      streamId: string;
      events: { kind: string; streamId: string }[];
    };
    assert.ok(
      ownResult.events.some((e) => e.kind === 'object_appeared'),
      own.stdout,
    );
    assert.ok(
      ownResult.events.every((e) => e.streamId === ownResult.streamId),
      'only its own stream',
    );

    // 2. on up's broker (--brokers): topics of its own, a group of its own, deleted afterwards
    const shared = await vigil(['replay', clip, '--fps', '2', '--json', '--brokers', brokers[0]!], env);
    assert.equal(shared.code, 0, shared.stderr);
    const sharedResult = JSON.parse(shared.stdout) as typeof ownResult;
    assert.ok(
      sharedResult.events.some((e) => e.kind === 'object_appeared'),
      shared.stdout,
    );
    assert.ok(
      sharedResult.events.every((e) => e.streamId === sharedResult.streamId),
      'no live camera',
    );

    // `vigil up` went on: its cameras are still narrated after both replays
    const t = Date.now();
    const printed = up.output.stdout.length;
    while (!/\[demo-yard\]/.test(up.output.stdout.slice(printed))) {
      assert.ok(Date.now() - t < 60_000, `vigil up stopped narrating\n${up.output.stderr.slice(-2000)}`);
      await sleep(200);
    }
    await sleep(2000);
    const replayed = live.filter((m) => m.key.startsWith('replay-'));
    assert.deepEqual(replayed, [], 'no replay message on a live topic');
    assert.ok(live.some((m) => m.key === 'demo-yard' && m.topic === TOPICS.summaries.name));

    // the live dashboard's API knows no replay stream or event
    const key = /^write (\S+)$/m.exec(readFileSync(join(up.dataDir, 'gateway-keys'), 'utf8'))![1]!;
    const port = /Dashboard: http:\/\/localhost:(\d+)\//.exec(up.output.stderr)![1];
    const get = async (path: string) =>
      (await fetch(`http://127.0.0.1:${port}${path}`, { headers: { 'x-api-key': key } })).text();
    assert.doesNotMatch(await get('/api/streams'), /replay-/);
    assert.doesNotMatch(await get('/api/anomalies?limit=200'), /replay-/);
    assert.doesNotMatch(await get('/api/summaries?limit=200'), /replay-/);

    // and the replay's own topics are gone from up's broker
    const admin = createKafka({ brokers, clientId: 'replay-beside-up', connectTimeoutMs: 3000 }, log).admin();
    await admin.connect();
    const topics = await admin.listTopics();
    await admin.disconnect();
    assert.deepEqual(
      topics.filter((t) => t.startsWith('vigil.replay-')),
      [],
    );
  } finally {
    await stopWatch?.();
    up.child.kill('SIGINT');
    await up.exited;
  }
});
