import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { TOPICS } from '@vigil/contracts';
import { KafkaSubscriber, createKafka } from '@vigil/kafka';
import { Logger } from '@vigil/observability';
import {
  cameraCredentials,
  captureOutput,
  findProcesses,
  freePort,
  generateClip,
  repoRoot,
  testDir,
  useTestKafka,
  writeCameraSecret,
} from '@vigil/testing';

let broker: Awaited<ReturnType<typeof useTestKafka>>;
before(async () => {
  broker = await useTestKafka();
});
after(async () => {
  await broker.stop();
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs bin/vigil.js with exactly the given environment (plus PATH); optionally stops it when `until` matches. */
function vigil(
  args: string[],
  env: Record<string, string>,
  until?: { stderr: RegExp; timeoutMs: number },
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot(), 'bin/vigil.js'), ...args], {
      env: { PATH: process.env.PATH ?? '', VIGIL_TEST_RUN: process.env.VIGIL_TEST_RUN ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    captureOutput(child, `vigil-${args[0] ?? 'help'}`);
    let stdout = '';
    let stderr = '';
    let stopping = false;
    const timer = until ? setTimeout(() => child.kill('SIGTERM'), until.timeoutMs) : undefined;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      // one SIGTERM only: a second one during shutdown forces an immediate exit (by design)
      if (until && !stopping && until.stderr.test(stderr)) {
        stopping = true;
        child.kill('SIGTERM');
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Every value of `key` on `topic` from the beginning, read until the topic is quiet for 2 s. */
async function readAll(topic: string, key: string): Promise<string[]> {
  const log = new Logger('cli-test', { level: 'error' });
  const conn = { brokers: broker.brokers, clientId: 'cli-test', connectTimeoutMs: 3000 };
  const values: string[] = [];
  let last = Date.now();
  const sub = new KafkaSubscriber(
    createKafka(conn, log),
    conn,
    { groupId: `cli-${randomUUID()}`, topics: [topic], fromBeginning: true },
    log,
  );
  await sub.start((batch) => {
    for (const m of batch) if (m.key === key && m.value) values.push(m.value.toString());
    last = Date.now();
    return Promise.resolve();
  });
  await sub.whenJoined();
  while (Date.now() - last < 2000) await new Promise((r) => setTimeout(r, 200));
  await sub.stop();
  return values;
}

const lines = (s: string) => s.trim().split('\n').filter(Boolean);

test('invalid configuration: exit 2 and one line naming every bad key and its fix', async () => {
  const r = await vigil(['analyzer'], {
    VIGIL_KAFKA_BROKERS: 'localhost',
    VIGIL_SUMMARY_INTERVAL_S: 'often',
  });
  assert.equal(r.code, 2);
  assert.equal(lines(r.stderr).length, 1, r.stderr);
  assert.match(
    r.stderr,
    /^vigil: invalid configuration: VIGIL_KAFKA_BROKERS\[0\]: each broker must be host:port .*; VIGIL_SUMMARY_INTERVAL_S: .*\(seconds between window summaries \(the window stride\), 1-3600\)\n$/,
  );
});

test('missing broker setting: exit 2, says it is required and how to set it', async () => {
  const r = await vigil(['ingest'], {});
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr,
    'vigil: invalid configuration: VIGIL_KAFKA_BROKERS: is required (comma-separated host:port, e.g. localhost:9092)\n',
  );
});

test('unreachable broker: exit 1 and one line naming the address and the fix, no stack trace', async () => {
  const port = await freePort();
  const r = await vigil(['analyzer'], {
    VIGIL_KAFKA_BROKERS: `127.0.0.1:${port}`,
    VIGIL_KAFKA_CONNECT_TIMEOUT_MS: '1000',
  });
  assert.equal(r.code, 1);
  // progress lines (INFO) may come first; the failure itself is one line, and nothing else is an error
  const problems = lines(r.stderr).filter((l) => !/^\S+ INFO /.test(l));
  assert.deepEqual(problems, [
    `vigil: cannot reach Kafka at 127.0.0.1:${port} (connection refused); start a broker there or set VIGIL_KAFKA_BROKERS to a reachable host:port`,
  ]);
});

test('a forbidden stream URL is refused at boot and never reaches ffmpeg', async () => {
  const r = await vigil(['ingest'], {
    VIGIL_KAFKA_BROKERS: broker.brokers.join(','),
    VIGIL_STREAMS: JSON.stringify([{ id: 'cam-x', url: 'file:///etc/passwd' }]),
  });
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /^vigil: invalid configuration: VIGIL_STREAMS\[0\.url\]: stream URL is a file URL, and file input is off; backtest a recording with `vigil replay/,
  );
  assert.deepEqual(findProcesses(/ffmpeg.*\/etc\/passwd/), []);
});

test('a stream URL that does not answer: ingest keeps running, says what is wrong, never shows the password', async () => {
  const port = await freePort();
  const secrets = testDir('secrets');
  writeCameraSecret(secrets, 'cam-dead');
  const { username, password } = cameraCredentials();
  const r = await vigil(
    ['ingest'],
    {
      VIGIL_KAFKA_BROKERS: broker.brokers.join(','),
      VIGIL_SECRETS_DIR: secrets,
      VIGIL_INGEST_HTTP_PORT: '0',
      VIGIL_STREAMS: JSON.stringify([
        { id: 'cam-dead', url: `rtsp://127.0.0.1:${port}/live`, credentials: { secret: 'cam-dead' } },
      ]),
      VIGIL_INGEST_BACKOFF_INITIAL_MS: '200',
    },
    { stderr: /retrying in/, timeoutMs: 20_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  const warn = lines(r.stderr).find((l) => l.includes('cannot be read'));
  assert.ok(warn, r.stderr);
  assert.match(
    warn,
    new RegExp(
      `stream cam-dead cannot be read: ffmpeg exited with code 1: connection refused: nothing listens at that address and port \\(ffmpeg: .*127\\.0\\.0\\.1:${port}.*Connection refused\\); retrying in \\d+\\.\\d s \\(check that the camera is reachable`,
    ),
  );
  assert.ok(!r.stderr.includes(password) && !r.stdout.includes(password));
  assert.match(r.stderr, /ingest stopped/);
  // nor in the status events it published
  const statuses = await readAll(TOPICS.streamStatus.name, 'cam-dead');
  assert.ok(statuses.length > 0, 'status events were published');
  assert.ok(
    statuses.every((v) => !v.includes(password) && !v.includes(username)),
    statuses.join('\n'),
  );
  assert.ok(statuses.some((v) => (JSON.parse(v) as { health: string }).health === 'offline'));
  assert.deepEqual(findProcesses(new RegExp(`ffmpeg.*127\\.0\\.0\\.1:${port}`)), []);
});

test('a vision model that cannot be used stops the analyzer at boot with one line: CUDA asked for, none here', async () => {
  const r = await vigil(['analyzer'], {
    VIGIL_KAFKA_BROKERS: broker.brokers.join(','),
    VIGIL_VISION_PROVIDER: 'cuda:0',
  });
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /^vigil: CUDA was asked for \(device 0\) but ONNX Runtime cannot use it here .*set VIGIL_VISION_PROVIDER=cpu\n$/,
  );
  const bad = await vigil(['analyzer'], {
    VIGIL_KAFKA_BROKERS: broker.brokers.join(','),
    VIGIL_VISION_MODEL: '/nonexistent/model.json',
  });
  assert.equal(bad.code, 2);
  assert.equal(
    bad.stderr,
    'vigil: model manifest /nonexistent/model.json does not exist; give the path of a model.json\n',
  );
});

