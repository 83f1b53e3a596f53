import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import ort from 'onnxruntime-node';
import { type DecoderManifest, DecoderManifestSchema, parseWith, seededRandom } from '@vigil/contracts';
import { BpeTokenizer } from './tokenizer.js';

/** Reads and checks a decoder manifest (model.json), saying what is wrong and where. */
export function readDecoderManifest(path: string): DecoderManifest {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new RangeError(`decoder model ${path}: ${(e as Error).message}`);
  }
  const m = parseWith(DecoderManifestSchema, json, 'model.json');
  if (!m.ok) throw new RangeError(`decoder model ${path}: ${m.errors.join('; ')}`);
  return m.value;
}

/** A prompt part: text, or one frame's vision tokens [T × D] from the stream's vision encoder. */
export type PromptPart = string | Float32Array;

export interface GenerateRequest {
  /** Names the prefix for the cache (a stream): the same key and text reuse the computed KV. */
  readonly prefixKey: string;
  /** The part every window of the stream shares: system text and the camera's context. */
  readonly prefix: string;
  /** The window: text and frames. */
  readonly parts: readonly PromptPart[];
  readonly maxNewTokens: number;
  /** 0: greedy. */
  readonly temperature?: number;
  readonly seed?: number;
}

export interface GenerateResult {
  readonly tokens: number[];
  readonly text: string;
  /** Prompt tokens this call ran through the model (a reused prefix is not counted). */
  readonly promptTokens: number;
  /** Prompt tokens in all, cached prefix included. */
  readonly contextTokens: number;
  readonly prefixReused: boolean;
}

export interface GenerateOptions {
  /** Run the requests as one batch (default) or one after another. */
  readonly batched?: boolean;
  /** Reuse each stream's computed prefix (default), or prefill the whole prompt every time. */
  readonly reusePrefix?: boolean;
}

export interface RuntimeOptions {
  /** cpu, or cuda / cuda:<id>: the sessions stay resident on that device for the process's life. */
  readonly provider?: string;
  readonly threads?: number;
  /** Prefixes kept (streams); the least recently used goes first. */
  readonly prefixCacheSize?: number;
  /**
   * ONNX Runtime's memory pattern (`enableMemPattern`), off unless set: it plans one block per set of input
   * shapes, and a decoder's shapes change with every batch size and sequence length. Off, the process
   * ended 0.87–0.90× the size at the same speed (`npm run bench -- decoders`, decoder memory; docs/decoders.md).
   */
  readonly memoryPattern?: boolean;
}

/** What a runtime has done since it was loaded. */
export interface RuntimeStats {
  runs: number;
  promptTokens: number;
  generatedTokens: number;
  prefixHits: number;
  prefixMisses: number;
}

export function emptyStats(): RuntimeStats {
  return { runs: 0, promptTokens: 0, generatedTokens: 0, prefixHits: 0, prefixMisses: 0 };
}

/** Per layer: key and value [B, H, P, hd]. */
export type KvCache = { key: Float32Array; value: Float32Array }[];

export interface ForwardResult {
  /** [B, T, V] */
  readonly logits: Float32Array;
  readonly present: KvCache;
  /** Per layer [B, T, k]: the experts each token was routed to, when the graph reports them. */
  readonly routers: BigInt64Array[];
}

function sessionOptions(o: RuntimeOptions): ort.InferenceSession.SessionOptions {
  const p = o.provider ?? 'cpu';
  const cuda = /^cuda(?::(\d+))?$/.exec(p);
  return {
    executionProviders: cuda ? [{ name: 'cuda', deviceId: Number(cuda[1] ?? 0) }, 'cpu'] : ['cpu'],
    intraOpNumThreads: o.threads ?? 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    enableMemPattern: o.memoryPattern ?? false,
  };
}

interface Prefix {
  readonly text: string;
  readonly ids: number[];
  readonly kv: KvCache; // B = 1
}

/**
 * An in-process decoder-only model in the Hugging Face ONNX export layout: the token embedding, the vision
 * projector and the decoder (inputs_embeds + KV cache) as three resident sessions, and the tokenizer.
 * Generation runs windows of several streams as one batch — each row's cached prefix and prompt placed
 * with padding the attention mask hides and explicit position ids, so a row's result does not depend on
 * its neighbours — and keeps each stream's prefix (system text + camera context) computed once.
 * Runs on the calling thread (the `onnx` backend hosts it on a worker thread).
 */
