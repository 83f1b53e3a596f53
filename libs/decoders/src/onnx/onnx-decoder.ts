import { Worker } from 'node:worker_threads';
import { type DecoderManifest } from '@vigil/contracts';
import { DynamicBatcher } from '@vigil/vision';
import {
  type DecodeRequest,
  type DecodeResult,
  type Decoder,
  type DecoderInputs,
  DecoderError,
} from '../decoder.js';
import { DECODER_ANSWER_SCHEMA, SYSTEM_PROMPT, windowText } from '../prompt.js';
import {
  type GenerateOptions,
  type GenerateRequest,
  type GenerateResult,
  type RuntimeOptions,
  type RuntimeStats,
  emptyStats,
  readDecoderManifest,
} from './decoder-runtime.js';

export type DecoderWorkerRequest =
  | { id: number; op: 'load'; manifestPath: string; options: RuntimeOptions }
  | { id: number; op: 'generate'; requests: GenerateRequest[]; options: GenerateOptions }
  | { id: number; op: 'release' };

export type DecoderWorkerReply =
  | {
      id: number;
      ok: true;
      manifest?: DecoderManifest;
      results?: GenerateResult[];
      stats?: RuntimeStats;
    }
  | { id: number; ok: false; error: string };

export interface OnnxDecoderOptions extends RuntimeOptions {
  /** models/<name>/model.json of the decoder. */
  readonly manifestPath: string;
  /** Windows of different streams generated together. */
  readonly maxBatch?: number;
  /** The longest a window waits for others to batch with. */
  readonly maxWaitMs?: number;
  readonly maxNewTokens?: number;
  readonly temperature?: number;
  /** Reuse each stream's prefix KV (default true; false only to measure what it saves). */
  readonly reusePrefix?: boolean;
}

/**
 * The in-process `onnx` backend: a decoder-only model (Hugging Face ONNX export layout, MoE or dense)
 * resident on a worker thread for the process's life (CPU here, CUDA on GPU nodes). Windows of several
 * streams that arrive together are generated as one batch; each stream's prefix — the system text and the
 * camera's context — is computed once and reused. The window's frames go in as vision tokens through the
 * model's projector. The answer must be the JSON the prompt asks for; anything else is a DecoderError, and
 * the resilience wrapper narrates the window with grounded instead.
 */
export class OnnxDecoder implements Decoder {
  readonly type = 'onnx';
  readonly manifest: DecoderManifest;
  readonly inputs: DecoderInputs;
  private readonly worker: Worker;
  private readonly pending = new Map<number, (r: DecoderWorkerReply) => void>();
  private nextId = 1;
  private dead: Error | null = null;
  private readonly loaded: Promise<void>;
  private readonly batcher: DynamicBatcher<GenerateRequest, GenerateResult>;
  stats: RuntimeStats = emptyStats();

  constructor(private readonly opts: OnnxDecoderOptions) {
    this.manifest = readDecoderManifest(opts.manifestPath);
    const perFrame = this.manifest.vision.tokensPerFrame + 2;
    this.inputs = { jpeg: false, tokens: true, tokensPerFrame: () => perFrame };
    this.worker = new Worker(new URL('./decoder-worker.js', import.meta.url));
    this.worker.on('message', (r: DecoderWorkerReply) => {
      const p = this.pending.get(r.id);
      this.pending.delete(r.id);
      p?.(r);
    });
    const fail = (why: string) => {
      this.dead ??= new DecoderError(`the onnx decoder's thread ${why}`, false);
      for (const p of this.pending.values()) p({ id: 0, ok: false, error: this.dead.message });
      this.pending.clear();
    };
    this.worker.on('error', (e) => fail(`failed: ${e.message.split('\n')[0]}`));
    this.worker.on('exit', (code) => fail(`exited (code ${code})`));
    const { manifestPath, provider, threads, prefixCacheSize, memoryPattern } = opts;
    this.loaded = this.call({
      id: 0,
      op: 'load',
      manifestPath,
      options: {
        ...(provider ? { provider } : {}),
        ...(threads ? { threads } : {}),
        ...(prefixCacheSize ? { prefixCacheSize } : {}),
        ...(memoryPattern !== undefined ? { memoryPattern } : {}),
      },
    }).then(() => undefined);
    // a failed load is reported by start() and by every decode
    this.loaded.catch(() => undefined);
    this.batcher = new DynamicBatcher<GenerateRequest, GenerateResult>(
      { maxBatch: opts.maxBatch ?? 8, maxWaitMs: opts.maxWaitMs ?? 10, maxQueuePerStream: 4 },
      (items) => this.generate(items),
    );
  }

