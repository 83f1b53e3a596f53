// The frames handler with fakes for the analysis and Kafka (no I/O): what a fetched batch turns into.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type AnomalyEvent, type FrameMeta, StreamSpecSchema, TOPICS } from '@vigil/contracts';
import { type IncomingMessage, type OutgoingMessage, frameMessage } from '@vigil/kafka';
import { Logger } from '@vigil/observability';
import { FrameDroppedError, ImageDecodeError } from '@vigil/vision';
import { AnalyzerMetrics } from './analyzer-metrics.js';
import { AnalyzerPublisher, type MessageSink } from './analyzer-publisher.js';
import { type AnalysisOutput } from './analysis.types.js';
import { FramesHandler, type FrameAnalyzer } from './frames-handler.js';
import { RecentDrops } from './recent-drops.js';
import { ControlHandler } from './control-handler.js';

const quiet = new Logger('spec', { level: 'error', sink: { write: () => undefined } });

class Sink implements MessageSink {
  readonly sent: { topic: string; message: OutgoingMessage }[] = [];
  fail = false;
  publish(topic: string, messages: readonly OutgoingMessage[]): Promise<void> {
    if (this.fail) return Promise.reject(new Error('broker gone'));
    for (const message of messages) this.sent.push({ topic, message });
    return Promise.resolve();
  }
  on(topic: string): Record<string, unknown>[] {
    return this.sent
      .filter((s) => s.topic === topic)
      .map((s) => JSON.parse(String(s.message.value)) as Record<string, unknown>);
  }
}

const spec = StreamSpecSchema.parse({ id: 'cam-1', url: 'rtsp://cam.example/1' });
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xd9]);

function incoming(seq: number, ageMs: number, over: Partial<IncomingMessage> = {}): IncomingMessage {
  const out = frameMessage(spec, { image: JPEG, seq, runId: 'r1', capturedAt: Date.now() - ageMs }, 'fps');
  return {
    topic: TOPICS.frames.name,
    partition: 0,
    offset: String(seq),
    key: out.key,
    value: out.value as Buffer,
    headers: out.headers,
    timestamp: String(Date.now() - ageMs),
    ...over,
  };
}

const event = (phase: 'start' | 'end') =>
  ({
    eventId: 'e1',
    streamId: 'cam-1',
    kind: 'lens_covered',
    severity: 'critical',
    phase,
    description: 'lens covered',
    observedAt: new Date().toISOString(),
  }) as unknown as AnomalyEvent;

function setup(analyze: (meta: FrameMeta) => Promise<AnalysisOutput>, maxFrameAgeMs = 5000) {
  const durable = new Sink();
  const direct = new Sink();
  const dead: { reason: string }[] = [];
  const metrics = new AnalyzerMetrics();
  const drops = new RecentDrops();
  const analysis: FrameAnalyzer = {
    analyze: (meta) => analyze(meta),
    eventStateOf: (streamId) => ({ streamId, owner: 'me', heartbeatAt: new Date().toISOString(), open: [] }),
    noteEvents: () => undefined,
  };
  const handler = new FramesHandler(
    analysis,
    new AnalyzerPublisher(durable, direct, metrics, quiet),
    { send: (_m, reason) => (dead.push({ reason }), Promise.resolve()) },
    metrics,
    drops,
    maxFrameAgeMs,
  );
  return { handler, durable, direct, dead, drops, metrics };
}

const plain = (meta: FrameMeta): AnalysisOutput => ({
  anomalies: [],
  bursts: [],
  baselines: [],
  score: { streamId: meta.streamId, capturedAt: meta.capturedAt } as AnalysisOutput['score'],
});

