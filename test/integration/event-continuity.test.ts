// An analyzer SIGKILLed in the middle of two events (real processes, real broker): the camera whose frames
// keep coming is taken over by the surviving analyzer, which resumes its event (same eventId, an update
// saying so) and ends it when the lens is uncovered; the camera that went silent has its event closed by
// the survivor once nobody vouched for it for VIGIL_EVENT_STALE_S. No event stays open, none starts twice.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import {
  type AnomalyEvent,
  AnomalyEventSchema,
  type EventState,
  EventStateSchema,
  StreamSpecSchema,
  TOPICS,
} from '@vigil/contracts';
import { KafkaPublisher, type KafkaSubscriber, createKafka, ensureTopics, frameMessage } from '@vigil/kafka';
import { Logger } from '@vigil/observability';
import {
  captureOutput,
  repoRoot,
  sceneJpeg,
  testDir,
  trackChild,
  useTestKafka,
  waitFor,
  watchTopics,
} from '@vigil/testing';

const log = new Logger('test', { level: 'error' });
const RUN = randomUUID().slice(0, 6);
const KEEP = `cont-keep-${RUN}`;
const SILENT = `cont-silent-${RUN}`;
const GROUP = `vigil-analyzer-cont-${RUN}`;
// above the analyzers' session timeout (10 s), so the camera still sending is taken over before it is stale
const STALE_S = 45;
let broker: Awaited<ReturnType<typeof useTestKafka>>;
let pub: KafkaPublisher;
let watcher: KafkaSubscriber;
const events: AnomalyEvent[] = [];
const states: EventState[] = [];
const analyzers: { child: ChildProcess; log: string }[] = [];

before(async () => {
  broker = await useTestKafka();
  const conn = { brokers: broker.brokers, clientId: 'continuity', connectTimeoutMs: 3000 };
  const kafka = createKafka(conn, log);
  await ensureTopics(kafka, conn, [TOPICS.frames, TOPICS.anomalies, TOPICS.eventState]);
  pub = new KafkaPublisher(kafka, conn);
  await pub.connect();
  watcher = await watchTopics(
    broker.brokers,
    { groupId: `cont-watch-${RUN}`, topics: [TOPICS.anomalies.name, TOPICS.eventState.name] },
    (m) => {
      if (m.key !== KEEP && m.key !== SILENT) return;
      const v: unknown = JSON.parse(m.value!.toString());
      if (m.topic === TOPICS.anomalies.name) events.push(AnomalyEventSchema.parse(v));
      else states.push(EventStateSchema.parse(v));
    },
    log,
  );
});

after(async () => {
  for (const a of analyzers) if (a.child.exitCode === null) a.child.kill('SIGKILL');
  await watcher?.stop();
  await pub?.disconnect();
  await broker?.stop();
});

