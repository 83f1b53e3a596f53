import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { StreamSpecSchema } from '@vigil/contracts';
import { type MediaProcess, type MediaSpawner } from './ffmpeg-process.js';
import { type StateChange, StreamSupervisor, type SupervisorOptions } from './stream-supervisor.js';

/** An in-memory process: the test decides what it prints, when it exits, and whether it obeys SIGTERM. */
class FakeProcess implements MediaProcess {
  static nextPid = 1000;
  readonly pid = FakeProcess.nextPid++;
  exited = false;
  signals: NodeJS.Signals[] = [];
  private out: ((b: Buffer) => void)[] = [];
  private err: ((l: string) => void)[] = [];
  private exit: ((c: number | null, s: NodeJS.Signals | null) => void)[] = [];
  constructor(
    readonly args: readonly string[],
    private readonly ignoreTerm = false,
  ) {}
  onStdout(cb: (b: Buffer) => void) {
    this.out.push(cb);
  }
  onStderrLine(cb: (l: string) => void) {
    this.err.push(cb);
  }
  onExit(cb: (c: number | null, s: NodeJS.Signals | null) => void) {
    this.exit.push(cb);
  }
  kill(signal: NodeJS.Signals) {
    this.signals.push(signal);
    if (signal === 'SIGTERM' && this.ignoreTerm) return;
    this.die(null, signal);
  }
  emitJpeg() {
    for (const cb of this.out) cb(Buffer.from([0xff, 0xd8, 1, 2, 3, 0xff, 0xd9]));
  }
  stderr(line: string) {
    for (const cb of this.err) cb(line);
  }
  die(code: number | null, signal: NodeJS.Signals | null = null) {
    if (this.exited) return;
    this.exited = true;
    setImmediate(() => this.exit.forEach((cb) => cb(code, signal)));
  }
}

function harness(opts: Partial<SupervisorOptions> = {}, ignoreTerm = false) {
  const procs: FakeProcess[] = [];
  const spawner: MediaSpawner = (_cmd, args) => {
    const p = new FakeProcess(args, ignoreTerm);
    procs.push(p);
    return p;
  };
  const states: StateChange[] = [];
  const frames: number[] = [];
  const spec = StreamSpecSchema.parse({
    id: 'cam-1',
    url: 'rtsp://cam.local/s',
    credentials: { secret: 'cam-1' },
  });
  const sup = new StreamSupervisor(
    spec,
    {
      ffmpegPath: 'ffmpeg',
      stallTimeoutMs: 200,
      ioTimeoutMs: 1000,
      backoffInitialMs: 20,
      backoffMaxMs: 80,
      killGraceMs: 50,
      random: () => 1,
      spawner,
      credentials: () => ({ username: 'admin', password: 's3cret' }),
      ...opts,
    },
    (f) => frames.push(f.seq),
    (s) => states.push(s),
  );
  return { sup, procs, states, frames };
}

test('starting → running on the first frame; frames are numbered from 0 per run', async () => {
  const h = harness();
  h.sup.start();
  assert.equal(h.sup.state, 'starting');
  h.procs[0]!.emitJpeg();
  h.procs[0]!.emitJpeg();
  assert.equal(h.sup.state, 'running');
  assert.deepEqual(h.frames, [0, 1]);
  await h.sup.stop();
  assert.deepEqual(
    h.states.map((s) => s.state),
    ['starting', 'running', 'stopped'],
  );
});

test("credentials from the secret reach ffmpeg's arguments only, resolved at every start", async () => {
  let version = 0;
  const h = harness({ credentials: () => ({ username: 'admin', password: `s3cret${++version}` }) });
  h.sup.start();
  assert.ok(h.procs[0]!.args.includes('rtsp://admin:s3cret1@cam.local/s'));
  h.procs[0]!.die(1);
  await sleep(40);
  assert.ok(
    h.procs[1]!.args.includes('rtsp://admin:s3cret2@cam.local/s'),
    'a rotated secret is used on restart',
  );
  await h.sup.stop();
});

test('a missing secret is a failed start: backoff with the reason, no process spawned', async () => {
  const h = harness({
    credentials: () => {
      throw new Error('credentials secret "cam-1" cannot be read');
    },
  });
  h.sup.start();
  assert.equal(h.procs.length, 0);
  assert.equal(h.sup.state, 'backoff');
  assert.match(h.states.at(-1)!.reason!, /secret "cam-1"/);
  await h.sup.stop();
});

