// `npm run models`: (re)generates the shipped models under models/ and their manifests, deterministically.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ModelManifest, ModelManifestSchema, seededRandom } from '@vigil/contracts';
import { GraphBuilder } from './onnx-builder.js';
import { writeTinyMoe } from './tiny-moe.js';

const SIZE = 224;
const PATCH = 16;
const GRID = SIZE / PATCH;

/**
 * vigil-patch-v1: per 16×16 patch, 16 features that need no training —
 *   0-2   colour mean (R, G, B)           3-5   colour spread (std per channel)
 *   6-9   gradient energy, 4 orientations (0°, 90°, 45°, 135° Sobel)
 *   10    focus (RMS of the Laplacian)    11-14 luma low frequencies (DC, horizontal, vertical, diagonal cosine)
 *   15    luma spread
 * Input [N,3,224,224] RGB on 0..1; output [N,196,16].
 */
export function vigilPatchV1(): Buffer {
  const g = new GraphBuilder();
  const pool = (x: string) =>
    g.op('AveragePool', [x], { kernel_shape: [PATCH, PATCH], strides: [PATCH, PATCH] });
  const sq = (x: string) => g.op('Mul', [x, x]);
  const x = 'pixels';

  const mean = pool(x);
  const spread = g.op('Sqrt', [g.op('Relu', [g.op('Sub', [pool(sq(x)), sq(mean)])])]);

  const luma = g.op('Conv', [x, g.constant('w_luma', [1, 3, 1, 1], [0.299, 0.587, 0.114])]);
  // reflect padding: the picture's own border is not an edge
  const padded = g.op('Pad', [luma, g.int64('pads_1', [0, 0, 1, 1, 0, 0, 1, 1])], { mode: 'reflect' });
  const sobel = [
    [-1, 0, 1, -2, 0, 2, -1, 0, 1], // 0°: vertical edges
    [-1, -2, -1, 0, 0, 0, 1, 2, 1], // 90°: horizontal edges
    [0, 1, 2, -1, 0, 1, -2, -1, 0], // 45°
    [-2, -1, 0, -1, 0, 1, 0, 1, 2], // 135°
  ]
    .flat()
    .map((v) => v / 4);
  const grads = g.op('Conv', [padded, g.constant('w_sobel', [4, 1, 3, 3], sobel)]);
  const gradEnergy = g.op('Sqrt', [pool(sq(grads))]);
  const lap = g.op('Conv', [padded, g.constant('w_laplacian', [1, 1, 3, 3], [0, 1, 0, 1, -4, 1, 0, 1, 0])]);
  const focus = g.op('Sqrt', [pool(sq(lap))]);

  const basis: number[] = [];
  for (const [u, v] of [
    [0, 0],
    [0, 1],
    [1, 0],
    [1, 1],
  ] as const) {
    for (let y = 0; y < PATCH; y++) {
      for (let xx = 0; xx < PATCH; xx++) {
        basis.push(
          (Math.cos((Math.PI * (2 * xx + 1) * v) / (2 * PATCH)) *
            Math.cos((Math.PI * (2 * y + 1) * u) / (2 * PATCH))) /
            (PATCH * PATCH),
        );
      }
    }
  }
  const lowFreq = g.op('Conv', [luma, g.constant('w_lowfreq', [4, 1, PATCH, PATCH], basis)], {
    strides: [PATCH, PATCH],
  });
  const lumaMean = pool(luma);
  const lumaSpread = g.op('Sqrt', [g.op('Relu', [g.op('Sub', [pool(sq(luma)), sq(lumaMean)])])]);

  const features = g.op('Concat', [mean, spread, gradEnergy, focus, lowFreq, lumaSpread], { axis: 1 });
  const flat = g.op('Reshape', [features, g.int64('shape_tokens', [0, 16, -1])]);
  g.op('Transpose', [flat], { perm: [0, 2, 1] }, 'tokens');
  return g.build(
    'vigil-patch-v1',
    { name: x, dims: ['N', 3, SIZE, SIZE] },
    { name: 'tokens', dims: ['N', GRID * GRID, 16] },
  );
}

/** mulberry32 + Box-Muller: seeded N(0, std²) weights, identical on every machine. */
export function seededNormal(seed: number, n: number, std: number): Float32Array {
  const rand = seededRandom(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(rand(), 1e-12);
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand()) * std;
  }
  return out;
}

export const TINY_VIT = { dim: 64, heads: 4, mlp: 128, seed: 20261128 } as const;

/** The seeded weights of tiny-vit-test, shared with the test's reference implementation. */
export function tinyVitWeights() {
  const { dim, mlp, seed } = TINY_VIT;
  const tokens = GRID * GRID;
  return {
    patch: seededNormal(seed + 1, dim * 3 * PATCH * PATCH, 0.02),
    patchBias: seededNormal(seed + 2, dim, 0.02),
    pos: seededNormal(seed + 3, tokens * dim, 0.02),
    wq: seededNormal(seed + 4, dim * dim, 0.125),
    wk: seededNormal(seed + 5, dim * dim, 0.125),
    wv: seededNormal(seed + 6, dim * dim, 0.125),
    wo: seededNormal(seed + 7, dim * dim, 0.125),
    w1: seededNormal(seed + 8, dim * mlp, 0.125),
    b1: seededNormal(seed + 9, mlp, 0.02),
    w2: seededNormal(seed + 10, mlp * dim, 0.09),
    b2: seededNormal(seed + 11, dim, 0.02),
  };
}

