import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type FrameMeta } from '@vigil/contracts';
import { loadAnalyzerConfig } from '@vigil/config';
import { FrameCursor, newStreamState, sceneOptionsFrom } from './stream-state.js';
import { SceneAnomalyModel } from '@vigil/anomaly';

const meta = (runId: string, seq: number): FrameMeta => ({
  streamId: 'cam-1',
  seq,
  runId,
  capturedAt: '2026-03-01T10:00:00.000Z',
  width: 640,
  height: 360,
  sampling: 'fps',
});

test('a redelivered frame of the same ingest run is a repeat; a new run starts over', () => {
  const c = new FrameCursor(0);
  assert.equal(c.isRepeat(meta('a', 0)), false);
  c.advance(meta('a', 0), new Float32Array(4));
  c.advance(meta('a', 5), new Float32Array(4));
  assert.equal(c.isRepeat(meta('a', 5)), true);
  assert.equal(c.isRepeat(meta('a', 3)), true);
  assert.equal(c.isRepeat(meta('a', 6)), false);
  assert.equal(c.isRepeat(meta('b', 0)), false, 'ffmpeg restarted: sequence numbers begin again');
});

test('the previous tokens compare only within one run and one token shape', () => {
  const c = new FrameCursor(0);
  const t1 = new Float32Array([1, 2, 3, 4]);
  const t2 = new Float32Array([1, 2, 3, 5]);
  assert.equal(c.advance(meta('a', 0), t1), null, 'nothing before the first frame');
  assert.equal(c.advance(meta('a', 1), t2), t1);
  assert.equal(c.advance(meta('b', 0), t1), null, 'a new run does not compare with the old one');
  assert.equal(c.advance(meta('b', 1), new Float32Array(8)), null, 'another frame size, another token count');
});

test('a new stream state: a fresh model saves at the end of its warm-up, the analyzer settings reach the model', () => {
  const config = loadAnalyzerConfig({
    VIGIL_KAFKA_BROKERS: 'localhost:9092',
    VIGIL_ANALYZER_WARMUP_SAMPLES: '7',
    VIGIL_EVENT_COOLDOWN_S: '3',
  });
  const o = sceneOptionsFrom(config);
  assert.equal(o.warmupSamples, 7);
  assert.equal(o.tracker.cooldownMs, 3000);
  const st = newStreamState('cam-1', SceneAnomalyModel.fresh(o), config, 1000);
  assert.equal(st.events.streamId, 'cam-1');
  assert.equal(st.frames.lastSeenWall, 1000);
  assert.deepEqual(st.baseline.step(2000, true), { learned: false, save: false });
  assert.deepEqual(st.baseline.step(3000, false), { learned: true, save: true });
});