test('a metrics port already taken: exit 2, one line naming the port, its variable and the fix', async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '0.0.0.0', resolve));
  const port = (taken.address() as AddressInfo).port;
  try {
    const r = await vigil(['analyzer'], {
      VIGIL_KAFKA_BROKERS: broker.brokers.join(','),
      VIGIL_ANALYZER_HTTP_PORT: String(port),
    });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      r.stderr
        .split('\n')
        .filter((l) => l.startsWith('vigil:'))
        .join('\n'),
      `vigil: port ${port} is already in use (another Vigil or another program listens there); set VIGIL_ANALYZER_HTTP_PORT to a free port, or to 0 to pick one`,
    );
  } finally {
    taken.close();
  }
});

test('usage errors: unknown command and unknown topic', async () => {
  const a = await vigil(['frobnicate'], {});
  assert.equal(a.code, 2);
  assert.equal(a.stderr, 'vigil: unknown command "frobnicate"; run vigil --help\n');
  const b = await vigil(['tail', 'alerts'], {});
  assert.equal(b.code, 2);
  assert.match(
    b.stderr,
    /^vigil: vigil tail needs one of anomalies, summaries, status, streams, frames \(got alerts\)\n$/,
  );
  const c = await vigil(['--help'], {});
  assert.equal(c.code, 0);
  assert.match(c.stdout, /vigil up/);
});

