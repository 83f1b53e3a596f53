import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type INestApplicationContext } from '@nestjs/common';
import {
  type AnomalyEvent,
  AnomalyEventSchema,
  CE_TYPES,
  StreamSpecSchema,
  type Summary,
  SummarySchema,
  TOPICS,
  deterministicId,
  toCloudEventHeaders,
} from '@vigil/contracts';
import { loadAnalyzerConfig } from '@vigil/config';
import { KafkaPublisher, type KafkaSubscriber, createKafka, frameMessage } from '@vigil/kafka';
import { Logger } from '@vigil/observability';
import { FakeChatServer, sceneJpeg, useTestKafka, waitFor, watchTopics } from '@vigil/testing';
import { startAnalyzer } from '../../apps/analyzer/src/main.js';

// Narration end to end on a shortened clock: 42 s of a camera's frames (stream time, published faster than
// real time) through the analyzer with a model server that reports findings. Sliding windows of 4 s every
// 2 s, "minutes" of 4 s and "hours" of 12 s; a lens covered from 16 s to 22 s; the model reports a blocked
// exit in the windows ending at 28, 30 and 32 s; a summary is asked for at the end.

const run = randomUUID().slice(0, 6);
const CAM = `narrate-${run}`;
const log = new Logger('narration', { level: 'error' });
// stream time starts on an "hour" boundary, a while ago
const T0 = Math.floor((Date.now() - 600_000) / 12_000) * 12_000;
const hms = (ms: number) => new Date(ms).toISOString().slice(11, 19);
const COVER = [16_000, 22_000] as const;
const EXIT_WINDOWS = new Set([28_000, 30_000, 32_000].map((t) => hms(T0 + t)));

let broker: Awaited<ReturnType<typeof useTestKafka>>;
let chat: FakeChatServer;
let analyzer: INestApplicationContext | undefined;
let sub: KafkaSubscriber;
let pub: KafkaPublisher;
const summaries: Summary[] = [];
const events: AnomalyEvent[] = [];

before(async () => {
  broker = await useTestKafka();
  // the model answers per window: it sees the lens covered when the detectors say so, and a blocked exit
  // in three windows
  chat = new FakeChatServer((text: string) => {
    const end = /Window \d\d:\d\d:\d\d–(\d\d:\d\d:\d\d) UTC/.exec(text)?.[1] ?? '';
    const findings = [];
    if (/lens_covered at/.test(text))
      findings.push({
        kind: 'Lens covered',
        description: 'Something dark fills the whole picture.',
        severity: 'critical',
        confidence: 0.95,
      });
    if (EXIT_WINDOWS.has(end))
      findings.push({
        kind: 'blocked_exit',
        description: 'A pallet stands in front of the emergency exit.',
        severity: 'warning',
        confidence: 0.9,
      });
    return { summary: `Window ending ${end}: the aisle as usual.`, findings };
  });
  await chat.start();
  analyzer = await startAnalyzer(
    loadAnalyzerConfig({
      VIGIL_KAFKA_BROKERS: broker.brokers.join(','),
      VIGIL_LOG_LEVEL: 'error',
      VIGIL_ANALYZER_HTTP_PORT: '0',
      VIGIL_ANALYZER_WARMUP_SAMPLES: '20',
      VIGIL_SUMMARY_INTERVAL_S: '2',
      VIGIL_WINDOW_S: '4',
      VIGIL_ROLLUP_MINUTE_S: '4',
      VIGIL_ROLLUP_HOUR_S: '12',
      VIGIL_DECODER: 'openai',
      VIGIL_DECODER_URL: chat.url,
      VIGIL_DECODER_MODEL: 'test-vlm',
      // every window reaches the model: nothing waiting is replaced
      VIGIL_DECODER_CONCURRENCY: '1',
    }),
    log,
  );
  sub = await watchTopics(
    broker.brokers,
    { groupId: `narration-${run}`, topics: [TOPICS.summaries.name, TOPICS.anomalies.name] },
    (m) => {
      if (m.key !== CAM || !m.value) return;
      const json: unknown = JSON.parse(m.value.toString());
      if (m.topic === TOPICS.summaries.name) summaries.push(SummarySchema.parse(json));
      else events.push(AnomalyEventSchema.parse(json));
    },
    log,
  );
  const conn = { brokers: broker.brokers, clientId: 'narration', connectTimeoutMs: 3000 };
  pub = new KafkaPublisher(createKafka(conn, log), conn);
  await pub.connect();
});

