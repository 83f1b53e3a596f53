import { type DecodeRequest, type DecodeResult, type Decoder, asFallback } from './decoder.js';

export interface SchedulerOptions {
  /** Windows decoded at once by the backend. */
  readonly concurrency: number;
  /** Windows waiting, all streams together; beyond it the oldest waiting one is narrated by the fallback. */
  readonly maxQueue: number;
}

export interface ScheduledResult<C> {
  readonly request: DecodeRequest;
  readonly context: C;
  readonly result: DecodeResult;
  /** Why the fallback narrated it without asking the backend (replaced by a newer window, queue full). */
  readonly skipped?: string;
  /** From leaving the queue to the result. */
  readonly latencyMs: number;
}

/** A stream's cadence windows replace each other while waiting; a window cut for an anomaly or on request
 * replaces only another such window. */
function queueKey(r: DecodeRequest): string {
  return `${r.streamId}\u0000${r.window.trigger === 'cadence' ? 'cadence' : 'cut'}`;
}

interface Job<C> {
  readonly request: DecodeRequest;
  readonly context: C;
}

/**
 * Decides when windows reach a slow backend, off the frame path: at most `concurrency` at once; while
 * they wait, a stream's newer window replaces its older one (stale narration is worth less than fresh),
 * and the queue is bounded. A window taken out of the queue is not lost: the fallback (grounded, which
 * cannot fail and takes microseconds) narrates it at once, marked as a fallback. Every submitted window
 * reaches `onResult` exactly once.
 */
export class DecodeScheduler<C> {
  private readonly waiting = new Map<string, Job<C>>();
  private running = 0;
  /** Fallback narrations of skipped windows in progress (not counted against the backend's concurrency). */
  private side = 0;
  private idle: (() => void)[] = [];
  submitted = 0;
  replaced = 0;
  overflowed = 0;

  constructor(
    private readonly decoder: Decoder,
    private readonly fallback: Decoder,
    private readonly opts: SchedulerOptions,
    private readonly onResult: (r: ScheduledResult<C>) => void | Promise<void>,
  ) {
    if (opts.concurrency < 1 || opts.maxQueue < 1)
      throw new RangeError('concurrency and maxQueue must be ≥ 1');
  }

  get queued(): number {
    return this.waiting.size;
  }

  submit(request: DecodeRequest, context: C): void {
    this.submitted++;
    const key = queueKey(request);
    const older = this.waiting.get(key);
    if (older) {
      this.waiting.delete(key);
      this.replaced++;
      this.skip(older, 'a newer window of this stream replaced it in the decoder queue');
    } else if (this.waiting.size >= this.opts.maxQueue) {
      const [id, oldest] = this.waiting.entries().next().value as [string, Job<C>];
      this.waiting.delete(id);
      this.overflowed++;
      this.skip(oldest, 'the decoder queue was full');
    }
    this.waiting.set(key, { request, context });
    this.pump();
  }

  /** Resolves once nothing is waiting or running. */
  async drain(): Promise<void> {
    while (this.running > 0 || this.side > 0 || this.waiting.size > 0)
      await new Promise<void>((r) => this.idle.push(r));
  }

  /**
   * Stopping: what is still waiting is narrated by the fallback at once, and the backend's calls in flight
   * get up to `timeoutMs`. Resolves true when everything was passed on in time.
   */
  async close(timeoutMs: number): Promise<boolean> {
    for (const job of [...this.waiting.values()]) this.skip(job, 'the analyzer is stopping');
    this.waiting.clear();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)));
    try {
      return await Promise.race([this.drain().then(() => true), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private skip(job: Job<C>, why: string): void {
    this.side++;
    const t0 = performance.now();
    void this.fallback
      .decode(job.request)
      .then((result) =>
        this.onResult({
          ...job,
          result: asFallback(result),
          skipped: why,
          latencyMs: performance.now() - t0,
        }),
      )
      .finally(() => this.done(true));
  }

  private pump(): void {
    while (this.running < this.opts.concurrency && this.waiting.size > 0) {
      const [id, job] = this.waiting.entries().next().value as [string, Job<C>];
      this.waiting.delete(id);
      this.running++;
      const t0 = performance.now();
      void this.decoder
        .decode(job.request)
        .catch(() => this.fallback.decode(job.request).then(asFallback))
        .then((result) => this.onResult({ ...job, result, latencyMs: performance.now() - t0 }))
        .finally(() => this.done());
    }
  }

  private done(side = false): void {
    if (side) this.side--;
    else this.running--;
    this.pump();
    if (this.running === 0 && this.side === 0 && this.waiting.size === 0)
      for (const wake of this.idle.splice(0)) wake();
  }
}