test('stream pts from showinfo lines are attached to their samples and kept out of the stderr tail', async () => {
  const h = harness();
  const frames: { seq: number; pts: number | undefined }[] = [];
  const sup = new StreamSupervisor(
    StreamSpecSchema.parse({ id: 'cam-2', url: 'rtsp://cam.local/s' }),
    {
      ffmpegPath: 'ffmpeg',
      stallTimeoutMs: 1000,
      ioTimeoutMs: 1000,
      backoffInitialMs: 10,
      backoffMaxMs: 10,
      spawner: (_c, a) => (h.procs.push(new FakeProcess(a)), h.procs.at(-1)!),
    },
    (f) => frames.push({ seq: f.seq, pts: f.ptsSeconds }),
    () => undefined,
  );
  sup.start();
  const p = h.procs[0]!;
  p.stderr('[Parsed_showinfo_3 @ 0x55d0c8a0] n:   0 pts:      0 pts_time:12.5    duration:1 fmt:yuvj420p');
  p.emitJpeg();
  p.emitJpeg(); // no pts reported for frame 1
  p.stderr('[Parsed_showinfo_3 @ 0x55d0c8a0] n:   2 pts:   1000 pts_time:13.5    duration:1');
  p.emitJpeg();
  assert.deepEqual(frames, [
    { seq: 0, pts: 12.5 },
    { seq: 1, pts: undefined },
    { seq: 2, pts: 13.5 },
  ]);
  assert.deepEqual(sup.stderr(), []);
  await sup.stop();
});

test('ffmpeg exiting leads to backoff then a restart, with the last stderr line, redacted, as the reason', async () => {
  const h = harness();
  h.sup.start();
  h.procs[0]!.stderr('rtsp://admin:s3cret@cam.local/s: Connection refused');
  h.procs[0]!.die(1);
  await sleep(5);
  const backoff = h.states.find((s) => s.state === 'backoff')!;
  assert.match(
    backoff.reason!,
    /ffmpeg exited with code 1: connection refused: nothing listens at that address and port \(ffmpeg: rtsp:\/\/\*\*\*@cam\.local\/s: Connection refused\)/,
  );
  assert.ok(!JSON.stringify(h.states).includes('s3cret'));
  assert.equal(backoff.retryInMs, 20);
  await sleep(40);
  assert.equal(h.procs.length, 2, 'restarted');
  assert.equal(h.sup.stats().restarts, 1);
  await h.sup.stop();
});

test('backoff doubles on each failed start, is capped, and resets after a frame', async () => {
  const h = harness();
  h.sup.start();
  const delays: number[] = [];
  for (let i = 0; i < 4; i++) {
    h.procs.at(-1)!.die(1);
    await sleep(5);
    delays.push(h.states.at(-1)!.retryInMs!);
    await sleep(delays.at(-1)! + 15);
  }
  assert.deepEqual(delays, [20, 40, 80, 80]);
  h.procs.at(-1)!.emitJpeg();
  h.procs.at(-1)!.die(1);
  await sleep(5);
  assert.equal(h.states.at(-1)!.retryInMs, 20);
  await h.sup.stop();
});

test('the watchdog stops a process that stops sending frames (SIGTERM, then SIGKILL), then restarts it', async () => {
  const h = harness({ stallTimeoutMs: 60 });
  h.sup.start();
  h.procs[0]!.emitJpeg();
  await sleep(100);
  assert.ok(
    h.states.some((s) => s.state === 'stalled' && /stopped sending frames for 60 ms/.test(s.reason ?? '')),
  );
  assert.deepEqual(h.procs[0]!.signals, ['SIGTERM']);
  await sleep(40);
  assert.equal(h.procs.length, 2);
  await h.sup.stop();
});

test('a process that never sends a frame and ignores SIGTERM is killed, and the reason says what ffmpeg said', async () => {
  const h = harness({ stallTimeoutMs: 60 }, true);
  h.sup.start();
  h.procs[0]!.stderr('rtsp://cam.local/s: Invalid data found when processing input');
  await sleep(140);
  assert.deepEqual(h.procs[0]!.signals, ['SIGTERM', 'SIGKILL']);
  assert.match(
    h.sup.stats().lastError!,
    /^no frame within 60 ms of starting: the source sent data that is not a valid video stream/,
  );
  await h.sup.stop();
});

test('stop sends SIGTERM, then SIGKILL to a process that ignores it, and never restarts', async () => {
  const h = harness({}, true);
  h.sup.start();
  h.procs[0]!.emitJpeg();
  await h.sup.stop();
  assert.deepEqual(h.procs[0]!.signals, ['SIGTERM', 'SIGKILL']);
  assert.equal(h.sup.state, 'stopped');
  await sleep(60);
  assert.equal(h.procs.length, 1);
});

test('an unsafe URL fails at construction, before any process exists', () => {
  const spec = { ...StreamSpecSchema.parse({ id: 'cam-1', url: 'rtsp://cam/s' }), url: 'file:///etc/shadow' };
  let spawned = 0;
  assert.throws(
    () =>
      new StreamSupervisor(
        spec,
        {
          ffmpegPath: 'ffmpeg',
          stallTimeoutMs: 1,
          ioTimeoutMs: 1,
          backoffInitialMs: 1,
          backoffMaxMs: 1,
          spawner: () => (spawned++, new FakeProcess([])),
        },
        () => undefined,
        () => undefined,
      ),
    /file input is off/,
  );
  assert.equal(spawned, 0);
});
