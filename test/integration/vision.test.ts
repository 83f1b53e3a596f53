import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import sharp from 'sharp';
import {
  ModelLoadError,
  Preprocessor,
  VisionModel,
  VisionSessionPool,
  createEncodePath,
  readManifest,
} from '@vigil/vision';
import { repoRoot, testDir } from '@vigil/testing';
import { PATCH_V1_FEATURES } from '@vigil/anomaly';
import { SHIPPED, TINY_VIT, seededNormal, tinyVitWeights } from '../../tools/scripts/generate-models.js';
import { writeTinyMoe } from '../../tools/scripts/tiny-moe.js';

const manifestPath = join(repoRoot(), 'models/vigil-patch-v1/model.json');
const cpu = { provider: { kind: 'cpu' as const }, intraOpThreads: 1 };
let pool: VisionSessionPool;
let model: VisionModel;

before(async () => {
  pool = new VisionSessionPool(cpu);
  model = await pool.get(manifestPath);
});
after(async () => {
  await pool.close();
});

// the feature order of vigil-patch-v1, as the anomaly detectors read it
const FEATURES: readonly string[] = PATCH_V1_FEATURES;
const feature = (tokens: Float32Array, frame: number, token: number, name: string) =>
  tokens[(frame * 196 + token) * 16 + FEATURES.indexOf(name)]!;

async function encodeImages(images: Buffer[]): Promise<Float32Array> {
  const pre = new Preprocessor(model.manifest, images.length);
  for (const [i, img] of images.entries()) await pre.write(img, i);
  return model.encode(pre.pixels, images.length);
}

test('the shipped models are generated deterministically and match their manifest checksums', () => {
  for (const [name, m] of Object.entries(SHIPPED)) {
    const bytes = m.build();
    assert.deepEqual(
      bytes,
      readFileSync(join(repoRoot(), `models/${name}/model.onnx`)),
      `${name}: run npm run models`,
    );
    assert.equal(
      createHash('sha256').update(bytes).digest('hex'),
      readManifest(join(repoRoot(), `models/${name}/model.json`)).sha256,
    );
  }
});

test('the shipped tiny-moe-test decoder is what its script generates, file for file', () => {
  const dir = testDir('tiny-moe-gen');
  const m = writeTinyMoe(dir);
  const shipped = join(repoRoot(), 'models', 'tiny-moe-test');
  for (const f of ['model.json', 'decoder.onnx', 'embed.onnx', 'projector.onnx', 'tokenizer.json'])
    assert.deepEqual(readFileSync(join(dir, f)), readFileSync(join(shipped, f)), `${f}: run npm run models`);
  assert.equal(m.architecture.experts, 4);
});