export class DecoderRuntime {
  private readonly prefixes = new Map<string, Prefix>();
  private readonly stopIds: Set<number>;
  private readonly visionStart: number;
  private readonly visionEnd: number;
  /** The vision markers' embeddings, computed at the first frame (they never change). */
  private markers: { start: Float32Array; end: Float32Array } | null = null;
  /** Counters since load. */
  readonly stats: RuntimeStats = emptyStats();

  private constructor(
    readonly manifest: DecoderManifest,
    readonly tokenizer: BpeTokenizer,
    private readonly decoder: ort.InferenceSession,
    private readonly embedder: ort.InferenceSession,
    private readonly projector: ort.InferenceSession,
    private readonly opts: RuntimeOptions,
  ) {
    this.stopIds = new Set(manifest.chat.stop.map((t) => tokenizer.id(t)));
    this.visionStart = tokenizer.id(manifest.chat.visionStart);
    this.visionEnd = tokenizer.id(manifest.chat.visionEnd);
  }

  /** Loads a model.json (DecoderManifest) and its files, checking each file's sha256. */
  static async load(manifestPath: string, opts: RuntimeOptions = {}): Promise<DecoderRuntime> {
    const m = readDecoderManifest(manifestPath);
    const dir = dirname(manifestPath);
    const bytes = (f: { file: string; sha256: string }) => {
      const b = readFileSync(join(dir, f.file));
      const sha = createHash('sha256').update(b).digest('hex');
      if (sha !== f.sha256)
        throw new Error(`decoder file ${f.file}: sha256 ${sha} differs from the manifest's ${f.sha256}`);
      return b;
    };
    const options = sessionOptions(opts);
    const [decoder, embedder, projector] = await Promise.all([
      ort.InferenceSession.create(bytes(m.files.decoder), options),
      ort.InferenceSession.create(bytes(m.files.embed), options),
      ort.InferenceSession.create(bytes(m.files.projector), options),
    ]);
    const tokenizer = BpeTokenizer.fromJson(bytes(m.files.tokenizer).toString('utf8'));
    return new DecoderRuntime(m, tokenizer, decoder, embedder, projector, opts);
  }

  async release(): Promise<void> {
    await Promise.all([this.decoder.release(), this.embedder.release(), this.projector.release()]);
  }