test('each frame analyzed in order; its score published (perishable), an event start with its state and a burst', async () => {
  const seen: number[] = [];
  const t = setup((meta) => {
    seen.push(meta.seq);
    return Promise.resolve(meta.seq === 2 ? { ...plain(meta), anomalies: [event('start')] } : plain(meta));
  });
  await t.handler.handle([incoming(1, 10), incoming(2, 10)]);
  assert.deepEqual(seen, [1, 2]);
  assert.equal(t.direct.on(TOPICS.scores.name).length, 2);
  assert.deepEqual(
    t.direct.on(TOPICS.control.name).map((c) => [c.action, c.reason]),
    [['burst', 'lens_covered started']],
  );
  assert.equal(t.durable.on(TOPICS.anomalies.name).length, 1);
  // the stream's event state follows its anomaly message, on the durable path
  assert.deepEqual(
    t.durable.sent.map((s) => s.topic),
    [TOPICS.anomalies.name, TOPICS.eventState.name],
  );
});

test('a backlog is shed: stale frames and superseded ones are counted as drops, the newest analyzed', async () => {
  const seen: number[] = [];
  const t = setup((meta) => (seen.push(meta.seq), Promise.resolve(plain(meta))), 5000);
  await t.handler.handle([incoming(1, 9000), incoming(2, 2000), incoming(3, 2000)]);
  assert.deepEqual(seen, [3]);
  assert.equal(t.drops.last().dropped, 2);
  const byReason: Record<string, number> = {};
  for (const v of (await t.metrics.dropped.get()).values) byReason[String(v.labels.reason)] = v.value;
  assert.deepEqual(byReason, { stale: 1, superseded: 1 });
});

test('bad messages go to the dead-letter topic with the reason; a full queue is a drop; nothing else is lost', async () => {
  const t = setup((meta) => {
    if (meta.seq === 2) return Promise.reject(new ImageDecodeError('truncated'));
    if (meta.seq === 3) return Promise.reject(new FrameDroppedError(meta.streamId));
    return Promise.resolve(plain(meta));
  });
  const noHeaders = incoming(1, 10, { headers: {} });
  await t.handler.handle([noHeaders, incoming(2, 10), incoming(3, 10), incoming(4, 10)]);
  assert.equal(t.dead.length, 2);
  assert.match(t.dead[0]!.reason, /missing CloudEvents headers/);
  assert.match(t.dead[1]!.reason, /corrupt frame: frame is not a decodable JPEG \(truncated\)/);
  assert.equal(t.drops.last().dropped, 1);
  assert.equal(t.direct.on(TOPICS.scores.name).length, 1);
});

test('a broker that refuses perishable messages costs the scores, not the batch', async () => {
  const t = setup((meta) => Promise.resolve(plain(meta)));
  t.direct.fail = true;
  await t.handler.handle([incoming(1, 10)]);
  const lost = (await t.metrics.perishableDropped.get()).values.filter((v) => v.value > 0);
  assert.deepEqual(
    lost.map((v) => [v.labels.topic, v.value]),
    [[TOPICS.scores.name, 1]],
  );
});

test('an unexpected analysis error fails the batch, so it is not committed and comes again', async () => {
  const t = setup(() => Promise.reject(new Error('bug')));
  await assert.rejects(t.handler.handle([incoming(1, 10)]), /bug/);
});

test('the control handler narrates on a summarize request, ignores bursts, sets garbage aside', async () => {
  const asked: string[] = [];
  const dead: string[] = [];
  const h = new ControlHandler(
    (id) => (asked.push(id), true),
    { send: (_m, reason) => (dead.push(reason), Promise.resolve()) },
    quiet,
  );
  const msg = (value: unknown): IncomingMessage => ({
    topic: TOPICS.control.name,
    partition: 0,
    offset: '0',
    key: 'cam-1',
    value: Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)),
    headers: {},
    timestamp: '0',
  });
  const at = new Date().toISOString();
  await h.handle([
    msg({ streamId: 'cam-1', action: 'summarize', reason: 'operator', requestedAt: at }),
    msg({ streamId: 'cam-2', action: 'burst', reason: 'rising', requestedAt: at }),
    msg('not json'),
  ]);
  assert.deepEqual(asked, ['cam-1']);
  assert.equal(dead.length, 1);
  assert.match(dead[0]!, /^control message: /);
});