test('--help on every command says what it does and how to call it', async () => {
  for (const [cmd, says] of [
    ['up', /VIGIL_DATA_DIR/],
    ['replay', /--fps/],
    ['tail', /--from-beginning/],
    ['streams', /streams add --id <id> --url <url>/],
    ['ingest', /ingest role/],
    ['analyzer', /analyzer role/],
    ['gateway', /VIGIL_GATEWAY_API_KEYS_FILE/],
  ] as const) {
    const r = await vigil([cmd, '--help'], {});
    assert.equal(r.code, 0, cmd);
    assert.match(r.stdout, says, cmd);
  }
});

test('streams add by flags, ls with status, rm; a bad URL is refused with the field named', async () => {
  const env = { VIGIL_KAFKA_BROKERS: broker.brokers.join(','), VIGIL_LOG_LEVEL: 'error' };
  const id = `cli-ls-${randomUUID().slice(0, 6)}`;
  const add = await vigil(
    ['streams', 'add', '--id', id, '--url', 'rtsp://camera.local/s1', '--name', 'Dock'],
    env,
  );
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stdout, new RegExp(`put ${id} on vigil.streams.v1`));
  const ls = await vigil(['streams', 'ls'], env);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /^id +status +rate +url +name/m);
  assert.match(ls.stdout, new RegExp(`^${id} +no status yet +rtsp://camera.local/s1 +Dock$`, 'm'));
  const bad = await vigil(['streams', 'add', '--id', 'x', '--url', 'file:///etc/passwd'], env);
  assert.equal(bad.code, 2);
  assert.match(
    bad.stderr,
    /invalid stream spec in the flags: url: stream URL is a file URL, and file input is off/,
  );
  // a spec file (`-` reads the same from stdin): what the API refuses is refused here too, before the topic
  const specs = join(testDir('cli-specs'), 'cams.json');
  writeFileSync(
    specs,
    JSON.stringify([
      { id: 'hex', url: 'rtsp://0xa9fea9fe/s' },
      { id: 'decimal', url: 'srt://2852039166:80' },
      { id: 'files', url: 'file:///etc/passwd', replay: true },
      { id: 'token', url: 'rtsp://cam/s?access_token=abc' },
      { id: 'denied', url: 'rtsp://0x7f000002:8554/s' },
    ]),
  );
  const refused = await vigil(['streams', 'add', specs], {
    ...env,
    VIGIL_CAMERA_DENY_NETWORKS: '127.0.0.2/32',
  });
  assert.equal(refused.code, 2);
  for (const why of [
    /\[0\]\.url: stream URL points at 169\.254\.169\.254, a link-local/,
    /\[1\]\.url: stream URL points at 169\.254\.169\.254/,
    /\[2\]\.replay: replay no longer grants file input/,
    /\[3\]\.url: stream URL carries a credential in its query/,
    /\[4\]\.url: stream URL points at 127\.0\.0\.2, which the operator refuses/,
  ])
    assert.match(refused.stderr, why);
  assert.doesNotMatch(refused.stderr, /abc/);
  assert.doesNotMatch(refused.stdout, /put /);
  assert.equal((await vigil(['streams', 'rm', id], env)).code, 0);
  assert.doesNotMatch((await vigil(['streams', 'ls'], env)).stdout, new RegExp(id));
});

test('replay: a recorded clip through the pipeline, faster than real time, with its events in clip time', async () => {
  const clip = generateClip(join(testDir('replay'), 'yard-box.mp4'), {
    scenario: 'box',
    seconds: 30,
    width: 640,
    height: 360,
    changeAt: 15,
  });
  const env = {
    VIGIL_KAFKA_BROKERS: broker.brokers.join(','),
    VIGIL_LOG_LEVEL: 'error',
    VIGIL_ANALYZER_WARMUP_SAMPLES: '12',
  };
  const r = await vigil(['replay', clip, '--fps', '2'], env);
  assert.equal(r.code, 0, r.stderr);
  const head =
    /replayed .*: 30\.0 s of video in ([\d.]+) s \(([\d.]+)× real time\), (\d+) samples, (\d+) anomaly events/.exec(
      r.stdout,
    );
  assert.ok(head, r.stdout);
  assert.equal(Number(head[3]), 60, 'every sample at 2 fps');
  assert.ok(Number(head[2]) > 1, `faster than real time: ${head[2]}×`);
  // the box appears at 15 s and stays: one open object_appeared event starting within a second of it
  const row = /^00:1([45]) +open +object_appeared +critical/m.exec(r.stdout);
  assert.ok(row, r.stdout);
  assert.match(r.stdout, /last summary: .*object appeared/);
  assert.match(r.stderr, /\[#{30}\] 100% 00:30\/00:30/, 'the progress bar ends full');
  const bad = await vigil(['replay', join(testDir('replay'), 'missing.mp4')], env);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /cannot read .*missing\.mp4; give the path of a recorded clip/);
});