after(async () => {
  await analyzer?.close();
  await sub?.stop();
  await pub?.disconnect();
  await chat?.stop();
  await broker?.stop();
});

test('windows, minute and hour rollups with event links, an anomaly-start window, model findings, and a summary on request', async (t) => {
  const spec = StreamSpecSchema.parse({
    id: CAM,
    name: 'Aisle 4',
    url: 'rtsp://cam.example/aisle4',
    output: { width: 640, height: 360 },
  });
  const runId = randomUUID();
  const frames = [];
  for (let seq = 0; seq <= 84; seq++) {
    const at = T0 + seq * 500;
    const covered = at - T0 >= COVER[0] && at - T0 < COVER[1];
    frames.push(
      frameMessage(
        spec,
        { image: await sceneJpeg({ i: seq, covered, noise: 6 }), seq, runId, capturedAt: at },
        'fps',
      ),
    );
  }
  // five times real time: fast, yet each window is narrated before the next is cut
  for (const f of frames) {
    await pub.publish(TOPICS.frames.name, [f]);
    await sleep(100);
  }
  await waitFor(
    'the hour 24–36 s rolled up',
    () => summaries.some((s) => s.level === 'hour' && Date.parse(s.windowStart) === T0 + 24_000),
    90_000,
  );
  // every frame analyzed (the last one closes the cadence window ending at 42 s): on a loaded machine the
  // analyzer may still be behind the publisher when the hour above closes
  await waitFor(
    'the last frame analyzed',
    () => summaries.some((s) => s.level === 'window' && Date.parse(s.windowEnd) - T0 === 42_000),
    60_000,
  );
  // a summary on request: the analyzer holding the stream narrates its latest window now
  const requestedAt = new Date().toISOString();
  await pub.publish(TOPICS.control.name, [
    {
      key: CAM,
      value: JSON.stringify({ streamId: CAM, action: 'summarize', reason: 'operator asked', requestedAt }),
      headers: toCloudEventHeaders({
        id: deterministicId('control', CAM, requestedAt),
        source: 'urn:vigil:test',
        type: CE_TYPES.control,
        time: requestedAt,
        subject: CAM,
        contentType: 'application/json',
      }),
    },
  ]);
  await waitFor('the requested summary', () => summaries.some((s) => s.trigger === 'request'), 30_000);

  const of = (level: Summary['level'], trigger = 'cadence') =>
    summaries
      .filter((s) => s.level === level && s.trigger === trigger)
      .sort((a, b) => Date.parse(a.windowStart) - Date.parse(b.windowStart));
  const windows = of('window');
  const minutes = of('minute');
  const hours = of('hour');
  t.diagnostic(
    `${windows.length} windows, ${minutes.length} minutes, ${hours.length} hours, ${events.length} events`,
  );
  assert.equal(new Set(summaries.map((s) => s.summaryId)).size, summaries.length, 'no summary twice');

  // sliding windows: 4 s long, one every 2 s, consecutive ones overlapping by 2 s, all narrated by the model
  for (let i = 1; i < windows.length; i++) {
    assert.equal(Date.parse(windows[i]!.windowStart) - Date.parse(windows[i - 1]!.windowStart), 2_000);
    assert.equal(Date.parse(windows[i]!.windowEnd) - Date.parse(windows[i]!.windowStart), 4_000);
  }
  assert.ok(windows.length >= 20, `${windows.length} windows`);
  assert.ok(windows.every((w) => w.decoder.type === 'openai' && !w.decoder.fallback));

  // minutes (4 s) roll up two windows' strides; hours (12 s) roll up three minutes
  assert.deepEqual(
    minutes.map((m) => Date.parse(m.windowStart) - T0),
    Array.from({ length: 10 }, (_, i) => i * 4_000),
  );
  assert.ok(minutes.every((m) => m.stats.windows === 2));
  assert.deepEqual(
    hours.map((h) => [Date.parse(h.windowStart) - T0, Date.parse(h.windowEnd) - T0, h.stats.windows]),
    [
      [0, 12_000, 6],
      [12_000, 24_000, 6],
      [24_000, 36_000, 6],
    ],
  );
  for (const h of hours) {
    const inside = minutes.filter((m) => m.windowStart >= h.windowStart && m.windowEnd <= h.windowEnd);
    assert.equal(
      h.stats.frames,
      inside.reduce((a, m) => a + m.stats.frames, 0),
      'an hour sums its minutes',
    );
  }
  assert.equal(hours[0]!.stats.frames, 24, '2 fps for 12 s, each sample counted once');

  // the covered lens: an event, linked from the windows, the minute and the hour it happened in
  const covered = events.find((e) => e.kind === 'lens_covered' && e.phase === 'start');
  assert.ok(covered, `events: ${events.map((e) => `${e.kind}/${e.phase}`).join(', ')}`);
  const onset = Date.parse(covered.startedAt) - T0;
  assert.ok(onset >= COVER[0] && onset <= COVER[0] + 2_000, `onset at ${onset} ms`);
  const linking = (list: Summary[]) => list.filter((s) => s.eventIds.includes(covered.eventId));
  assert.ok(linking(windows).length >= 2, 'windows during the cover link the event');
  assert.equal(linking(hours).length, 1);
  assert.equal(Date.parse(linking(hours)[0]!.windowStart) - T0, 12_000);
  assert.ok(linking(minutes).length >= 1);
  assert.match(linking(hours)[0]!.text, /^narrate-\w+, hour .* lens covered at /);

  // the window narrated at once when it started, and the model confirming it
  const cut = of('window', 'anomaly');
  assert.ok(cut.length >= 1);
  assert.ok(cut.some((s) => s.eventIds.includes(covered.eventId)));
  const confirmed = events.filter((e) => e.eventId === covered.eventId && e.finding);
  assert.equal(confirmed.length, 1, 'confirmed once');
  assert.equal(confirmed[0]!.phase, 'update');
  assert.equal(confirmed[0]!.finding!.decoder, 'openai');
  assert.ok(summaries.some((s) => s.summaryId === confirmed[0]!.finding!.summaryId));

  // a finding no detector covers: model.flagged, open while windows report it, ended by the first that does not
  const flagged = events.filter((e) => e.kind === 'model.flagged');
  assert.deepEqual(
    flagged.map((e) => [e.phase, Date.parse(e.observedAt) - T0]),
    [
      ['start', 28_000],
      ['end', 34_000],
    ],
  );
  assert.equal(flagged[0]!.eventId, flagged[1]!.eventId);
  assert.equal(flagged[0]!.severity, 'warning');
  assert.match(flagged[0]!.description, /pallet/);
  assert.equal(flagged[0]!.finding?.kind, 'blocked_exit');
  const exitWindow = windows.find((w) => Date.parse(w.windowEnd) - T0 === 30_000)!;
  assert.ok(exitWindow.eventIds.includes(flagged[0]!.eventId), 'windows link the flagged event');
  assert.deepEqual(
    exitWindow.findings.map((f) => f.kind),
    ['blocked_exit'],
  );

  // the requested window ends at the latest frame
  const requested = of('window', 'request');
  assert.equal(requested.length, 1);
  assert.equal(Date.parse(requested[0]!.windowEnd) - T0, 42_000);
});
