export interface BatcherOptions {
  readonly maxBatch: number;
  /** The longest a frame waits for a batch to fill before a smaller batch runs. */
  readonly maxWaitMs: number;
  /** Frames queued per stream; beyond it the stream's oldest frame is dropped (and counted). */
  readonly maxQueuePerStream: number;
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
 * One batch runs at a time (one resident session per model).
 */
export class DynamicBatcher<T, R> {
  private readonly queues = new Map<string, Entry<T, R>[]>();
  private order: string[] = [];
  private next = 0;
  private queued = 0;
  private running = false;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  readonly dropped = new Map<string, number>();
  batches = 0;
  items = 0;

  constructor(
    private readonly opts: BatcherOptions,
    private readonly run: (items: T[]) => Promise<R[]>,
    private readonly now: () => number = Date.now,
  ) {
    if (opts.maxBatch < 1 || opts.maxQueuePerStream < 1)
      throw new RangeError('maxBatch and maxQueuePerStream must be ≥ 1');
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

  /** Rejects everything still queued; a running batch finishes. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const [id, q] of this.queues) for (const e of q.splice(0)) e.reject(new FrameDroppedError(id));
    this.queued = 0;
  }

  private schedule(): void {
    if (this.running || this.queued === 0) return;
    const oldest = Math.min(
      ...[...this.queues.values()].filter((q) => q.length).map((q) => q[0]!.enqueuedAt),
    );
    // timers fire a millisecond or two late: start that much early so no frame waits longer than maxWaitMs
    const slack = Math.min(2, this.opts.maxWaitMs / 4);
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
    this.running = true;
    this.batches++;
    this.items += batch.length;
    try {
      const results = await this.run(batch.map((e) => e.item));
      batch.forEach((e, i) => e.resolve(results[i]!));
    } catch (err) {
      for (const e of batch) e.reject(err as Error);
    } finally {
      this.running = false;
      this.schedule();
    }
  }
}
