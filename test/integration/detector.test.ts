// The trained object detector on real footage: OpenCV's vtest.avi (people crossing a courtyard, a van
// parked by the building; Debian's opencv-doc, fetched by tools/setup.sh --test), frames cut by real ffmpeg.
// The converted ONNX model is checked against the original TensorFlow.js model, and its detections against
// boxes labelled by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ModelLoadError, ObjectDetector, iou } from '@vigil/vision';
import { repoRoot, testDir } from '@vigil/testing';
import { NANODET, nanodetSource } from '../../tools/scripts/convert-detectors.js';
import { loadTfjsGraph } from '../../tools/scripts/tfjs-to-onnx.js';

const footage = join(repoRoot(), '.cache/footage/vtest.avi');
const manifest = join(repoRoot(), NANODET.dir, 'model.json');
const W = 768;
const H = 576;

function frameAt(seconds: number): Buffer {
  assert.ok(existsSync(footage), `${footage} is missing: run bash tools/setup.sh --test (it fetches it)`);
  const r = spawnSync(
    'ffmpeg',
    [
      '-v',
      'error',
      '-ss',
      String(seconds),
      '-i',
      footage,
      '-frames:v',
      '1',
      '-f',
      'image2pipe',
      '-c:v',
      'mjpeg',
      '-q:v',
      '2',
      '-',
    ],
    { maxBuffer: 16 << 20 },
  );
  assert.equal(r.status, 0, `ffmpeg: ${r.stderr.toString()}`);
  return r.stdout;
}

/** Labelled by hand on the 768x576 frames (x, y, width, height in pixels). */
const LABELLED: Record<number, { what: 'person' | 'vehicle'; box: [number, number, number, number] }[]> = {
  5: [
    { what: 'person', box: [668, 262, 44, 106] },
    { what: 'person', box: [505, 220, 36, 86] },
    { what: 'person', box: [553, 218, 35, 84] },
    { what: 'vehicle', box: [653, 44, 69, 52] },
  ],
  20: [
    { what: 'person', box: [616, 265, 35, 103] },
    { what: 'person', box: [705, 253, 38, 100] },
    { what: 'person', box: [83, 154, 27, 60] },
    { what: 'person', box: [220, 192, 29, 74] },
    { what: 'person', box: [488, 145, 29, 77] },
    { what: 'person', box: [677, 98, 21, 55] },
    { what: 'person', box: [700, 101, 21, 54] },
    { what: 'vehicle', box: [652, 44, 71, 54] },
  ],
};
const VEHICLES = new Set(['car', 'truck', 'bus', 'motorcycle', 'bicycle']);

test('the converted ONNX detector gives the original TensorFlow.js model’s outputs within 1e-4 on real frames', async () => {
  const det = await ObjectDetector.load(manifest, { provider: { kind: 'cpu' }, intraOpThreads: 2 });
  const original = await loadTfjsGraph(nanodetSource());
  try {
    for (const t of [5, 20]) {
      const px = new Float32Array(new SharedArrayBuffer(3 * 416 * 416 * 4));
      await det.pixels(frameAt(t), px, 0);
      const ours = await det.run(px, 1);
      const x = tf.tensor(px, [1, 3, 416, 416]);
      const names = Object.keys(NANODET.outputs).map((n) => n.replace(/:0$/, ''));
      const theirs = original.execute(x, names) as tf.Tensor[];
      Object.values(NANODET.outputs).forEach((name, i) => {
        const a = theirs[i]!.dataSync();
        const b = ours[name]!.data as Float32Array;
        assert.deepEqual(ours[name]!.dims, theirs[i]!.shape, `${name} shape`);
        let max = 0;
        for (let k = 0; k < a.length; k++) max = Math.max(max, Math.abs(a[k]! - b[k]!));
        assert.ok(max < 1e-4, `frame at ${t} s, ${name}: max difference ${max}`);
      });
      tf.dispose([x, ...theirs]);
    }
  } finally {
    original.dispose();
    await det.release();
  }
});

test('people and the parked van are found where they were labelled by hand (IoU ≥ 0.5), nothing labelled is missed', async () => {
  const det = await ObjectDetector.load(manifest, { provider: { kind: 'cpu' }, intraOpThreads: 2 });
  try {
    const times = Object.keys(LABELLED).map(Number);
    const found = await det.detect(times.map(frameAt), { minScore: 0.3 });
    times.forEach((t, i) => {
      const dets = found[i]!;
      for (const l of LABELLED[t]!) {
        const box = [l.box[0] / W, l.box[1] / H, l.box[2] / W, l.box[3] / H];
        const best = dets
          .filter((d) => (l.what === 'person' ? d.label === 'person' : VEHICLES.has(d.label)))
          .map((d) => ({ d, iou: iou(d.box, box) }))
          .sort((a, b) => b.iou - a.iou)[0];
        assert.ok(
          best && best.iou >= 0.5,
          `frame at ${t} s: the ${l.what} at ${l.box.join(',')} px: best ${best ? `${best.d.label} IoU ${best.iou.toFixed(2)}` : 'none'}`,
        );
      }
      const people = dets.filter((d) => d.label === 'person' && d.score >= 0.5).length;
      assert.ok(
        people <= LABELLED[t]!.filter((l) => l.what === 'person').length + 1,
        `frame at ${t} s: ${people} confident people`,
      );
    });
  } finally {
    await det.release();
  }
});

test('a detector file that does not match its manifest fails with one readable error', async () => {
  const dir = testDir('detector');
  copyFileSync(manifest, join(dir, 'model.json'));
  writeFileSync(
    join(dir, 'model.onnx'),
    readFileSync(join(repoRoot(), NANODET.dir, 'model.onnx')).subarray(0, 1000),
  );
  await assert.rejects(
    ObjectDetector.load(join(dir, 'model.json'), { provider: { kind: 'cpu' }, intraOpThreads: 1 }),
    (e: unknown) => {
      assert.ok(e instanceof ModelLoadError);
      assert.match(e.message, /has sha256 [0-9a-f]{64} but its manifest says [0-9a-f]{64}.*npm run models/);
      assert.equal(e.message.split('\n').length, 1, 'one line');
      return true;
    },
  );
  const m = JSON.parse(readFileSync(manifest, 'utf8')) as Record<string, unknown>;
  writeFileSync(
    join(dir, 'bad.json'),
    JSON.stringify({ ...m, head: { kind: 'gfl', regMax: 0, levels: [] } }),
  );
  await assert.rejects(
    ObjectDetector.load(join(dir, 'bad.json'), { provider: { kind: 'cpu' }, intraOpThreads: 1 }),
    /bad\.json is invalid: head\.regMax: .*head\.levels: /,
  );
});
