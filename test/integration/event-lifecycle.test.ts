import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type AnomalyEvent, type FrameMeta } from '@vigil/contracts';
import { loadAnalyzerConfig } from '@vigil/config';
import { GroundedDecoder } from '@vigil/decoders';
import { Logger } from '@vigil/observability';
import { FrameAnalysisService } from '../../apps/analyzer/src/frame-analysis.service.js';
import { VisionEncoderService } from '../../apps/analyzer/src/vision-encoder.service.js';
import { ObjectDetectorService } from '../../apps/analyzer/src/object-detector.service.js';
import { AnalyzerMetrics } from '../../apps/analyzer/src/analyzer-metrics.js';
import { type SceneFrame, sceneJpeg } from '@vigil/testing';

// The analysis (real encoder, real scene model) on a stream whose frames arrive twice now and then, the
// way Kafka redelivers a batch after a consumer restarts: a 20 s anomaly is one event, start to end.

const WARMUP = 50;
const log = new Logger('lifecycle', { level: 'error' });
let encoder: VisionEncoderService;
let detector: ObjectDetectorService;
let analysis: FrameAnalysisService;

before(async () => {
  const config = loadAnalyzerConfig({
    VIGIL_KAFKA_BROKERS: 'unused:9092',
    VIGIL_ANALYZER_WARMUP_SAMPLES: String(WARMUP),
    VIGIL_SUMMARY_INTERVAL_S: '3600',
  });
  const metrics = new AnalyzerMetrics();
  encoder = new VisionEncoderService(config, log, metrics);
  await encoder.onModuleInit();
  detector = new ObjectDetectorService(config, log, metrics, encoder);
  await detector.onModuleInit();
  analysis = new FrameAnalysisService(config, new GroundedDecoder(), log, encoder, detector);
});
after(async () => {
  await encoder.onApplicationShutdown();
  await detector.onApplicationShutdown();
});

test('a 20 s anomaly yields exactly one start, some updates and one end, though frames are redelivered', async () => {
  const fps = 2;
  const t0 = Date.parse('2026-11-29T08:00:00.000Z');
  // warm-up, 10 s normal, 20 s with a crate in the aisle, 15 s normal again
  const frames: SceneFrame[] = [];
  const total = WARMUP + (10 + 20 + 15) * fps;
  const crateFrom = WARMUP + 10 * fps;
  const crateTo = crateFrom + 20 * fps;
  for (let i = 0; i < total; i++) frames.push({ i, crate: i >= crateFrom && i < crateTo });
  const meta = (seq: number): FrameMeta => ({
    streamId: 'cam-lifecycle',
    seq,
    runId: 'run-1',
    capturedAt: new Date(t0 + (seq * 1000) / fps).toISOString(),
    width: 640,
    height: 360,
    sampling: 'fps',
  });
  const events: AnomalyEvent[] = [];
  let duplicates = 0;
  let delivered = 0;
  const jpegs = await Promise.all(frames.map((f) => sceneJpeg(f)));
  // batches of 8; every third batch is delivered again (with its predecessor's tail) before moving on
  for (let start = 0; start < total; start += 8) {
    const seqs = Array.from({ length: Math.min(8, total - start) }, (_, k) => start + k);
    const again = (start / 8) % 3 === 2 ? [...seqs.slice(-3), ...seqs, ...seqs.slice(0, 4)] : [];
    for (const seq of [...seqs, ...again]) {
      const out = await analysis.analyze(meta(seq), jpegs[seq]!);
      delivered++;
      if (out.duplicate) duplicates++;
      events.push(...out.anomalies);
    }
  }
  assert.ok(duplicates > 20, `${duplicates} of ${delivered} deliveries were repeats`);
  const kinds = new Set(events.map((e) => e.kind));
  assert.deepEqual([...kinds], ['object_appeared'], JSON.stringify(events.map((e) => [e.kind, e.phase])));
  const phases = events.map((e) => e.phase);
  assert.equal(phases.filter((p) => p === 'start').length, 1, phases.join(','));
  assert.equal(phases.filter((p) => p === 'end').length, 1, phases.join(','));
  assert.ok(phases.filter((p) => p === 'update').length >= 1, phases.join(','));
  assert.equal(phases[0], 'start');
  assert.equal(phases.at(-1), 'end');
  assert.equal(new Set(events.map((e) => e.eventId)).size, 1, 'one eventId from start to end');
  const start = events[0]!;
  const end = events.at(-1)!;
  const onset = (Date.parse(start.startedAt) - (t0 + (crateFrom * 1000) / fps)) / 1000;
  const lasted = (Date.parse(end.endedAt!) - Date.parse(start.startedAt)) / 1000;
  assert.ok(onset >= 0 && onset <= 1, `started ${onset} s after the crate appeared`);
  assert.ok(lasted >= 19 && lasted <= 22, `lasted ${lasted} s`);
  assert.ok(start.evidence && start.region, 'the start carries evidence and a region');
  assert.match(start.description, /^Something new in view: \d+ % of the picture departs from its usual look/);
  assert.match(end.description, /^Something new in view ended after \d+\.\d s/);
});