/** tiny-vit-test computed in plain JS from the same seeded weights: an independent check of the graph. */
function tinyVitReference(px: Float32Array): Float32Array {
  const { dim, heads, mlp } = TINY_VIT;
  const w = tinyVitWeights();
  const T = 196;
  const hd = dim / heads;
  const S = 224;
  const x0 = new Float64Array(T * dim);
  for (let t = 0; t < T; t++) {
    const oy = Math.floor(t / 14) * 16;
    const ox = (t % 14) * 16;
    for (let d = 0; d < dim; d++) {
      let acc = w.patchBias[d]!;
      for (let c = 0; c < 3; c++)
        for (let ky = 0; ky < 16; ky++)
          for (let kx = 0; kx < 16; kx++)
            acc += w.patch[((d * 3 + c) * 16 + ky) * 16 + kx]! * px[(c * S + oy + ky) * S + ox + kx]!;
      x0[t * dim + d] = acc + w.pos[t * dim + d]!;
    }
  }
  const ln = (x: Float64Array) => {
    const out = new Float64Array(x.length);
    for (let t = 0; t < T; t++) {
      let m = 0;
      for (let d = 0; d < dim; d++) m += x[t * dim + d]!;
      m /= dim;
      let v = 0;
      for (let d = 0; d < dim; d++) v += (x[t * dim + d]! - m) ** 2;
      v /= dim;
      for (let d = 0; d < dim; d++) out[t * dim + d] = (x[t * dim + d]! - m) / Math.sqrt(v + 1e-5);
    }
    return out;
  };
  const matmul = (a: Float64Array, wm: Float32Array, n: number, k: number, bias?: Float32Array) => {
    const out = new Float64Array((a.length / n) * k);
    for (let r = 0; r < a.length / n; r++)
      for (let j = 0; j < k; j++) {
        let acc = bias ? bias[j]! : 0;
        for (let i = 0; i < n; i++) acc += a[r * n + i]! * wm[i * k + j]!;
        out[r * k + j] = acc;
      }
    return out;
  };
  const h = ln(x0);
  const [q, k, v] = [w.wq, w.wk, w.wv].map((m) => matmul(h, m, dim, dim));
  const merged = new Float64Array(T * dim);
  for (let hh = 0; hh < heads; hh++)
    for (let i = 0; i < T; i++) {
      const scores = new Float64Array(T);
      let max = -Infinity;
      for (let j = 0; j < T; j++) {
        let dot = 0;
        for (let e = 0; e < hd; e++) dot += q![i * dim + hh * hd + e]! * k![j * dim + hh * hd + e]!;
        scores[j] = dot / Math.sqrt(hd);
        max = Math.max(max, scores[j]!);
      }
      let sum = 0;
      for (let j = 0; j < T; j++) sum += scores[j] = Math.exp(scores[j]! - max);
      for (let e = 0; e < hd; e++) {
        let acc = 0;
        for (let j = 0; j < T; j++) acc += (scores[j]! / sum) * v![j * dim + hh * hd + e]!;
        merged[i * dim + hh * hd + e] = acc;
      }
    }
  const attnOut = matmul(merged, w.wo, dim, dim);
  const x1 = x0.map((val, i) => val + attnOut[i]!);
  const hidden = matmul(ln(x1), w.w1, dim, mlp, w.b1).map((val) => Math.max(0, val));
  const mlpOut = matmul(hidden, w.w2, mlp, dim, w.b2);
  return Float32Array.from(x1.map((val, i) => val + mlpOut[i]!));
}

test('tiny-vit-test through its manifest matches a plain-JS implementation of the same network', async () => {
  const vit = await pool.get(join(repoRoot(), 'models/tiny-vit-test/model.json'));
  const px = Float32Array.from(seededNormal(7, 3 * 224 * 224, 0.5));
  const out = await vit.encode(Float32Array.from([...px, ...px]), 2);
  assert.equal(out.length, 2 * 196 * 64);
  const ref = tinyVitReference(px);
  let worst = 0;
  for (let i = 0; i < ref.length; i++)
    worst = Math.max(worst, Math.abs(out[i]! - ref[i]!), Math.abs(out[196 * 64 + i]! - ref[i]!));
  assert.ok(worst < 1e-3, `largest difference from the reference: ${worst}`);
  const spread = Math.max(...ref) - Math.min(...ref);
  assert.ok(spread > 0.5, `outputs are not degenerate (range ${spread})`);
});

test('vigil-patch-v1 through its manifest: [N,196,16], a flat colour gives its colour and no texture', async () => {
  const flat = await sharp({
    create: { width: 224, height: 224, channels: 3, background: { r: 51, g: 102, b: 153 } },
  })
    .png()
    .toBuffer();
  const tokens = await encodeImages([flat, flat]);
  assert.equal(tokens.length, 2 * 196 * 16);
  for (const token of [0, 97, 195]) {
    assert.ok(Math.abs(feature(tokens, 1, token, 'r') - 0.2) < 1e-3);
    assert.ok(Math.abs(feature(tokens, 1, token, 'g') - 0.4) < 1e-3);
    assert.ok(Math.abs(feature(tokens, 1, token, 'b') - 0.6) < 1e-3);
    for (const f of ['sr', 'sg', 'sb', 'e0', 'e90', 'e45', 'e135', 'focus', 'fh', 'fv', 'fd', 'sy']) {
      assert.ok(
        Math.abs(feature(tokens, 1, token, f)) < 1e-3,
        `${f} of a flat patch = ${feature(tokens, 1, token, f)}`,
      );
    }
    assert.ok(Math.abs(feature(tokens, 1, token, 'dc') - (0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6)) < 1e-3);
  }
});

