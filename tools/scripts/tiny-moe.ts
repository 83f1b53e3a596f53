// tiny-moe-test: a decoder-only Mixture-of-Experts language model in the layout of Hugging Face's ONNX
// exports of vision-language decoders (embed_tokens / vision projector / decoder with inputs_embeds and a
// KV cache), with seeded random weights and a byte-level BPE tokenizer trained here. It produces no
// meaningful text; it exists so the in-process `onnx` backend — KV cache, prefix reuse, batching across
// streams, expert routing — is tested and benchmarked without downloading a model.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DecoderManifest, DecoderManifestSchema } from '@vigil/contracts';
import { trainBpe } from '@vigil/decoders';
import { GraphBuilder } from './onnx-builder.js';
import { seededNormal } from './generate-models.js';

export const TINY_MOE = {
  hidden: 64,
  heads: 4,
  /** Grouped-query attention as Qwen3 MoE models have (32 query heads share 4 KV heads there): a smaller KV cache. */
  kvHeads: 1,
  layers: 2,
  experts: 4,
  topK: 2,
  ffn: 128,
  maxPositions: 1024,
  /** The vision tokens it takes: vigil-patch-v1's 14×14 grid of 16 features, pooled 2×2 to 49 tokens. */
  vision: { grid: 14, dims: 16, pool: 2 },
  merges: 240,
  seed: 20261129,
} as const;

export const SPECIAL_TOKENS = [
  '<|endoftext|>',
  '<|im_start|>',
  '<|im_end|>',
  '<|vision_start|>',
  '<|vision_end|>',
  '<|image_pad|>',
] as const;

const CORPUS = `
You watch one industrial or security camera and narrate a short time window for operators.
Say only what the frames and the measured signals show; if unsure, say so. One to three sentences.
List findings only for things that look wrong for this place: safety, tampering, stopped equipment,
something that does not belong. Answer with JSON: {"summary": "...", "findings": [{"kind": "...",
"description": "...", "severity": "warning", "confidence": 0.8}]}.
The conveyor belt runs; a worker walks along the aisle; the loading dock is quiet; a forklift moves a pallet.
The lens is covered. The picture is too dark. The picture is overexposed. The picture is out of focus.
The picture froze. The camera moved. Activity stopped. Something new is in view: a crate on the floor.
Camera, window, frames, samples, scene activity, anomalies, detectors fired, no detector fired, minute, hour.
`;

