import { Worker } from 'node:worker_threads';
import type ort from 'onnxruntime-node';

export interface OrtSignature {
  readonly inputNames: string[];
  readonly outputNames: string[];
  /** Input shapes as the model declares them: numbers, or the names of symbolic dimensions. */
  readonly inputs: { name: string; shape: (number | string)[] | null }[];
}

export type OrtTensorType = 'float32' | 'int64' | 'int32' | 'bool' | 'uint8';

export interface OrtFeed {
  readonly type: OrtTensorType;
  /** A typed array; one over a SharedArrayBuffer reaches the worker without a copy. */
  readonly data: Float32Array | BigInt64Array | Int32Array | Uint8Array;
  readonly dims: readonly number[];
}

export interface OrtOutput {
  readonly data: unknown;
  readonly dims: number[];
}

export type OrtRequest =
  | { id: number; op: 'load'; bytes: Uint8Array; options: ort.InferenceSession.SessionOptions }
  | { id: number; op: 'run'; feeds: Record<string, OrtFeed> }
  | { id: number; op: 'release' };

export type OrtReply =
  | { id: number; ok: true; signature?: OrtSignature; outputs?: Record<string, OrtOutput> }
  | { id: number; ok: false; error: string };

/** Why a session on the worker thread failed: ONNX Runtime's first line, or that the thread died. */
export class OrtSessionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OrtSessionError';
  }
}

/**
 * One ONNX Runtime session resident on its own worker thread, so inference never blocks the event loop.
 * Runs are answered in the order they were asked. If the thread dies, every pending and later call fails
 * with OrtSessionError instead of hanging.
 */
export class OrtWorkerSession {
  private readonly pending = new Map<
    number,
    { resolve: (r: OrtReply) => void; reject: (e: Error) => void }
  >();
  private nextId = 1;
  private dead: Error | null = null;

  private _signature: OrtSignature | null = null;

  private constructor(private readonly worker: Worker) {
    this.listen();
  }

  /** The model's input and output names and declared input shapes. */
  get signature(): OrtSignature {
    return this._signature!;
  }

  static async create(
    bytes: Uint8Array,
    options: ort.InferenceSession.SessionOptions,
  ): Promise<OrtWorkerSession> {
    const session = new OrtWorkerSession(new Worker(new URL('./ort-worker.js', import.meta.url)));
    try {
      session._signature = (await session.call({ id: 0, op: 'load', bytes, options })).signature!;
      return session;
    } catch (e) {
      await session.worker.terminate();
      throw e;
    }
  }

  private listen(): void {
    this.worker.on('message', (r: OrtReply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.ok) p.resolve(r);
      else p.reject(new OrtSessionError(r.error));
    });
    const fail = (why: string) => {
      this.dead ??= new OrtSessionError(`the ONNX Runtime worker thread ${why}`);
      for (const p of this.pending.values()) p.reject(this.dead);
      this.pending.clear();
    };
    this.worker.on('error', (e) => fail(`failed: ${e.message.split('\n')[0]}`));
    this.worker.on('exit', (code) => fail(`exited (code ${code})`));
  }

  private call(req: OrtRequest): Promise<OrtReply & { ok: true }> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (r: OrtReply) => void, reject });
      this.worker.postMessage({ ...req, id });
    });
  }

  async run(feeds: Record<string, OrtFeed>): Promise<Record<string, OrtOutput>> {
    const r = await this.call({ id: 0, op: 'run', feeds });
    return r.outputs ?? {};
  }

  /** Releases the session and ends the thread. */
  async release(): Promise<void> {
    if (!this.dead) await this.call({ id: 0, op: 'release' }).catch(() => undefined);
    this.dead ??= new OrtSessionError('the session was released');
    await this.worker.terminate();
  }
}
