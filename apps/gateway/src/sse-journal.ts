import type Database from 'better-sqlite3';
import { TOPICS } from '@vigil/contracts';
import { type HubEvent } from './event-hub.js';

/** Where a message sits in Kafka: the same for every gateway replica, since each reads every partition. */
export interface KafkaPosition {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

/** Short codes of the topics whose messages GET /events sends, for compact event ids. */
const CODES: Record<string, string> = {
  [TOPICS.anomalies.name]: 'a',
  [TOPICS.summaries.name]: 's',
  [TOPICS.streamStatus.name]: 't',
  [TOPICS.streams.name]: 'c',
};
const TOPIC_OF = Object.fromEntries(Object.entries(CODES).map(([t, c]) => [c, t]));

/** topic:partition → the offset of the last message seen on it. */
export type PositionVector = Map<string, number>;
const tp = (topic: string, partition: number) => `${topic}:${partition}`;

/**
 * An SSE event id: where this replica stands on every partition it has sent events of, e.g.
 * `v1.a0-41.a3-7.s2-118.t5-903`. Any replica (each reads all partitions, each with its own store) can
 * resume from it exactly: every message past those offsets, and none before.
 */
export function encodePosition(v: PositionVector): string {
  const parts: string[] = [];
  for (const [key, offset] of [...v].sort(([a], [b]) => a.localeCompare(b))) {
    const i = key.lastIndexOf(':');
    const code = CODES[key.slice(0, i)];
    if (code) parts.push(`${code}${key.slice(i + 1)}-${offset}`);
  }
  return ['v1', ...parts].join('.');
}

/** The position an event id names, or null when it is not one of ours. */
export function decodePosition(id: string): PositionVector | null {
  const [version, ...parts] = id.trim().split('.');
  if (version !== 'v1' || id.length > 4096) return null;
  const v: PositionVector = new Map();
  for (const p of parts) {
    const m = /^([a-z])(\d{1,5})-(\d{1,18})$/.exec(p);
    const topic = m && TOPIC_OF[m[1]!];
    if (!m || !topic) return null;
    v.set(tp(topic, Number(m[2])), Number(m[3]));
  }
  return v;
}

/** What a reconnecting client gets: the events it missed, or a reset when some are no longer kept. */
export type Resume =
  | { readonly kind: 'events'; readonly events: HubEvent[] }
  | { readonly kind: 'reset'; readonly reason: string };

/**
 * The events GET /events sent, kept in the gateway's SQLite file (written in the same transaction as the
 * rows they come from, so a restart loses none) with their Kafka positions, so that a client reconnecting
 * with Last-Event-ID, to this replica or another, after a restart or not, gets exactly what it missed.
 * Bounded: the oldest rows beyond `maxRows` go, and a client that needed them gets a reset event.
 */
export class SseJournal {
  private readonly position: PositionVector = new Map();
  /** Per topic:partition, the highest offset deleted from the journal. */
  private readonly trimmed = new Map<string, number>();
  private readonly stmts;
  private sinceTrim = 0;

