import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_SCENE_OPTIONS,
  PatchGrid,
  SceneAnomalyModel,
  type SceneEvent,
  type SceneKind,
  letterboxContent,
} from '@vigil/anomaly';
import {
  Preprocessor,
  type VisionModel,
  VisionSessionPool,
  grayThumbnail,
  shippedModel,
} from '@vigil/vision';
import { H, type SceneFrame, W, sceneJpeg } from '@vigil/testing';

// Each detector on frames built to trigger it, and the same scene built not to: real JPEGs through the
// real vigil-patch-v1 encoder, one sample per second.

let pool: VisionSessionPool;
let model: VisionModel;
let pre: Preprocessor;
let grid: PatchGrid;

before(async () => {
  pool = new VisionSessionPool({ provider: { kind: 'cpu' }, intraOpThreads: 1 });
  model = await pool.get(shippedModel('vigil-patch-v1'));
  pre = new Preprocessor(model.manifest, 1);
  const m = model.manifest;
  grid = new PatchGrid(
    m.output.tokenGrid,
    letterboxContent(W, H, m.input.width, m.input.height),
    m.input.width,
    m.input.height,
  );
});
after(async () => {
  await pool.close();
});

// long enough to see the walker cross the whole aisle (a warm-up must cover the scene's normal activity)
const WARMUP = 50;
const OPTIONS = { ...DEFAULT_SCENE_OPTIONS, warmupSamples: WARMUP };

async function run(frames: (SceneFrame | Buffer)[], scene = SceneAnomalyModel.fresh(OPTIONS)) {
  const events: SceneEvent[] = [];
  let maxScores: Partial<Record<SceneKind, number>> = {};
  for (const [t, f] of frames.entries()) {
    const jpeg = Buffer.isBuffer(f) ? f : await sceneJpeg(f);
    await pre.write(jpeg, 0);
    const tokens = (await model.encode(pre.pixels, 1)).slice();
    const thumb = await grayThumbnail(jpeg, 32, 18);
    const r = scene.observe(tokens, model.manifest.output.tokenDims, thumb.pixels, t * 1000, grid);
    events.push(...r.events);
    if (!r.learning)
      maxScores = Object.fromEntries(
        Object.entries(r.scores).map(([k, v]) => [k, Math.max(v, maxScores[k as SceneKind] ?? 0)]),
      );
  }
  return { events, maxScores, scene };
}

const normal = (from: number, n: number, extra: Partial<SceneFrame> = {}): SceneFrame[] =>
  Array.from({ length: n }, (_, k) => ({ i: from + k, ...extra }));

const started = (events: SceneEvent[]) => events.filter((e) => e.phase === 'start').map((e) => e.kind);

test('a normal busy scene (walker, conveyor belt, sensor noise) and a slow light drift raise nothing', async () => {
  const drift = Array.from({ length: 60 }, (_, k) => ({ i: WARMUP + k, gain: 1 - 0.004 * k }));
  const { events, maxScores } = await run([...normal(0, WARMUP), ...normal(WARMUP, 30), ...drift]);
  assert.deepEqual(started(events), [], `scores: ${JSON.stringify(maxScores)}`);
});

const cases: [SceneKind, (i: number) => SceneFrame | 'repeat'][] = [
  ['lens_covered', (i) => ({ i, covered: true })],
  ['too_dark', (i) => ({ i, gain: 0.15 })],
  ['overexposed', (i) => ({ i, gain: 3.5 })],
  ['blur', (i) => ({ i, blur: 6 })],
  ['camera_moved', (i) => ({ i, shiftX: 160 })],
  ['object_appeared', (i) => ({ i, crate: true })],
  ['activity_stopped', (i) => ({ i, machineStopped: true, stoppedAt: WARMUP + 10 })],
  ['frozen', () => 'repeat'],
];

for (const [kind, make] of cases) {
  test(`${kind}: starts within seconds, is the only kind to start, and ends when the scene recovers`, async () => {
    const frozen = await sceneJpeg({ i: WARMUP + 10 });
    const anomaly = Array.from({ length: 12 }, (_, k) => {
      const f = make(WARMUP + 10 + k);
      return f === 'repeat' ? frozen : f;
    });
    const { events, maxScores } = await run([
      ...normal(0, WARMUP),
      ...normal(WARMUP, 10),
      ...anomaly,
      ...normal(WARMUP + 22, 8),
    ]);
    const starts = events.filter((e) => e.phase === 'start');
    assert.deepEqual(
      starts.map((e) => e.kind),
      [kind],
      `scores: ${JSON.stringify(maxScores)}`,
    );
    const start = starts[0]!;
    // the anomaly began at sample WARMUP + 10, i.e. t = (WARMUP + 10) s
    const onset = (start.startedAt - (WARMUP + 10) * 1000) / 1000;
    assert.ok(onset >= 0 && onset <= 4, `onset ${onset} s after the anomaly began`);
    const ends = events.filter((e) => e.phase === 'end');
    assert.equal(ends.length, 1, `one end: ${JSON.stringify(events.map((e) => [e.kind, e.phase]))}`);
    if (kind === 'object_appeared') {
      const r = start.region!;
      // the crate lies at x 250–360, y 230–320 of 640×360
      assert.ok(
        r.x <= 250 / W && r.x + r.w >= 360 / W && r.y <= 230 / H + 0.05,
        `region ${JSON.stringify(r)}`,
      );
    }
  });
}
