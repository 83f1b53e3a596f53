import {
  appendFileSync,
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { type Logger } from '@vigil/observability';
import { type KafkaPublisher, type OutgoingMessage } from './message-bus.js';
import { kafkaErrorReason } from './kafka-errors.js';

interface Entry {
  readonly topic: string;
  readonly key: string;
  /** base64 of the value; null for a tombstone */
  readonly value: string | null;
  readonly headers: Record<string, string>;
  readonly timestamp?: number;
}

export interface OutboxOptions {
  /** Directory of the outbox file (created if missing); one outbox per app instance. */
  readonly dir: string;
  /** Most bytes kept on disk; past it new messages are refused (counted and logged). */
  readonly maxBytes: number;
  /** Wait between attempts while Kafka is away: doubles from 500 ms up to this. */
  readonly retryMaxMs?: number;
}

export interface OutboxStats {
  /** Messages waiting on disk. */
  readonly pending: number;
  readonly pendingBytes: number;
  /** Messages that went to disk because Kafka did not take them. */
  readonly spooled: number;
  /** Messages refused because the outbox was full. */
  readonly refused: number;
  /** Messages dropped because Kafka rejected them for good (too large, invalid). */
  readonly rejected: number;
}

/**
 * Publishing that survives a Kafka outage for what must not be lost (anomaly events, summaries,
 * baselines). A publish goes straight to Kafka while it answers; when it does not, the messages are
 * appended (fsync'd) to a file and `publish` resolves: they are on disk. From then on every publish goes
 * behind them, and a drainer sends the file's messages in order once Kafka is back. The file is read at
 * start, so a process restarted during the outage sends what it kept. A message may be sent twice (a
 * crash between Kafka's ack and the file's rewrite); ids are deterministic, so consumers drop repeats.
 * Bounded: past `maxBytes` new messages are refused and counted, never kept in memory instead.
 */
export class DurableOutbox {
  /** Where the outbox lives: opts.dir, or a fresh folder when another live outbox holds that one. */
  readonly dir: string;
  private readonly file: string;
  private readonly pending: Entry[] = [];
  private bytes = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private draining = false;
  private drainDone: Promise<void> = Promise.resolve();
  private stopped = false;
  private wake: (() => void) | null = null;
  private stats = { spooled: 0, refused: 0, rejected: 0 };
  private idle: (() => void)[] = [];

  constructor(
    private readonly publisher: KafkaPublisher,
    private readonly opts: OutboxOptions,
    private readonly logger: Logger,
  ) {
    this.dir = lockDir(opts.dir, logger);
    this.file = join(this.dir, 'outbox.jsonl');
    let text = '';
    try {
      text = readFileSync(this.file, 'utf8');
    } catch {
      // no outbox yet
    }
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        this.pending.push(JSON.parse(line) as Entry);
        this.bytes += line.length + 1;
      } catch {
        // a line cut by a crash mid-write: everything before it is intact
        logger.warn('outbox: skipped a partly written line');
      }
    }
    if (this.pending.length) {
      logger.info(`outbox: ${this.pending.length} messages kept from before; sending them first`);
      this.startDrain();
    }
  }

  /** Resolves once Kafka acknowledged the messages or they are on disk (or refused: outbox full). */
  publish(topic: string, messages: readonly OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return Promise.resolve();
    const entries = messages.map((m) => toEntry(topic, m));
    const run = this.chain.then(async () => {
      if (this.pending.length === 0 && !this.stopped) {
        try {
          await this.publisher.publish(topic, messages);
          return;
        } catch (err) {
          if (!isRetriable(err)) return this.reject(entries, err);
          this.logger.warn(
            `Kafka did not take ${entries.length} message(s) for ${topic} (${kafkaErrorReason(err)}); keeping them on disk until it is back`,
          );
        }
      }
      this.spool(entries);
      this.startDrain();
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  snapshot(): OutboxStats {
    return { pending: this.pending.length, pendingBytes: this.bytes, ...this.stats };
  }

  /** Resolves once nothing is waiting (or after timeoutMs; false then). */
  async flushed(timeoutMs: number): Promise<boolean> {
    await this.chain;
    if (!this.pending.length) return true;
    this.wake?.();
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.idle.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Stops draining; what is still pending stays on disk for the next start. */
  async close(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    // a send in flight finishes (or fails) first, so the file says exactly what Kafka has not got
    await this.drainDone;
    await this.chain;
    HELD.delete(this.dir);
    rmSync(join(this.dir, 'outbox.lock'), { force: true });
  }

  private spool(entries: Entry[]): void {
    const lines = entries.map((e) => JSON.stringify(e) + '\n');
    const size = lines.reduce((n, l) => n + l.length, 0);
    if (this.bytes + size > this.opts.maxBytes) {
      this.stats.refused += entries.length;
      this.logger.error(
        `outbox full (${Math.round(this.bytes / 1e6)} MB of ${Math.round(this.opts.maxBytes / 1e6)} MB): ${entries.length} message(s) for ${entries[0]!.topic} dropped; raise VIGIL_OUTBOX_MAX_MB or bring Kafka back`,
      );
      return;
    }
    const fd = openSync(this.file, 'a');
    try {
      appendFileSync(fd, lines.join(''));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.pending.push(...entries);
    this.bytes += size;
    this.stats.spooled += entries.length;
  }

  private reject(entries: Entry[], err: unknown): void {
    this.stats.rejected += entries.length;
    this.logger.error(
      `Kafka refused ${entries.length} message(s) for ${entries[0]!.topic} for good (${kafkaErrorReason(err)}); dropped`,
    );
  }

  private startDrain(): void {
    if (this.draining || this.stopped) return;
    this.draining = true;
    this.drainDone = this.drain().finally(() => (this.draining = false));
  }

  private async drain(): Promise<void> {
    let delay = 500;
    while (this.pending.length && !this.stopped) {
      // the head run of one topic, up to 100 messages, sent in order
      const head = this.pending[0]!;
      let n = 0;
      while (n < this.pending.length && n < 100 && this.pending[n]!.topic === head.topic) n++;
      const batch = this.pending.slice(0, n);
      try {
        await this.publisher.publish(head.topic, batch.map(fromEntry));
        await this.inChain(() => this.dropHead(n));
        delay = 500;
      } catch (err) {
        if (!isRetriable(err)) {
          this.reject(batch, err);
          await this.inChain(() => this.dropHead(n));
          continue;
        }
        this.logger.debug(
          `outbox: Kafka still away (${kafkaErrorReason(err)}); ${this.pending.length} waiting`,
        );
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = null;
        delay = Math.min(delay * 2, this.opts.retryMaxMs ?? 5_000);
      }
    }
    if (!this.pending.length) {
      this.logger.info('outbox: every kept message is published');
      for (const f of this.idle.splice(0)) f();
    }
  }

  /** Runs fn after every publish queued before it, as one of them. */
  private inChain(fn: () => void): Promise<void> {
    const step = this.chain.then(fn);
    this.chain = step.catch(() => undefined);
    return step;
  }

  /** Removes the first n entries (sent) and rewrites the file atomically with the rest. */
  private dropHead(n: number): void {
    this.pending.splice(0, n);
    const text = this.pending.map((e) => JSON.stringify(e) + '\n').join('');
    this.bytes = text.length;
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, this.file);
  }
}

/** Folders held by outboxes of this process. */
const HELD = new Set<string>();

/**
 * Takes `dir` for this outbox: a lock file with our pid keeps a second outbox (another process, or another
 * instance in this one, as in tests) from writing the same file; a lock whose process is gone is taken
 * over, so a restarted app finds what it kept. When `dir` is held, a fresh folder beside it is used.
 */
function lockDir(dir: string, logger: Logger): string {
  const take = (d: string): boolean => {
    mkdirSync(d, { recursive: true });
    const lock = join(d, 'outbox.lock');
    if (HELD.has(d)) return false;
    try {
      const pid = Number(readFileSync(lock, 'utf8'));
      if (pid && pid !== process.pid && alive(pid)) return false;
    } catch {
      // no lock
    }
    writeFileSync(lock, String(process.pid));
    HELD.add(d);
    return true;
  };
  if (take(dir)) return dir;
  for (let i = 1; ; i++) {
    const alt = `${dir}-${i}`;
    if (take(alt)) {
      logger.warn(`outbox: ${dir} is in use by another process; using ${alt}`);
      return alt;
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function toEntry(topic: string, m: OutgoingMessage): Entry {
  return {
    topic,
    key: m.key,
    value: m.value === null ? null : Buffer.from(m.value).toString('base64'),
    headers: { ...m.headers },
    ...(m.timestamp !== undefined ? { timestamp: m.timestamp } : {}),
  };
}

function fromEntry(e: Entry): OutgoingMessage {
  return {
    key: e.key,
    value: e.value === null ? null : Buffer.from(e.value, 'base64'),
    headers: e.headers,
    ...(e.timestamp !== undefined ? { timestamp: e.timestamp } : {}),
  };
}

/** False for what Kafka will never take (too large, invalid, not allowed); anything else (the broker away,
 * a leader moving, timeouts) is worth another try. */
function isRetriable(err: unknown): boolean {
  let e: unknown = err;
  for (let i = 0; i < 6 && e && typeof e === 'object'; i++) {
    const type = (e as { type?: unknown }).type;
    if (typeof type === 'string' && FINAL_TYPES.has(type)) return false;
    e = (e as { originalError?: unknown; cause?: unknown }).originalError ?? (e as { cause?: unknown }).cause;
  }
  return true;
}

const FINAL_TYPES = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'CORRUPT_MESSAGE',
  'TOPIC_AUTHORIZATION_FAILED',
  'INVALID_TOPIC_EXCEPTION',
]);