/**
 * tiny-vit-test: patch embedding (16×16 conv) + position table + one pre-norm transformer block (4-head
 * self-attention, ReLU MLP, residuals) with seeded random weights. Exercises the operators real encoders
 * (SigLIP, the Qwen-VL vision tower) use. Input [N,3,224,224]; output [N,196,64].
 */
export function tinyVitTest(): Buffer {
  const { dim, heads, mlp } = TINY_VIT;
  const hd = dim / heads;
  const tokens = GRID * GRID;
  const w = tinyVitWeights();
  const g = new GraphBuilder();
  const emb = g.op(
    'Conv',
    [
      'pixels',
      g.constant('w_patch', [dim, 3, PATCH, PATCH], w.patch),
      g.constant('b_patch', [dim], w.patchBias),
    ],
    {
      strides: [PATCH, PATCH],
    },
  );
  const seq = g.op('Transpose', [g.op('Reshape', [emb, g.int64('shape_seq', [0, dim, -1])])], {
    perm: [0, 2, 1],
  });
  const x0 = g.op('Add', [seq, g.constant('pos', [1, tokens, dim], w.pos)]);
  const ones = g.constant('ln_scale', [dim], new Float32Array(dim).fill(1));
  const zeros = g.constant('ln_bias', [dim], new Float32Array(dim));
  const ln = (x: string) => g.op('LayerNormalization', [x, ones, zeros], { axis: -1, epsilon: 1e-5 });
  const h = ln(x0);
  const split = (x: string, perm: number[]) =>
    g.op('Transpose', [g.op('Reshape', [x, g.int64(`shape_heads_${x}`, [0, tokens, heads, hd])])], { perm });
  const q = split(g.op('MatMul', [h, g.constant('wq', [dim, dim], w.wq)]), [0, 2, 1, 3]);
  const kT = split(g.op('MatMul', [h, g.constant('wk', [dim, dim], w.wk)]), [0, 2, 3, 1]);
  const v = split(g.op('MatMul', [h, g.constant('wv', [dim, dim], w.wv)]), [0, 2, 1, 3]);
  const scores = g.op('Mul', [g.op('MatMul', [q, kT]), g.constant('attn_scale', [1], [1 / Math.sqrt(hd)])]);
  const attn = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), v]);
  const merged = g.op('Reshape', [
    g.op('Transpose', [attn], { perm: [0, 2, 1, 3] }),
    g.int64('shape_merge', [0, tokens, dim]),
  ]);
  const x1 = g.op('Add', [x0, g.op('MatMul', [merged, g.constant('wo', [dim, dim], w.wo)])]);
  const hidden = g.op('Relu', [
    g.op('Add', [
      g.op('MatMul', [ln(x1), g.constant('w1', [dim, mlp], w.w1)]),
      g.constant('b1', [mlp], w.b1),
    ]),
  ]);
  const mlpOut = g.op('Add', [
    g.op('MatMul', [hidden, g.constant('w2', [mlp, dim], w.w2)]),
    g.constant('b2', [dim], w.b2),
  ]);
  g.op('Add', [x1, mlpOut], {}, 'tokens');
  return g.build(
    'tiny-vit-test',
    { name: 'pixels', dims: ['N', 3, SIZE, SIZE] },
    { name: 'tokens', dims: ['N', tokens, dim] },
  );
}

export function manifestFor(name: string, bytes: Buffer, description: string): ModelManifest {
  return ModelManifestSchema.parse({
    name,
    description,
    licence: 'Apache-2.0 (generated by this project)',
    file: 'model.onnx',
    sha256: createHash('sha256').update(bytes).digest('hex'),
    input: {
      name: 'pixels',
      layout: 'NCHW',
      width: SIZE,
      height: SIZE,
      colorOrder: 'RGB',
      mean: [0, 0, 0],
      std: [1, 1, 1],
    },
    output: {
      name: 'tokens',
      tokenGrid: [GRID, GRID],
      tokenDims: name === 'tiny-vit-test' ? TINY_VIT.dim : 16,
    },
  });
}

export const SHIPPED = {
  'vigil-patch-v1': {
    build: vigilPatchV1,
    description:
      'Fixed-weight patch features (colour mean and spread, oriented gradient energy, focus, low frequencies, luma spread) per 16×16 patch; meaningful without training; the default for anomaly scoring.',
  },
  'tiny-vit-test': {
    build: tinyVitTest,
    description:
      'Test model: patch embedding + one 4-head attention block with seeded random weights; exercises the transformer path real encoders use. Not meaningful features.',
  },
} as const;

if (process.argv[1]?.endsWith('generate-models.js')) {
  const root = process.cwd();
  for (const [name, m] of Object.entries(SHIPPED)) {
    const dir = join(root, 'models', name);
    mkdirSync(dir, { recursive: true });
    const bytes = m.build();
    writeFileSync(join(dir, 'model.onnx'), bytes);
    writeFileSync(
      join(dir, 'model.json'),
      JSON.stringify(manifestFor(name, bytes, m.description), null, 2) + '\n',
    );
    console.log(`wrote models/${name} (${bytes.length} bytes)`);
  }
  const moe = writeTinyMoe(join(root, 'models', 'tiny-moe-test'));
  console.log(`wrote models/${moe.name} (${moe.architecture.vocabSize} tokens)`);
}
