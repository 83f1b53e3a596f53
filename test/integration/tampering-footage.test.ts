// A covered lens against a scene whose lights went out, on real footage: OpenCV's vtest.avi (a courtyard;
// Debian's opencv-doc, fetched by tools/setup.sh), one sample a second through the real vigil-patch-v1
// encoder and the scene model. A covered lens is `lens_covered` even when light leaks past the hand and
// part of the picture is not flat; a darkened scene, even a noisy one, is `too_dark`.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import sharp from 'sharp';
import {
  DEFAULT_SCENE_OPTIONS,
  PatchGrid,
  SceneAnomalyModel,
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
import { FOOTAGE, handOverLens, lightsOut, repoRoot, sensorNoise, videoJpegs } from '@vigil/testing';

const footage = join(repoRoot(), FOOTAGE);
const WARMUP = 50;
let frames: Buffer[] = [];
let pool: VisionSessionPool;
let model: VisionModel;
let pre: Preprocessor;
let grid: PatchGrid;

before(async () => {
  frames = videoJpegs(footage, 'fps=1');
  pool = new VisionSessionPool({ provider: { kind: 'cpu' }, intraOpThreads: 1 });
  model = await pool.get(shippedModel('vigil-patch-v1'));
  pre = new Preprocessor(model.manifest, 1);
  const m = model.manifest;
  grid = new PatchGrid(
    m.output.tokenGrid,
    letterboxContent(768, 576, m.input.width, m.input.height),
    m.input.width,
    m.input.height,
  );
});
after(async () => {
  await pool.close();
});

const noise = (sigma: number, seed: number) => sensorNoise(768, 576, sigma, seed);

/** A hand over the lens with light leaking past its edge: warm, dim, brighter at one side, no layout. */
const LEAK = Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" width="768" height="576"><defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="0.3"><stop offset="0" stop-color="#c89070"/><stop offset="0.45" stop-color="#2a1810"/><stop offset="1" stop-color="#0a0604"/></linearGradient></defs><rect width="768" height="576" fill="url(#g)"/></svg>',
);

const TAMPER: Record<string, (jpeg: Buffer, i: number) => Promise<Buffer>> = {
  'a hand over the lens': async (j, i) =>
    (await handOverLens(j, 768, 576, i)).jpeg({ quality: 85 }).toBuffer(),
  'a hand over the lens, light leaking past it': async (_, i) =>
    sharp(LEAK)
      .composite([{ input: await noise(60, i), blend: 'overlay' }])
      .jpeg({ quality: 80 })
      .toBuffer(),
  'the lights out': async (j, i) => (await lightsOut(j, 768, 576, i)).jpeg({ quality: 85 }).toBuffer(),
  'the lights out, a noisy sensor': async (j, i) =>
    sharp(j)
      .linear(0.1, 0)
      .composite([{ input: await noise(90, i), blend: 'overlay' }])
      .jpeg({ quality: 85 })
      .toBuffer(),
};

/** Warm-up on the footage, then 10 s of it tampered: the first of lens_covered / too_dark to start. */
async function named(tamper: (jpeg: Buffer, i: number) => Promise<Buffer>): Promise<SceneKind[]> {
  const scene = SceneAnomalyModel.fresh({ ...DEFAULT_SCENE_OPTIONS, warmupSamples: WARMUP });
  const kinds: SceneKind[] = [];
  for (let t = 0; t < WARMUP + 15; t++) {
    const jpeg = t >= WARMUP + 5 ? await tamper(frames[t]!, t) : frames[t]!;
    await pre.write(jpeg, 0);
    const tokens = (await model.encode(pre.pixels, 1)).slice();
    const thumb = await grayThumbnail(jpeg, 32, 18);
    const r = scene.observe(tokens, model.manifest.output.tokenDims, thumb.pixels, t * 1000, grid);
    for (const e of r.events)
      if (e.phase === 'start' && (e.kind === 'lens_covered' || e.kind === 'too_dark')) kinds.push(e.kind);
  }
  return kinds;
}

for (const [what, kind] of [
  ['a hand over the lens', 'lens_covered'],
  ['a hand over the lens, light leaking past it', 'lens_covered'],
  ['the lights out', 'too_dark'],
  ['the lights out, a noisy sensor', 'too_dark'],
] as const)
  test(`${what} is ${kind}`, async () => {
    assert.deepEqual(await named(TAMPER[what]!), [kind]);
  });