/** The tokenizer.json (Hugging Face format) of the test model. */
export function tinyMoeTokenizer(): { json: string; vocabSize: number } {
  const { vocab, merges } = trainBpe(CORPUS.repeat(3), TINY_MOE.merges);
  const base = Object.keys(vocab).length;
  const json = {
    version: '1.0',
    added_tokens: SPECIAL_TOKENS.map((content, i) => ({
      id: base + i,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
  return { json: JSON.stringify(json), vocabSize: base + SPECIAL_TOKENS.length };
}

export function tinyMoeWeights(vocab: number) {
  const { hidden: D, ffn: F, experts: E, layers, maxPositions, seed, kvHeads, heads } = TINY_MOE;
  const KV = kvHeads * (D / heads);
  let s = seed;
  const w = (n: number, std: number) => seededNormal(s++, n, std);
  return {
    embed: w(vocab * D, 0.5),
    pos: w(maxPositions * D, 0.1),
    layers: Array.from({ length: layers }, () => ({
      wq: w(D * D, 0.15),
      wk: w(D * KV, 0.15),
      wv: w(D * KV, 0.15),
      wo: w(D * D, 0.1),
      router: w(D * E, 0.5),
      /** The experts' first layers side by side: [D, E·F]. */
      w1: w(D * E * F, 0.12),
      b1: w(E * F, 0.02),
      w2: w(E * F * D, 0.08),
      b2: w(E * D, 0.02),
    })),
  };
}

/** embed.onnx: input_ids [B, T] → inputs_embeds [B, T, D]. */
export function tinyMoeEmbed(vocab: number): Buffer {
  const { hidden: D } = TINY_MOE;
  const g = new GraphBuilder();
  g.op(
    'Gather',
    [g.constant('embed_tokens', [vocab, D], tinyMoeWeights(vocab).embed), 'input_ids'],
    { axis: 0 },
    'inputs_embeds',
  );
  return g.build(
    'tiny-moe-test-embed',
    { name: 'input_ids', dims: ['batch', 'sequence'], type: 'int64' },
    { name: 'inputs_embeds', dims: ['batch', 'sequence', D] },
  );
}

/** projector.onnx: vision tokens [N, 196, 16] → pooled 2×2 → two-layer MLP → image_embeds [N, 49, D]. */
export function tinyMoeProjector(): Buffer {
  const { hidden: D, vision, seed } = TINY_MOE;
  const { grid, dims, pool } = vision;
  const out = (grid / pool) ** 2;
  const g = new GraphBuilder();
  const img = g.op(
    'Transpose',
    [g.op('Reshape', ['vision_tokens', g.int64('shape_grid', [0, grid, grid, dims])])],
    {
      perm: [0, 3, 1, 2],
    },
  );
  const pooled = g.op('AveragePool', [img], { kernel_shape: [pool, pool], strides: [pool, pool] });
  const seq = g.op('Transpose', [g.op('Reshape', [pooled, g.int64('shape_seq', [0, dims, -1])])], {
    perm: [0, 2, 1],
  });
  const h = g.op('Add', [
    g.op('MatMul', [seq, g.constant('proj_w1', [dims, D], seededNormal(seed + 101, dims * D, 0.3))]),
    g.constant('proj_b1', [D], seededNormal(seed + 102, D, 0.02)),
  ]);
  // GELU (sigmoid approximation)
  const act = g.op('Mul', [h, g.op('Sigmoid', [g.op('Mul', [h, g.constant('gelu_k', [1], [1.702])])])]);
  g.op(
    'Add',
    [
      g.op('MatMul', [act, g.constant('proj_w2', [D, D], seededNormal(seed + 103, D * D, 0.15))]),
      g.constant('proj_b2', [D], seededNormal(seed + 104, D, 0.02)),
    ],
    {},
    'image_embeds',
  );
  return g.build(
    'tiny-moe-test-projector',
    { name: 'vision_tokens', dims: ['N', grid * grid, dims] },
    { name: 'image_embeds', dims: ['N', out, D] },
  );
}

/**
 * decoder.onnx: inputs_embeds [B, T, D], attention_mask [B, P+T], position_ids [B, T] and
 * past_key_values.{l}.key|value [B, H, P, hd] → logits [B, T, V], present.{l}.key|value [B, H, P+T, hd],
 * and router.{l} [B, T, 2], the two experts each token went to (for tests; real exports omit it).
 * Per layer: pre-norm causal self-attention with the KV cache, then a Mixture of Experts: a linear router,
 * TopK(2) and a softmax over the two chosen logits, four SiLU experts weighted by those gates. Positions
 * are a learned table read at position_ids, so padded batches and cached prefixes place tokens exactly.
 */
export function tinyMoeDecoder(vocab: number): Buffer {
  const { hidden: D, heads: H, kvHeads: KH, layers: L, experts: E, topK, ffn: F, maxPositions } = TINY_MOE;
  const hd = D / H;
  const w = tinyMoeWeights(vocab);
  const g = new GraphBuilder();
  const ones = g.constant('ln_scale', [D], new Float32Array(D).fill(1));
  const zeros = g.constant('ln_bias', [D], new Float32Array(D));
  const ln = (x: string) => g.op('LayerNormalization', [x, ones, zeros], { axis: -1, epsilon: 1e-5 });

  // the additive attention bias [B, 1, T, P+T]: causal over key positions, and the padding mask
  const zero = g.scalar('i_zero', 0);
  const one = g.scalar('i_one', 1);
  const tq = g.op('Gather', [g.op('Shape', ['inputs_embeds']), one], { axis: 0 });
  const tk = g.op('Gather', [g.op('Shape', ['attention_mask']), one], { axis: 0 });
  const past = g.op('Sub', [tk, tq]);
  const keyIdx = g.op('Unsqueeze', [g.op('Range', [zero, tk, one]), g.int64('ax0', [0])]);
  const qIdx = g.op('Unsqueeze', [g.op('Range', [past, tk, one]), g.int64('ax1', [1])]);
  const causal = g.op('LessOrEqual', [keyIdx, qIdx]);
  const keep = g.op('Unsqueeze', [g.op('Cast', ['attention_mask'], { to: 9 }), g.int64('ax12', [1, 2])]);
  const allowed = g.op('And', [causal, keep]);
  const bias = g.op('Where', [allowed, g.constant('f_zero', [], [0]), g.constant('f_neg', [], [-1e9])]);

  let x = g.op('Add', [
    'inputs_embeds',
    g.op('Gather', [g.constant('pos_table', [maxPositions, D], w.pos), 'position_ids'], { axis: 0 }),
  ]);
  const heads = (t: string, l: number, name: string, n: number) =>
    g.op('Transpose', [g.op('Reshape', [t, g.int64(`shape_heads_${l}_${name}`, [0, 0, n, hd])])], {
      perm: [0, 2, 1, 3],
    });
  const tokensShape = g.op('Shape', ['inputs_embeds']);
  for (let l = 0; l < L; l++) {
    const lw = w.layers[l]!;
    const h = ln(x);
    const q = heads(g.op('MatMul', [h, g.constant(`l${l}_wq`, [D, D], lw.wq)]), l, 'q', H);
    // grouped-query attention: KH key/value heads, each shared by H / KH query heads (MatMul broadcasts them)
    const k = heads(g.op('MatMul', [h, g.constant(`l${l}_wk`, [D, KH * hd], lw.wk)]), l, 'k', KH);
    const v = heads(g.op('MatMul', [h, g.constant(`l${l}_wv`, [D, KH * hd], lw.wv)]), l, 'v', KH);
    const kAll = g.op('Concat', [`past_key_values.${l}.key`, k], { axis: 2 }, `present.${l}.key`);
    const vAll = g.op('Concat', [`past_key_values.${l}.value`, v], { axis: 2 }, `present.${l}.value`);
    const scores = g.op('Add', [
      g.op('Mul', [
        g.op('MatMul', [q, g.op('Transpose', [kAll], { perm: [0, 1, 3, 2] })]),
        g.constant(`l${l}_scale`, [], [1 / Math.sqrt(hd)]),
      ]),
      bias,
    ]);
    const attn = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), vAll]);
    const merged = g.op('Reshape', [
      g.op('Transpose', [attn], { perm: [0, 2, 1, 3] }),
      g.int64(`shape_merge_${l}`, [0, 0, D]),
    ]);
    x = g.op('Add', [x, g.op('MatMul', [merged, g.constant(`l${l}_wo`, [D, D], lw.wo)])]);

    // Mixture of Experts: top-2 of 4 experts per token, gates = softmax over the two chosen router logits
    const h2 = ln(x);
    const logits = g.op('MatMul', [h2, g.constant(`l${l}_router`, [D, E], lw.router)]);
    const [topV, topI] = g.ops('TopK', [logits, g.int64(`l${l}_k`, [topK])], { axis: -1 }, [
      `l${l}_top_values`,
      `router.${l}`,
    ]);
    const gatesTop = g.op('Softmax', [topV!], { axis: -1 });
    const onehot = g.op(
      'OneHot',
      [topI!, g.scalar(`l${l}_depth`, E), g.constant(`l${l}_onehot_values`, [2], [0, 1])],
      {
        axis: -1,
      },
    );
    const gates = g.op(
      'ReduceSum',
      [
        g.op('Mul', [onehot, g.op('Unsqueeze', [gatesTop, g.int64(`l${l}_ax_last`, [-1])])]),
        g.int64(`l${l}_ax_k`, [2]),
      ],
      { keepdims: 0 },
    );
    // every expert on every token, as a few large products: [N, D]·[D, E·F], then per expert [N, F]·[F, D];
    // the gates are zero outside each token's top 2 (a GPU kernel would skip those; the result is the same)
    const flat = g.op('Reshape', [h2, g.int64(`l${l}_shape_nd`, [-1, D])]);
    const hidden = g.op('Add', [
      g.op('MatMul', [flat, g.constant(`l${l}_w1`, [D, E * F], lw.w1)]),
      g.constant(`l${l}_b1`, [E * F], lw.b1),
    ]);
    const act = g.op('Mul', [hidden, g.op('Sigmoid', [hidden])]);
    const perExpert = g.op('Transpose', [g.op('Reshape', [act, g.int64(`l${l}_shape_nef`, [-1, E, F])])], {
      perm: [1, 0, 2],
    });
    const expertOut = g.op('Add', [
      g.op('MatMul', [perExpert, g.constant(`l${l}_w2`, [E, F, D], lw.w2)]),
      g.constant(`l${l}_b2`, [E, 1, D], lw.b2),
    ]);
    const gatesEn = g.op('Unsqueeze', [
      g.op('Transpose', [g.op('Reshape', [gates, g.int64(`l${l}_shape_ne`, [-1, E])])], { perm: [1, 0] }),
      g.int64(`l${l}_ax_gate`, [-1]),
    ]);
    const moe = g.op('Reshape', [
      g.op('ReduceSum', [g.op('Mul', [expertOut, gatesEn]), g.int64(`l${l}_ax_e`, [0])], { keepdims: 0 }),
      tokensShape,
    ]);
    x = g.op('Add', [x, moe]);
  }
  // output head tied to the token embeddings
  const embT = new Float32Array(D * vocab);
  for (let t = 0; t < vocab; t++) for (let d = 0; d < D; d++) embT[d * vocab + t] = w.embed[t * D + d]!;
  g.op('MatMul', [ln(x), g.constant('lm_head', [D, vocab], embT)], {}, 'logits');

  const kv = (prefix: string, len: string) =>
    Array.from({ length: L }, (_, l) =>
      ['key', 'value'].map((kind) => ({ name: `${prefix}.${l}.${kind}`, dims: ['batch', KH, len, hd] })),
    ).flat();
  return g.build(
    'tiny-moe-test',
    [
      { name: 'inputs_embeds', dims: ['batch', 'sequence', D] },
      { name: 'attention_mask', dims: ['batch', 'total_sequence'], type: 'int64' },
      { name: 'position_ids', dims: ['batch', 'sequence'], type: 'int64' },
      ...kv('past_key_values', 'past_sequence'),
    ],
    [
      { name: 'logits', dims: ['batch', 'sequence', vocab] },
      ...kv('present', 'total_sequence'),
      ...Array.from({ length: L }, (_, l) => ({
        name: `router.${l}`,
        dims: ['batch', 'sequence', topK],
        type: 'int64' as const,
      })),
    ],
  );
}

/** Writes models/tiny-moe-test: the three ONNX graphs, tokenizer.json and the manifest. */
export function writeTinyMoe(dir: string): DecoderManifest {
  mkdirSync(dir, { recursive: true });
  const tokenizer = tinyMoeTokenizer();
  const vocab = tokenizer.vocabSize;
  const files = {
    decoder: ['decoder.onnx', tinyMoeDecoder(vocab)],
    embed: ['embed.onnx', tinyMoeEmbed(vocab)],
    projector: ['projector.onnx', tinyMoeProjector()],
    tokenizer: ['tokenizer.json', Buffer.from(tokenizer.json)],
  } as const;
  const entry = ([file, bytes]: readonly [string, Buffer]) => {
    writeFileSync(join(dir, file), bytes);
    return { file, sha256: createHash('sha256').update(bytes).digest('hex') };
  };
  const { hidden, heads, kvHeads, layers, experts, topK, maxPositions, vision } = TINY_MOE;
  const manifest = DecoderManifestSchema.parse({
    name: 'tiny-moe-test',
    description:
      'Test model: a 2-layer decoder-only Mixture of Experts (4 experts, top-2 routing in the graph) with seeded random weights, in the Hugging Face ONNX export layout, with a projector for vigil-patch-v1 tokens and a byte-level BPE tokenizer. Exercises the in-process decoder; its text is not meaningful.',
    licence: 'Apache-2.0 (generated by this project)',
    files: {
      decoder: entry(files.decoder),
      embed: entry(files.embed),
      projector: entry(files.projector),
      tokenizer: entry(files.tokenizer),
    },
    architecture: {
      hidden,
      layers,
      kvHeads,
      headDim: hidden / heads,
      vocabSize: vocab,
      maxPositions,
      experts,
      expertsPerToken: topK,
    },
    vision: {
      encoder: 'vigil-patch-v1',
      tokenGrid: [vision.grid, vision.grid],
      tokenDims: vision.dims,
      tokensPerFrame: (vision.grid / vision.pool) ** 2,
    },
    chat: {
      template: 'chatml',
      stop: ['<|im_end|>', '<|endoftext|>'],
      visionStart: '<|vision_start|>',
      visionEnd: '<|vision_end|>',
    },
  });
  writeFileSync(join(dir, 'model.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}