  constructor(
    private readonly db: Database.Database,
    private readonly maxRows: number,
  ) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS sse_journal (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, part INTEGER NOT NULL,
        off INTEGER NOT NULL, type TEXT NOT NULL, stream_id TEXT NOT NULL, data TEXT NOT NULL,
        UNIQUE (topic, part, off));
      CREATE TABLE IF NOT EXISTS sse_trimmed (
        topic TEXT NOT NULL, part INTEGER NOT NULL, off INTEGER NOT NULL, PRIMARY KEY (topic, part));
    `);
    this.stmts = {
      insert: db.prepare(
        'INSERT OR IGNORE INTO sse_journal (topic, part, off, type, stream_id, data) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      after: db.prepare<
        [string, number, number],
        {
          seq: number;
          topic: string;
          part: number;
          off: number;
          type: string;
          stream_id: string;
          data: string;
        }
      >('SELECT * FROM sse_journal WHERE topic = ? AND part = ? AND off > ? ORDER BY off'),
      partitions: db.prepare<[], { topic: string; part: number; off: number }>(
        'SELECT topic, part, MAX(off) AS off FROM sse_journal GROUP BY topic, part',
      ),
      trimmedAll: db.prepare<[], { topic: string; part: number; off: number }>(
        'SELECT topic, part, off FROM sse_trimmed',
      ),
      maxSeq: db.prepare<[], { seq: number | null }>('SELECT MAX(seq) AS seq FROM sse_journal'),
      doomed: db.prepare<[number], { topic: string; part: number; off: number }>(
        'SELECT topic, part, MAX(off) AS off FROM sse_journal WHERE seq <= ? GROUP BY topic, part',
      ),
      setTrimmed: db.prepare(
        `INSERT INTO sse_trimmed (topic, part, off) VALUES (?, ?, ?)
         ON CONFLICT (topic, part) DO UPDATE SET off = MAX(off, excluded.off)`,
      ),
      trim: db.prepare('DELETE FROM sse_journal WHERE seq <= ?'),
    };
    for (const r of this.stmts.partitions.all()) this.position.set(tp(r.topic, r.part), r.off);
    for (const r of this.stmts.trimmedAll.all()) {
      this.trimmed.set(tp(r.topic, r.part), r.off);
      const key = tp(r.topic, r.part);
      if ((this.position.get(key) ?? -1) < r.off) this.position.set(key, r.off);
    }
  }

  /** The id a client that has seen everything sent so far resumes from. */
  currentId(): string {
    return encodePosition(this.position);
  }

  /**
   * Records an event (inside the transaction that stores its row) and returns it with its id; null when
   * this message was journaled before (a redelivery after a restart), so it is not sent twice.
   */
  append(at: KafkaPosition, e: HubEvent): HubEvent | null {
    const data = JSON.stringify(e.data ?? { streamId: e.streamId, deleted: true });
    const r = this.stmts.insert.run(at.topic, at.partition, at.offset, e.type, e.streamId, data);
    if (!r.changes) return null;
    const key = tp(at.topic, at.partition);
    if ((this.position.get(key) ?? -1) < at.offset) this.position.set(key, at.offset);
    if (++this.sinceTrim >= Math.max(50, this.maxRows / 20)) this.trim();
    return { ...e, id: this.currentId(), at };
  }

  private trim(): void {
    this.sinceTrim = 0;
    const max = this.stmts.maxSeq.get()?.seq ?? 0;
    const upTo = max - this.maxRows;
    if (upTo <= 0) return;
    for (const r of this.stmts.doomed.all(upTo)) {
      this.stmts.setTrimmed.run(r.topic, r.part, r.off);
      const key = tp(r.topic, r.part);
      this.trimmed.set(key, Math.max(this.trimmed.get(key) ?? -1, r.off));
    }
    this.stmts.trim.run(upTo);
  }

  /** What a client that last saw `lastEventId` missed, in the order this replica sent it. */
  resume(lastEventId: string): Resume {
    const seen = decodePosition(lastEventId);
    if (!seen) return { kind: 'reset', reason: 'Last-Event-ID is not an id this gateway sent' };
    for (const [key, off] of this.trimmed)
      if ((seen.get(key) ?? -1) < off)
        return {
          kind: 'reset',
          reason: `events after Last-Event-ID are no longer kept (VIGIL_GATEWAY_SSE_JOURNAL); reload the lists`,
        };
    const rows: { seq: number; event: HubEvent }[] = [];
    for (const key of this.position.keys()) {
      const i = key.lastIndexOf(':');
      const topic = key.slice(0, i);
      const partition = Number(key.slice(i + 1));
      for (const r of this.stmts.after.all(topic, partition, seen.get(key) ?? -1)) {
        const at = { topic, partition, offset: r.off };
        rows.push({
          seq: r.seq,
          event: {
            type: r.type as HubEvent['type'],
            streamId: r.stream_id,
            data: JSON.parse(r.data) as unknown,
            at,
          },
        });
      }
    }
    rows.sort((a, b) => a.seq - b.seq);
    // each replayed event carries the position just after it, as it would have live
    const v: PositionVector = new Map(seen);
    const events = rows.map(({ event }) => {
      v.set(tp(event.at!.topic, event.at!.partition), event.at!.offset);
      return { ...event, id: encodePosition(v) };
    });
    return { kind: 'events', events };
  }

  /**
   * The id to send with a live event to a client that resumed from `floor`: never behind what it had
   * seen, on any partition (this replica may be behind the one it came from).
   */
  static atLeast(floor: PositionVector | null, id: string): string {
    if (!floor) return id;
    const v = decodePosition(id) ?? new Map<string, number>();
    for (const [key, off] of floor) if ((v.get(key) ?? -1) < off) v.set(key, off);
    return encodePosition(v);
  }

  /** Whether a client resuming from `seen` already has the message at `at` (a replica behind another). */
  static seen(seen: PositionVector | null, at: KafkaPosition | undefined): boolean {
    if (!seen || !at) return false;
    return at.offset <= (seen.get(tp(at.topic, at.partition)) ?? -1);
  }
}