test('a vertical edge shows as 0° gradient energy in the patches it crosses, and nowhere else', async () => {
  const raw = Buffer.alloc(224 * 224 * 3);
  for (let y = 0; y < 224; y++)
    for (let x = 120; x < 224; x++) raw.fill(255, (y * 224 + x) * 3, (y * 224 + x) * 3 + 3);
  const edge = await sharp(raw, { raw: { width: 224, height: 224, channels: 3 } })
    .png()
    .toBuffer();
  const tokens = await encodeImages([edge]);
  const col = 7; // x 112..127 holds the edge at x = 120
  const onEdge = feature(tokens, 0, 5 * 14 + col, 'e0');
  assert.ok(onEdge > 0.1, `0° energy on the edge: ${onEdge}`);
  assert.ok(feature(tokens, 0, 5 * 14 + col, 'e90') < 1e-3, 'no horizontal-edge energy');
  assert.ok(feature(tokens, 0, 5 * 14 + 2, 'e0') < 1e-3, 'flat black patch');
  assert.ok(feature(tokens, 0, 5 * 14 + 12, 'e0') < 1e-3, 'flat white patch');
  assert.ok(feature(tokens, 0, 5 * 14 + col, 'fh') !== 0, 'the horizontal low frequency sees the step');
});

test('frames of another size are letterboxed to the model size', async () => {
  const wide = await sharp({
    create: { width: 640, height: 360, channels: 3, background: { r: 255, g: 0, b: 0 } },
  })
    .jpeg()
    .toBuffer();
  const pre = new Preprocessor(model.manifest, 1);
  const px = await pre.write(wide, 0);
  const plane = 224 * 224;
  const at = (c: number, x: number, y: number) => px[c * plane + y * 224 + x]!;
  assert.ok(at(0, 112, 0) < 0.02, 'black bar at the top');
  assert.ok(at(0, 112, 112) > 0.95 && at(1, 112, 112) < 0.05, 'red in the middle');
});

async function loadError(mutate: (dir: string) => void): Promise<string> {
  const dir = testDir('model');
  copyFileSync(join(repoRoot(), 'models/vigil-patch-v1/model.onnx'), join(dir, 'model.onnx'));
  copyFileSync(manifestPath, join(dir, 'model.json'));
  mutate(dir);
  try {
    await VisionModel.load(join(dir, 'model.json'), cpu);
  } catch (e) {
    assert.ok(e instanceof ModelLoadError, String(e));
    assert.ok(!e.message.includes('\n'), 'one line');
    return e.message;
  }
  assert.fail('the model loaded');
}

const editManifest = (
  dir: string,
  edit: (m: Record<string, unknown> & { input: Record<string, unknown> }) => void,
) => {
  const m = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as Record<string, unknown> & {
    input: Record<string, unknown>;
  };
  edit(m);
  writeFileSync(join(dir, 'model.json'), JSON.stringify(m));
};

test('a corrupt model file fails on its checksum, or in ONNX Runtime when the checksum was updated too', async () => {
  const corrupt = (dir: string) => {
    const b = readFileSync(join(dir, 'model.onnx'));
    b.fill(0x5a, 20, 400);
    writeFileSync(join(dir, 'model.onnx'), b);
  };
  assert.match(
    await loadError(corrupt),
    /has sha256 [0-9a-f]{64} but its manifest says [0-9a-f]{64}: the file is corrupt/,
  );
  const msg = await loadError((dir) => {
    corrupt(dir);
    editManifest(
      dir,
      (m) =>
        (m.sha256 = createHash('sha256')
          .update(readFileSync(join(dir, 'model.onnx')))
          .digest('hex')),
    );
  });
  assert.match(msg, /ONNX Runtime cannot load .* the file is not a valid ONNX model/);
});

