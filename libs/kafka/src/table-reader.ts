import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Kafka } from 'kafkajs';
import { type Logger } from '@vigil/observability';
import { type KafkaConnection } from './kafka-client.js';
import { KafkaUnavailableError, kafkaErrorReason } from './kafka-errors.js';
import { type IncomingMessage, KafkaSubscriber } from './message-bus.js';

export interface TableReaderOptions<T> {
  readonly topic: string;
  /** Prefix of this reader's private consumer group (it never commits: every start reads from the start). */
  readonly groupPrefix: string;
  /** A value → its row, or an error message (the message is skipped and logged, the reader goes on). */
  readonly parse: (
    value: Buffer,
    msg: IncomingMessage,
  ) => { ok: true; value: T } | { ok: false; error: string };
  /** Called after a row is set (value) or deleted (null). */
  readonly onChange?: (key: string, value: T | null, msg: IncomingMessage) => void;
}

/**
 * A compacted topic read as a table, kept current: every instance reads every partition from the start in
 * its own consumer group and keeps the latest row per key (a null value deletes it). `caughtUp` resolves
 * once what was on the topic when the reader started has been read.
 */
export class TableReader<T> {
  private readonly rows = new Map<string, T>();
  private readonly subscriber: KafkaSubscriber;
  private readonly admin;
  private readonly consumed = new Map<number, bigint>();
  private targets: Map<number, bigint> | null = null;
  private markCaughtUp!: () => void;
  private readonly caught = new Promise<void>((resolve) => (this.markCaughtUp = resolve));
  skipped = 0;

  constructor(
    kafka: Kafka,
    private readonly conn: KafkaConnection,
    private readonly opts: TableReaderOptions<T>,
    private readonly log: Logger,
  ) {
    this.admin = kafka.admin();
    this.subscriber = new KafkaSubscriber(
      kafka,
      conn,
      {
        groupId: `${opts.groupPrefix}-${randomUUID()}`,
        topics: [opts.topic],
        fromBeginning: true,
        commitOffsets: false,
      },
      log,
    );
  }

  async start(): Promise<void> {
    try {
      await this.admin.connect();
      // a topic created a moment ago may not have its partition leaders yet: retry those errors briefly
      let offsets: Awaited<ReturnType<typeof this.admin.fetchTopicOffsets>> | undefined;
      for (let attempt = 1; !offsets; attempt++) {
        try {
          offsets = await this.admin.fetchTopicOffsets(this.opts.topic);
        } catch (err) {
          if (attempt >= 30 || !(err as { retriable?: boolean }).retriable) throw err;
          await sleep(300);
        }
      }
      // the last offset present when we started, per partition (high watermark − 1); empty ones need nothing
      this.targets = new Map(
        offsets
          .filter((o) => BigInt(o.high) > BigInt(o.low))
          .map((o) => [o.partition, BigInt(o.high) - 1n] as [number, bigint]),
      );
    } catch (err) {
      throw new KafkaUnavailableError(this.conn.brokers, kafkaErrorReason(err));
    } finally {
      await this.admin.disconnect().catch(() => undefined);
    }
    this.check();
    await this.subscriber.start((batch) => {
      for (const msg of batch) this.apply(msg);
      return Promise.resolve();
    });
  }

  private apply(msg: IncomingMessage): void {
    const prev = this.consumed.get(msg.partition);
    const offset = BigInt(msg.offset);
    if (prev === undefined || offset > prev) this.consumed.set(msg.partition, offset);
    if (msg.key !== null) {
      if (msg.value === null) {
        if (this.rows.delete(msg.key)) this.opts.onChange?.(msg.key, null, msg);
      } else {
        const r = this.opts.parse(msg.value, msg);
        if (r.ok) {
          this.rows.set(msg.key, r.value);
          this.opts.onChange?.(msg.key, r.value, msg);
        } else {
          this.skipped++;
          this.log.warn(`skipped a row of ${this.opts.topic}: ${r.error}`, {
            key: msg.key,
            partition: msg.partition,
            offset: msg.offset,
          });
        }
      }
    }
    this.check();
  }

  private check(): void {
    if (!this.targets) return;
    for (const [p, target] of this.targets) if ((this.consumed.get(p) ?? -1n) < target) return;
    this.markCaughtUp();
  }

  /** Resolves once the rows on the topic at start have been read; false if that took over `timeoutMs`. */
  async caughtUp(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    try {
      return await Promise.race([this.caught.then(() => true), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  get(key: string): T | undefined {
    return this.rows.get(key);
  }

  /** Every row, in no particular order. */
  values(): T[] {
    return [...this.rows.values()];
  }

  get size(): number {
    return this.rows.size;
  }

  async stop(): Promise<void> {
    await this.subscriber.stop();
  }
}
