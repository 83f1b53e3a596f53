export interface BatcherOptions {
  readonly maxBatch: number;
  /** The longest a frame waits for a batch to fill before a smaller batch runs. */
  readonly maxWaitMs: number;
  /** Frames queued per stream; beyond it the stream's oldest frame is dropped (and counted). */
  readonly maxQueuePerStream: number;
  /**
   * Batches in flight at once (default 1). Two let a pipelined `run` prepare the next batch (decode on
   * libvips' threads) while the current one is in the model; `run` itself must keep the model's turns.
   */
  readonly concurrency?: number;
}

export class FrameDroppedError extends Error {
  constructor(readonly streamId: string) {
    super(`frame of ${streamId} dropped: the encoder is behind and the stream's queue is full`);
    this.name = 'FrameDroppedError';
  }
}

interface Entry<T, R> {
  readonly item: T;
  readonly enqueuedAt: number;
  readonly resolve: (r: R) => void;
  readonly reject: (e: Error) => void;
}

/**
 * Gathers frames from many streams into batches for one model: a batch runs as soon as `maxBatch` frames
 * wait, or when the oldest has waited `maxWaitMs`. Streams take turns (round-robin), so a busy camera
 * cannot starve a quiet one; each stream's queue is bounded and drops its oldest frame under overload.
 * `concurrency` batches run at a time (1 by default; one resident session per model). `run` may answer an
 * Error in a frame's place: that frame alone is rejected (a corrupt JPEG does not fail its batch).
 */
export class DynamicBatcher<T, R> {
  private readonly queues = new Map<string, Entry<T, R>[]>();
  private order: string[] = [];
  private next = 0;
  private queued = 0;
  private inFlight = 0;
  private idle: (() => void)[] = [];
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  readonly dropped = new Map<string, number>();
  batches = 0;
  items = 0;

  constructor(
    private readonly opts: BatcherOptions,
    private readonly run: (items: T[]) => Promise<(R | Error)[]>,
    private readonly now: () => number = Date.now,
  ) {
    if (opts.maxBatch < 1 || opts.maxQueuePerStream < 1 || (opts.concurrency ?? 1) < 1)
      throw new RangeError('maxBatch, maxQueuePerStream and concurrency must be ≥ 1');
  }

  submit(streamId: string, item: T): Promise<R> {
    if (this.closed) return Promise.reject(new Error('batcher is closed'));
    return new Promise<R>((resolve, reject) => {
      let q = this.queues.get(streamId);
      if (!q) {
        q = [];
        this.queues.set(streamId, q);
        this.order.push(streamId);
      }
      q.push({ item, enqueuedAt: this.now(), resolve, reject });
      this.queued++;
      if (q.length > this.opts.maxQueuePerStream) {
        const oldest = q.shift()!;
        this.queued--;
        this.dropped.set(streamId, (this.dropped.get(streamId) ?? 0) + 1);
        oldest.reject(new FrameDroppedError(streamId));
      }
      this.schedule();
    });
  }

  /** Rejects everything still queued; resolves once the batches already running have finished. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const [id, q] of this.queues) for (const e of q.splice(0)) e.reject(new FrameDroppedError(id));
    this.queued = 0;
    while (this.inFlight > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  private schedule(): void {
    if (this.inFlight >= (this.opts.concurrency ?? 1) || this.queued === 0) return;
    const oldest = Math.min(
      ...[...this.queues.values()].filter((q) => q.length).map((q) => q[0]!.enqueuedAt),
    );
    // timers fire late (a busy event loop, a loaded VM): start a little early so no frame waits past maxWaitMs
    const slack = Math.min(5, this.opts.maxWaitMs / 4);
    const due = oldest + this.opts.maxWaitMs - slack - this.now();
    if (this.queued >= this.opts.maxBatch || due <= 0) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      void this.flush();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.schedule();
      }, due);
    }
  }

  /** Takes up to maxBatch frames, one per stream per turn, continuing the rotation from the last batch. */
  private take(): Entry<T, R>[] {
    const batch: Entry<T, R>[] = [];
    let idle = 0;
    while (batch.length < this.opts.maxBatch && this.queued > 0 && idle < this.order.length) {
      const id = this.order[this.next % this.order.length]!;
      this.next = (this.next + 1) % this.order.length;
      const q = this.queues.get(id)!;
      const e = q.shift();
      if (e) {
        batch.push(e);
        this.queued--;
        idle = 0;
      } else {
        idle++;
      }
    }
    // forget streams with nothing queued, so the rotation stays short
    for (const [id, q] of this.queues) {
      if (q.length === 0) {
        this.queues.delete(id);
        const i = this.order.indexOf(id);
        this.order.splice(i, 1);
        if (i < this.next) this.next--;
      }
    }
    if (this.order.length) this.next %= this.order.length;
    else this.next = 0;
    return batch;
  }

  private async flush(): Promise<void> {
    const batch = this.take();
    if (batch.length === 0) return;
    this.inFlight++;
    this.batches++;
    this.items += batch.length;
    // a second batch may start (pipelining) while this one runs
    this.schedule();
    try {
      const results = await this.run(batch.map((e) => e.item));
      batch.forEach((e, i) => {
        const r = results[i]!;
        if (r instanceof Error) e.reject(r);
        else e.resolve(r);
      });
    } catch (err) {
      for (const e of batch) e.reject(err as Error);
    } finally {
      this.inFlight--;
      if (this.inFlight === 0) for (const wake of this.idle.splice(0)) wake();
      this.schedule();
    }
  }
}