  /** Resolves once the model is loaded; rejects with why it cannot be (the analyzer stops at boot). */
  start(): Promise<void> {
    return this.loaded;
  }

  private call(req: DecoderWorkerRequest): Promise<DecoderWorkerReply & { ok: true }> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, (r) =>
        r.ok ? resolve(r) : reject(new DecoderError(`onnx decoder: ${r.error}`, false)),
      );
      this.worker.postMessage({ ...req, id });
    });
  }

  /** Generates for several windows at once (the batcher's run; also the benchmark's entry). */
  async generate(requests: GenerateRequest[], options: GenerateOptions = {}): Promise<GenerateResult[]> {
    await this.loaded;
    const r = await this.call({
      id: 0,
      op: 'generate',
      requests,
      options: { reusePrefix: this.opts.reusePrefix ?? true, ...options },
    });
    if (r.stats) this.stats = r.stats;
    return r.results!;
  }

  /** The generation request for a window: the stream's shared prefix, then the window's text and frames. */
  request(r: DecodeRequest): GenerateRequest {
    const who = r.streamName ? `${r.streamName} (${r.streamId})` : r.streamId;
    const prefix = [
      `<|im_start|>system\n${SYSTEM_PROMPT}<|im_end|>\n`,
      `<|im_start|>user\nCamera ${who}.${r.context ? ` What is normal here: ${r.context}` : ''}\n`,
    ].join('');
    const frames = r.window.frames.flatMap((f) => (f.tokens ? [f.tokens] : []));
    return {
      prefixKey: r.streamId,
      prefix,
      parts: [windowText(r, frames.length, false), ...frames, '<|im_end|>\n<|im_start|>assistant\n'],
      maxNewTokens: this.opts.maxNewTokens ?? 160,
      temperature: this.opts.temperature ?? 0,
      seed: r.window.end % 2 ** 31,
    };
  }

  async decode(request: DecodeRequest, signal?: AbortSignal): Promise<DecodeResult> {
    if (signal?.aborted) throw new DecoderError('the window was given up before it was decoded', true);
    const result = await this.batcher.submit(request.streamId, this.request(request));
    const text = result.text.trim();
    const start = text.indexOf('{');
    const end = text.lastIndexOf('}');
    let json: unknown;
    try {
      json = JSON.parse(start >= 0 && end > start ? text.slice(start, end + 1) : text);
    } catch {
      throw new DecoderError(`onnx decoder answer is not JSON: ${JSON.stringify(text.slice(0, 80))}`, false);
    }
    const answer = DECODER_ANSWER_SCHEMA.safeParse(json);
    if (!answer.success)
      throw new DecoderError(
        `onnx decoder answer does not match its schema: ${answer.error.issues[0]?.message}`,
        false,
      );
    return {
      summary: answer.data.summary,
      findings: answer.data.findings,
      decoder: { type: this.type, model: this.manifest.name, fallback: false },
      tokens: { prompt: result.contextTokens, completion: result.tokens.length },
    };
  }

  async close(): Promise<void> {
    await this.batcher.close();
    if (!this.dead) await this.call({ id: 0, op: 'release' }).catch(() => undefined);
    this.dead ??= new DecoderError('the onnx decoder was closed', false);
    await this.worker.terminate();
  }
}