  /** Token ids → embeddings [n × hidden]. */
  async embed(ids: readonly number[]): Promise<Float32Array> {
    if (ids.length === 0) return new Float32Array(0);
    const out = await this.embedder.run({
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]),
    });
    return out.inputs_embeds!.data as Float32Array;
  }

  /** One frame's vision tokens → its image embeddings [tokensPerFrame × hidden]. */
  async project(tokens: Float32Array): Promise<Float32Array> {
    const v = this.manifest.vision;
    const n = v.tokenGrid[0] * v.tokenGrid[1];
    if (tokens.length !== n * v.tokenDims)
      throw new Error(
        `vision tokens of ${tokens.length} values do not fit the projector (${n} × ${v.tokenDims} from ${v.encoder})`,
      );
    const out = await this.projector.run({
      vision_tokens: new ort.Tensor('float32', Float32Array.from(tokens), [1, n, v.tokenDims]),
    });
    return out.image_embeds!.data as Float32Array;
  }

  /** The prompt's parts as embeddings, in order: text tokens, and frames between vision markers. */
  async embedParts(parts: readonly PromptPart[]): Promise<{ embeds: Float32Array; length: number }> {
    const D = this.manifest.architecture.hidden;
    const chunks: Float32Array[] = [];
    for (const p of parts) {
      if (typeof p === 'string') chunks.push(await this.embed(this.tokenizer.encode(p)));
      else {
        this.markers ??= {
          start: await this.embed([this.visionStart]),
          end: await this.embed([this.visionEnd]),
        };
        chunks.push(this.markers.start, await this.project(p), this.markers.end);
      }
    }
    const total = chunks.reduce((a, c) => a + c.length, 0);
    const embeds = new Float32Array(total);
    let o = 0;
    for (const c of chunks) {
      embeds.set(c, o);
      o += c.length;
    }
    return { embeds, length: total / D };
  }

  /** One decoder run: embeddings [B, T, D] after a cache of P positions, mask [B, P+T], positions [B, T]. */
  async forward(
    embeds: Float32Array,
    batch: number,
    mask: BigInt64Array,
    positions: BigInt64Array,
    past: KvCache | null,
  ): Promise<ForwardResult> {
    const a = this.manifest.architecture;
    const T = embeds.length / (batch * a.hidden);
    const P = mask.length / batch - T;
    const feeds: Record<string, ort.Tensor> = {
      inputs_embeds: new ort.Tensor('float32', embeds, [batch, T, a.hidden]),
      attention_mask: new ort.Tensor('int64', mask, [batch, P + T]),
      position_ids: new ort.Tensor('int64', positions, [batch, T]),
    };
    for (let l = 0; l < a.layers; l++) {
      const dims = [batch, a.kvHeads, P, a.headDim];
      feeds[`past_key_values.${l}.key`] = new ort.Tensor(
        'float32',
        past?.[l]?.key ?? new Float32Array(0),
        dims,
      );
      feeds[`past_key_values.${l}.value`] = new ort.Tensor(
        'float32',
        past?.[l]?.value ?? new Float32Array(0),
        dims,
      );
    }
    const out = await this.decoder.run(feeds);
    this.stats.runs++;
    const present: KvCache = [];
    const routers: BigInt64Array[] = [];
    for (let l = 0; l < a.layers; l++) {
      present.push({
        key: out[`present.${l}.key`]!.data as Float32Array,
        value: out[`present.${l}.value`]!.data as Float32Array,
      });
      const r = out[`router.${l}`];
      if (r) routers.push(r.data as BigInt64Array);
    }
    return { logits: out.logits!.data as Float32Array, present, routers };
  }

  /** Generates for each request; batched (one run per step for all) or one request after another. */
  async generate(requests: readonly GenerateRequest[], o: GenerateOptions = {}): Promise<GenerateResult[]> {
    if (o.batched === false) {
      const out: GenerateResult[] = [];
      for (const r of requests) out.push(...(await this.generateBatch([r], o.reusePrefix ?? true)));
      return out;
    }
    return this.generateBatch(requests, o.reusePrefix ?? true);
  }

  private async prefixFor(r: GenerateRequest): Promise<{ prefix: Prefix; reused: boolean }> {
    const hit = this.prefixes.get(r.prefixKey);
    if (hit?.text === r.prefix) {
      // most recently used last
      this.prefixes.delete(r.prefixKey);
      this.prefixes.set(r.prefixKey, hit);
      this.stats.prefixHits++;
      return { prefix: hit, reused: true };
    }
    this.stats.prefixMisses++;
    const ids = this.tokenizer.encode(r.prefix);
    const kv =
      ids.length === 0
        ? this.emptyKv()
        : (
            await this.forward(
              await this.embed(ids),
              1,
              new BigInt64Array(ids.length).fill(1n),
              BigInt64Array.from(ids, (_, i) => BigInt(i)),
              null,
            )
          ).present;
    this.stats.promptTokens += ids.length;
    const prefix = { text: r.prefix, ids, kv };
    this.prefixes.delete(r.prefixKey);
    this.prefixes.set(r.prefixKey, prefix);
    while (this.prefixes.size > (this.opts.prefixCacheSize ?? 256))
      this.prefixes.delete(this.prefixes.keys().next().value!);
    return { prefix, reused: false };
  }

  private emptyKv(): KvCache {
    return Array.from({ length: this.manifest.architecture.layers }, () => ({
      key: new Float32Array(0),
      value: new Float32Array(0),
    }));
  }

  private async generateBatch(
    requests: readonly GenerateRequest[],
    reusePrefix: boolean,
  ): Promise<GenerateResult[]> {
    const a = this.manifest.architecture;
    const D = a.hidden;
    const B = requests.length;
    const rows = await Promise.all(
      requests.map(async (r) => {
        const { embeds, length } = await this.embedParts(reusePrefix ? r.parts : [r.prefix, ...r.parts]);
        if (!reusePrefix)
          return { prefix: { text: '', ids: [], kv: this.emptyKv() }, reused: false, embeds, length };
        return { ...(await this.prefixFor(r)), embeds, length };
      }),
    );
    const P = Math.max(...rows.map((r) => r.prefix.ids.length));
    const S = Math.max(...rows.map((r) => r.length));
    if (P + S + Math.max(...requests.map((r) => r.maxNewTokens)) > a.maxPositions)
      throw new Error(
        `prompt of ${P + S} tokens and the answer do not fit the model's ${a.maxPositions} positions`,
      );
    // the rows' cached prefixes right-aligned in P, their prompts right-aligned in S; padding masked out
    const past = this.emptyKv().map(() => ({
      key: new Float32Array(B * a.kvHeads * P * a.headDim),
      value: new Float32Array(B * a.kvHeads * P * a.headDim),
    }));
    const embeds = new Float32Array(B * S * D);
    const mask = new BigInt64Array(B * (P + S));
    const positions = new BigInt64Array(B * S);
    rows.forEach((row, b) => {
      const p = row.prefix.ids.length;
      for (let l = 0; l < a.layers; l++)
        for (let h = 0; h < a.kvHeads; h++) {
          const src = h * p * a.headDim;
          const dst = ((b * a.kvHeads + h) * P + (P - p)) * a.headDim;
          past[l]!.key.set(row.prefix.kv[l]!.key.subarray(src, src + p * a.headDim), dst);
          past[l]!.value.set(row.prefix.kv[l]!.value.subarray(src, src + p * a.headDim), dst);
        }
      embeds.set(row.embeds, (b * S + (S - row.length)) * D);
      for (let i = 0; i < p; i++) mask[b * (P + S) + (P - p) + i] = 1n;
      for (let i = 0; i < row.length; i++) {
        mask[b * (P + S) + P + (S - row.length) + i] = 1n;
        positions[b * S + (S - row.length) + i] = BigInt(p + i);
      }
      this.stats.promptTokens += row.length;
    });

    let out = await this.forward(embeds, B, mask, positions, P > 0 ? past : null);
    let seqLen = P + S;
    let curMask = mask;
    const next = new Array<number>(B);
    const tokens: number[][] = requests.map(() => []);
    const done = requests.map(() => false);
    const pos = rows.map((r) => r.prefix.ids.length + r.length);
    const rand = requests.map((r) => seededRandom(r.seed ?? 1));
    const lastLogits = (T: number) => (b: number) =>
      out.logits.subarray((b * T + T - 1) * a.vocabSize, (b * T + T) * a.vocabSize);
    let T = S;
    for (let step = 0; ; step++) {
      const logitsOf = lastLogits(T);
      for (let b = 0; b < B; b++) {
        if (done[b]) continue;
        next[b] = pick(logitsOf(b), requests[b]!.temperature ?? 0, rand[b]!);
        if (this.stopIds.has(next[b]!)) done[b] = true;
        else tokens[b]!.push(next[b]!);
        if (tokens[b]!.length >= requests[b]!.maxNewTokens) done[b] = true;
      }
      if (done.every(Boolean)) break;
      // the next step: every row feeds its new token (finished rows a stop token, ignored)
      const stepEmbeds = new Float32Array(B * D);
      const ids = next.map((t, b) => (done[b] ? [...this.stopIds][0]! : t));
      const e = await this.embedBatch(ids);
      stepEmbeds.set(e);
      const m = new BigInt64Array(B * (seqLen + 1));
      for (let b = 0; b < B; b++) {
        m.set(curMask.subarray(b * seqLen, (b + 1) * seqLen), b * (seqLen + 1));
        m[b * (seqLen + 1) + seqLen] = 1n;
      }
      const stepPos = BigInt64Array.from(pos, (p) => BigInt(p));
      for (let b = 0; b < B; b++) pos[b]!++;
      out = await this.forward(stepEmbeds, B, m, stepPos, out.present);
      curMask = m;
      seqLen++;
      T = 1;
    }
    this.stats.generatedTokens += tokens.reduce((x, t) => x + t.length, 0);
    return rows.map((row, b) => ({
      tokens: tokens[b]!,
      text: this.tokenizer.decode(tokens[b]!),
      promptTokens: row.length + (row.reused ? 0 : row.prefix.ids.length),
      contextTokens: row.length + row.prefix.ids.length,
      prefixReused: row.reused,
    }));
  }

  private async embedBatch(ids: readonly number[]): Promise<Float32Array> {
    const out = await this.embedder.run({
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [ids.length, 1]),
    });
    return out.inputs_embeds!.data as Float32Array;
  }
}

/** Greedy (temperature 0) or sampled from softmax(logits / temperature). */
function pick(logits: Float32Array, temperature: number, rand: () => number): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  if (temperature <= 0) return best;
  let sum = 0;
  const p = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) sum += p[i] = Math.exp((logits[i]! - logits[best]!) / temperature);
  let r = rand() * sum;
  for (let i = 0; i < p.length; i++) if ((r -= p[i]!) <= 0) return i;
  return best;
}