/** `vigil analyzer` as its own process, in one consumer group; resolves once it reads frames. */
async function startAnalyzer(name: string): Promise<{ child: ChildProcess; log: string }> {
  const child = spawn(process.execPath, [join(repoRoot(), 'bin/vigil.js'), 'analyzer'], {
    env: {
      ...process.env,
      VIGIL_KAFKA_BROKERS: broker.brokers.join(','),
      VIGIL_ANALYZER_GROUP_ID: GROUP,
      VIGIL_ANALYZER_HTTP_PORT: '0',
      VIGIL_ANALYZER_WARMUP_SAMPLES: '6',
      VIGIL_EVENT_UPDATE_S: '2',
      VIGIL_EVENT_STALE_S: String(STALE_S),
      VIGIL_OUTBOX_DIR: join(testDir(`cont-outbox-${name}`), 'outbox'),
      VIGIL_LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(child);
  captureOutput(child, `analyzer-${name}`);
  const a = { child, log: '' };
  child.stdout.on('data', (b: Buffer) => (a.log += b.toString()));
  child.stderr.on('data', (b: Buffer) => (a.log += b.toString()));
  analyzers.push(a);
  const port = await waitFor(
    `analyzer ${name} running`,
    () => {
      if (child.exitCode !== null) assert.fail(`analyzer ${name} exited:\n${a.log}`);
      return /analyzer running.*?metrics[=":]+http:\/\/0\.0\.0\.0:(\d+)/.exec(a.log)?.[1];
    },
    60_000,
  );
  await waitFor(
    `analyzer ${name} ready`,
    async () => (await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => null))?.status === 200,
    60_000,
  );
  return a;
}

const specs = new Map(
  [KEEP, SILENT].map((id) => [id, StreamSpecSchema.parse({ id, url: `rtsp://cam.example/${id}` })]),
);
const runId = randomUUID();
let seq = 0;
async function frames(ids: string[], covered: boolean): Promise<void> {
  const at = Date.now();
  seq++;
  await pub.publish(
    TOPICS.frames.name,
    await Promise.all(
      ids.map(async (id) =>
        frameMessage(
          specs.get(id)!,
          { image: await sceneJpeg({ i: seq, covered, noise: 4 }), seq, runId, capturedAt: at },
          'fps',
        ),
      ),
    ),
  );
}

/** Publishes a frame of each camera every 500 ms until `until` holds. */
async function feed(ids: string[], covered: boolean, what: string, until: () => boolean, ms: number) {
  await waitFor(
    what,
    async () => {
      await frames(ids, covered);
      await new Promise((r) => setTimeout(r, 500));
      return until();
    },
    ms,
  );
}

test('a killed analyzer’s events are resumed by the next owner, or closed when nobody vouches for them', async (t) => {
  const a = await startAnalyzer('a');
  const of = (id: string, phase?: string) =>
    events.filter((e) => e.streamId === id && e.kind === 'lens_covered' && (!phase || e.phase === phase));
  // learn both scenes, then cover both lenses: one event each
  await feed([KEEP, SILENT], false, 'warm-up', () => seq >= 10, 30_000);
  await feed(
    [KEEP, SILENT],
    true,
    'both events started',
    () => of(KEEP, 'start').length > 0 && of(SILENT, 'start').length > 0,
    30_000,
  );
  const keepId = of(KEEP, 'start')[0]!.eventId;
  const silentId = of(SILENT, 'start')[0]!.eventId;
  await waitFor(
    'their EventStates',
    () =>
      [KEEP, SILENT].every((id) =>
        states.some((s) => s.streamId === id && s.open.some((e) => e.kind === 'lens_covered')),
      ),
    15_000,
  );
  assert.ok(
    states.every((s) => s.owner.includes(`-${a.child.pid}-`)),
    'analyzer a holds both',
  );
  const killedAt = Date.now();
  a.child.kill('SIGKILL');
  // the next analyzer gets the cameras once the group has given up on the dead one (its session timeout)
  const b = await startAnalyzer('b');

  // KEEP's lens stays covered and its frames keep coming: its new owner resumes the event
  await feed(
    [KEEP],
    true,
    'the event resumed',
    () => of(KEEP, 'update').some((e) => /moved to another analyzer/.test(e.description)),
    90_000,
  );
  const resumedMs = Date.now() - killedAt;
  // SILENT sends nothing more: its event is closed once nobody vouched for it for VIGIL_EVENT_STALE_S
  await feed(
    [KEEP],
    true,
    'the silent camera’s event closed',
    () => of(SILENT, 'end').length > 0,
    (STALE_S + 40) * 1000,
  );
  const closedMs = Date.now() - killedAt;
  // KEEP's lens is uncovered: the resumed event ends where it is now held, with the same id
  await feed([KEEP], false, 'the resumed event ended', () => of(KEEP, 'end').length > 0, 30_000);
  t.diagnostic(
    `resumed ${resumedMs} ms after the kill; the silent camera's event closed after ${closedMs} ms`,
  );

  assert.equal(of(KEEP, 'start').length, 1, 'no second start for the camera taken over');
  assert.deepEqual(new Set(of(KEEP).map((e) => e.eventId)), new Set([keepId]));
  assert.equal(of(KEEP, 'end')[0]!.endReason, 'condition cleared');
  assert.equal(of(SILENT, 'start').length, 1);
  const silentEnd = of(SILENT, 'end')[0]!;
  assert.equal(silentEnd.eventId, silentId);
  assert.match(silentEnd.endReason!, /no analyzer has vouched for it since/);
  // the record of each camera ends with nothing open
  await waitFor(
    'nothing open',
    () => [KEEP, SILENT].every((id) => states.filter((s) => s.streamId === id).at(-1)!.open.length === 0),
    15_000,
  );
  assert.equal(b.child.exitCode, null, b.log.slice(-2000));
  assert.ok(
    states
      .filter((s) => s.streamId === KEEP)
      .at(-1)!
      .owner.includes(`-${b.child.pid}-`),
    'b holds the camera it took over',
  );
  b.child.kill('SIGTERM');
});
