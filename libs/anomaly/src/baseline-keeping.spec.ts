import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BaselineCadence, baselineRecord, restoreScene } from './baseline-keeping.js';
import { PatchGridCache } from './geometry.js';
import { PATCH_V1_FEATURES } from './health.js';
import { DEFAULT_SCENE_OPTIONS, SceneAnomalyModel } from './scene-scorer.js';

const GRID = [6, 8] as const;
const D = PATCH_V1_FEATURES.length;
const ENCODER = { name: 'vigil-patch-v1', tokenGrid: GRID, tokenDims: D };
const OPTIONS = { ...DEFAULT_SCENE_OPTIONS, warmupSamples: 12 };

/** A textured still scene with a little sensor noise: the same picture, sample after sample. */
function sample(i: number): { tokens: Float32Array; thumb: Uint8Array } {
  let seed = 1 + i * 7919;
  const noise = () => ((seed = (seed * 48271) % 2147483647) / 2147483647 - 0.5) * 0.01;
  const tokens = new Float32Array(GRID[0] * GRID[1] * D);
  for (let p = 0; p < GRID[0] * GRID[1]; p++)
    for (let d = 0; d < D; d++) tokens[p * D + d] = 0.3 + 0.4 * Math.abs(Math.sin(p * 1.7 + d)) + noise();
  const thumb = new Uint8Array(32 * 18).map((_, k) => 60 + ((k * 37) % 120) + Math.round(noise() * 100));
  return { tokens, thumb };
}

function learned(): SceneAnomalyModel {
  const grid = new PatchGridCache(GRID, 256, 192).get(256, 192);
  const scene = SceneAnomalyModel.fresh(OPTIONS);
  for (let i = 0; scene.learning && i < 200; i++) {
    const s = sample(i);
    scene.observe(s.tokens, D, s.thumb, i * 1000, grid);
  }
  assert.equal(scene.learning, false, 'the still scene is learned');
  return scene;
}

test('no record while learning; a learned normal round-trips through its record', () => {
  assert.equal(baselineRecord('cam-1', SceneAnomalyModel.fresh(OPTIONS), ENCODER, 0), null);
  const scene = learned();
  const rec = baselineRecord('cam-1', scene, ENCODER, Date.parse('2026-03-01T10:00:00Z'));
  assert.ok(rec);
  assert.equal(rec.savedAt, '2026-03-01T10:00:00.000Z');
  assert.equal(rec.samples, scene.samplesLearned);
  assert.deepEqual(rec.tokenGrid, [6, 8]);
  const back = restoreScene(rec, ENCODER, OPTIONS);
  assert.equal(back.restored, true);
  assert.equal(back.rejected, undefined);
  assert.equal(back.scene.learning, false, 'a restored normal scores at once');
  assert.deepEqual(back.scene.snapshot(), scene.snapshot());
});

test('a saved normal of another encoder or a broken one is not used: a fresh model learns, and says why', () => {
  const rec = baselineRecord('cam-1', learned(), ENCODER, 0)!;
  assert.deepEqual(restoreScene(undefined, ENCODER, OPTIONS).restored, false);
  assert.equal(restoreScene(undefined, ENCODER, OPTIONS).rejected, undefined);
  const other = restoreScene({ ...rec, model: 'clip-vit' }, ENCODER, OPTIONS);
  assert.equal(other.restored, false);
  assert.match(other.rejected!, /another encoder \(clip-vit\)/);
  assert.equal(other.scene.learning, true);
  assert.equal(restoreScene({ ...rec, tokenGrid: [8, 6] }, ENCODER, OPTIONS).restored, false);
  assert.equal(restoreScene({ ...rec, tokenDims: D + 1 }, ENCODER, OPTIONS).restored, false);
  // a snapshot of a later format (a rolled-back analyzer reading a newer one's record)
  const snapshot = { ...rec.snapshot, v: 2 } as unknown as typeof rec.snapshot;
  const broken = restoreScene({ ...rec, snapshot }, ENCODER, OPTIONS);
  assert.equal(broken.restored, false);
  assert.match(broken.rejected!, /version 2/);
});

test('the cadence saves when the warm-up ends, then every period of stream time', () => {
  const c = new BaselineCadence(60_000, true, 0);
  assert.deepEqual(c.step(1000, true), { learned: false, save: false });
  assert.deepEqual(c.step(2000, false), { learned: true, save: true });
  c.saved(2000);
  assert.deepEqual(c.step(61_999, false), { learned: false, save: false });
  assert.deepEqual(c.step(62_000, false), { learned: false, save: true });
  // no record could be made (not marked saved): it tries again at the next sample
  assert.deepEqual(c.step(63_000, false), { learned: false, save: true });
  c.saved(63_000);
  assert.deepEqual(c.step(64_000, false), { learned: false, save: false });
});

test('a restored normal counts as saved when restored: the next save comes a period later', () => {
  const c = new BaselineCadence(60_000, false, 100_000);
  assert.deepEqual(c.step(120_000, false), { learned: false, save: false });
  assert.deepEqual(c.step(160_000, false), { learned: false, save: true });
});