test('a manifest that disagrees with its model fails with what to correct', async () => {
  assert.match(
    await loadError((dir) => editManifest(dir, (m) => (m.input.width = 256))),
    /takes input \[N, 3, 224, 224\] but its manifest says \[N, 3, 224, 256\]; correct input\.width\/height/,
  );
  assert.match(
    await loadError((dir) => editManifest(dir, (m) => (m.input.name = 'images'))),
    /has inputs \[pixels\] but its manifest names input "images"/,
  );
  assert.match(
    await loadError((dir) => editManifest(dir, (m) => ((m.output as { tokenDims: number }).tokenDims = 32))),
    /returned \[1, 196, 16\] for 1 frames but its manifest describes \[N, 196, 32\]; correct output\.tokenGrid\/tokenDims/,
  );
  assert.match(
    await loadError((dir) => editManifest(dir, (m) => (m.file = 'missing.onnx'))),
    /missing\.onnx named by .* does not exist/,
  );
  assert.match(
    await loadError((dir) => writeFileSync(join(dir, 'model.json'), '{"name":')),
    /is not valid JSON/,
  );
  assert.match(await loadError((dir) => editManifest(dir, (m) => delete m.sha256)), /is invalid: sha256: /);
});

test('the warm-up runs the largest batch the analyzer will send: a model with a fixed batch of 1 fails at load', async () => {
  const dir = testDir('model');
  copyFileSync(manifestPath, join(dir, 'model.json'));
  // vigil-patch-v1 with its batch axis fixed at 1 (the input's dim N → 1)
  const { onnx } = onnxProto;
  const proto = onnx.ModelProto.decode(readFileSync(join(repoRoot(), 'models/vigil-patch-v1/model.onnx')));
  for (const io of [...proto.graph!.input!, ...proto.graph!.output!])
    io.type!.tensorType!.shape!.dim![0] = { dimValue: 1 };
  const bytes = onnx.ModelProto.encode(proto).finish();
  writeFileSync(join(dir, 'model.onnx'), bytes);
  editManifest(dir, (m) => (m.sha256 = createHash('sha256').update(bytes).digest('hex')));
  await assert.rejects(VisionModel.load(join(dir, 'model.json'), { ...cpu, maxBatch: 8 }), (e: Error) => {
    assert.ok(e instanceof ModelLoadError, String(e));
    assert.match(e.message, /fails on a 8×3×224×224 input: .*set VIGIL_VISION_MAX_BATCH=1\)$/);
    return true;
  });
  // sent one frame at a time it works, and its tokens are the shipped model's
  const one = await VisionModel.load(join(dir, 'model.json'), { ...cpu, maxBatch: 1 });
  try {
    const px = new Float32Array(3 * 224 * 224).map((_, i) => (i % 97) / 97);
    assert.deepEqual(await one.encode(px, 1), await model.encode(px, 1));
  } finally {
    await one.release();
  }
});

test('asking for CUDA where there is none is an error, not a silent CPU fallback', async () => {
  await assert.rejects(
    VisionModel.load(manifestPath, { provider: { kind: 'cuda', deviceId: 0 }, intraOpThreads: 1 }),
    (e: Error) => {
      assert.ok(e instanceof ModelLoadError);
      assert.match(
        e.message,
        /^CUDA was asked for \(device 0\) but ONNX Runtime cannot use it here .*set VIGIL_VISION_PROVIDER=cpu$/,
      );
      return true;
    },
  );
});

test('the encode path: batched tokens equal one-at-a-time tokens; a corrupt frame fails alone', async () => {
  const images = await Promise.all(
    [0, 60, 120, 180, 240].map((r) =>
      sharp({ create: { width: 320, height: 180, channels: 3, background: { r, g: 255 - r, b: 90 } } })
        .jpeg()
        .toBuffer(),
    ),
  );
  const single = await encodeImages([images[3]!]);
  const path = createEncodePath(model, { maxBatch: 4, maxWaitMs: 5, maxQueuePerStream: 10 });
  const corrupt = Buffer.concat([images[0]!.subarray(0, 200), Buffer.alloc(300, 7)]);
  const results = await Promise.allSettled([
    ...images.map((img, i) => path.submit(`cam${i}`, img)),
    path.submit('broken', corrupt),
  ]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected'],
  );
  const third = results[3]!;
  assert.ok(third.status === 'fulfilled');
  assert.deepEqual(Array.from(third.value), Array.from(single));
  const bad = results[5]!;
  assert.ok(bad.status === 'rejected' && (bad.reason as Error).name === 'ImageDecodeError');
  await path.close();
});

test('a released model refuses to encode with a clear error instead of hanging', async () => {
  const m = await VisionModel.load(manifestPath, cpu);
  await m.release();
  await assert.rejects(m.encode(new Float32Array(3 * 224 * 224), 1), /session was released/);
});
