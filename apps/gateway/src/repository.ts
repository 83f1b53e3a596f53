import { randomUUID } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { type AnomalyEvent, type ScoreSample, type StreamStatus, type Summary } from '@vigil/contracts';
import { SearchDocs } from './search-docs.js';
import { SseJournal } from './sse-journal.js';

/** An anomaly event as the API shows it: its latest message, evidence as a link instead of inline. */
export type StoredAnomaly = Omit<AnomalyEvent, 'evidence'> & { evidenceUrl: string | null };

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

export interface AnomalyQuery {
  streamId?: string;
  kind?: string;
  severity?: string;
  /** open: not ended yet; ended: with an end message. */
  state?: 'open' | 'ended';
  /** Started at or after / before (ms since epoch). */
  since?: number;
  until?: number;
  limit: number;
  cursor?: string;
}

export interface SummaryQuery {
  streamId?: string;
  level?: string;
  since?: number;
  until?: number;
  limit: number;
  cursor?: string;
}

/** A cursor names the last row of a page by (time, id); the next page starts strictly after it. */
export class BadCursorError extends Error {
  constructor() {
    super('cursor: is not a cursor this API returned; pass nextCursor from the previous page unchanged');
  }
}

const encodeCursor = (t: number, id: string) => Buffer.from(`${t}|${id}`).toString('base64url');
function decodeCursor(c: string): { t: number; id: string } {
  const m = /^(\d{1,15})\|([0-9a-f-]{36})$/.exec(Buffer.from(c, 'base64url').toString());
  if (!m) throw new BadCursorError();
  return { t: Number(m[1]), id: m[2]! };
}

/** The API's link to an event's evidence picture. */
const evidenceUrl = (eventId: string) => `/api/anomalies/${eventId}/evidence.jpg`;

/** A stored row as the API shows it: the latest message, its evidence as a link (the image is not read). */
function anomalyView(r: { event_id: string; body: string; has_evidence: number }): StoredAnomaly {
  return {
    ...(JSON.parse(r.body) as Omit<AnomalyEvent, 'evidence'>),
    evidenceUrl: r.has_evidence ? evidenceUrl(r.event_id) : null,
  };
}

/** A page from `limit + 1` rows: the extra row only says whether there is a next page. */
function pageOf<R, T>(rows: R[], limit: number, key: (r: R) => [number, string], item: (r: R) => T): Page<T> {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    items: page.map(item),
    nextCursor: rows.length > limit && last ? encodeCursor(...key(last)) : null,
  };
}

/** SQL conditions and their arguments, built up filter by filter. */
function conditions() {
  const where: string[] = [];
  const args: (string | number)[] = [];
  const add = (sql: string, ...values: (string | number)[]) => {
    where.push(sql);
    args.push(...values);
  };
  return { where, args, add };
}

const PHASE_RANK = { start: 0, update: 1, end: 2 } as const;

/** Rows GatewayStore.trimTo deleted, by kind. */
export interface Trimmed {
  windowSummaries: number;
  endedEvents: number;
  rollups: number;
}

/**
 * The gateway's repository of what it materializes from Kafka: the latest message of each anomaly event,
 * every summary, each camera's latest status and its recent scores. The services read and write it; no
 * controller does. SQLite (better-sqlite3) in one local file, so a restarted
 * gateway answers at once and resumes reading where it stopped (the consumer group is kept in the file:
 * a new file reads the topics from the start). Writes are idempotent: a redelivered message changes nothing.
 */
export class GatewayRepository {
  private readonly db: Database.Database;
  private readonly stmts;
  /** The searchable rows of the summaries and events, written with them. */
  readonly search: SearchDocs;
  /** The events GET /events sent, for clients that reconnect with Last-Event-ID. */
  readonly journal: SseJournal;

  constructor(path: string, journalRows = 20_000) {
    if (path !== ':memory:') {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      // owner-only: the history, search texts and evidence pictures are the site's. SQLite gives its -wal
      // and -shm files the main file's mode, so setting it before the first open covers them too.
      closeSync(openSync(path, 'a', 0o600));
      chmodSync(path, 0o600);
    }
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS anomalies (
        event_id TEXT PRIMARY KEY, stream_id TEXT NOT NULL, kind TEXT NOT NULL, severity TEXT NOT NULL,
        phase TEXT NOT NULL, started_ms INTEGER NOT NULL, observed_ms INTEGER NOT NULL,
        body TEXT NOT NULL, evidence BLOB);
      CREATE INDEX IF NOT EXISTS anomalies_by_start ON anomalies (started_ms DESC, event_id DESC);
      CREATE INDEX IF NOT EXISTS anomalies_by_stream ON anomalies (stream_id, started_ms DESC);
      CREATE TABLE IF NOT EXISTS summaries (
        summary_id TEXT PRIMARY KEY, stream_id TEXT NOT NULL, level TEXT NOT NULL,
        end_ms INTEGER NOT NULL, body TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS summaries_by_end ON summaries (end_ms DESC, summary_id DESC);
      CREATE INDEX IF NOT EXISTS summaries_by_stream ON summaries (stream_id, end_ms DESC);
      CREATE TABLE IF NOT EXISTS status (stream_id TEXT PRIMARY KEY, at_ms INTEGER NOT NULL, body TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS scores (
        stream_id TEXT NOT NULL, at_ms INTEGER NOT NULL, score REAL NOT NULL, PRIMARY KEY (stream_id, at_ms))
        WITHOUT ROWID;
    `);
    this.search = new SearchDocs(this.db);
    this.journal = new SseJournal(this.db, journalRows);
    this.stmts = {
      meta: this.db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)'),
      anomaly: this.db.prepare<
        [string],
        { phase: string; observed_ms: number; body: string; evidence: Buffer | null }
      >('SELECT phase, observed_ms, body, evidence FROM anomalies WHERE event_id = ?'),
      putAnomaly: this.db.prepare(
        `INSERT OR REPLACE INTO anomalies (event_id, stream_id, kind, severity, phase, started_ms, observed_ms, body, evidence)
         VALUES (@eventId, @streamId, @kind, @severity, @phase, @startedMs, @observedMs, @body, @evidence)`,
      ),
      putSummary: this.db.prepare(
        `INSERT OR REPLACE INTO summaries (summary_id, stream_id, level, end_ms, body)
         VALUES (@summaryId, @streamId, @level, @endMs, @body)`,
      ),
      status: this.db.prepare<[string], { at_ms: number }>('SELECT at_ms FROM status WHERE stream_id = ?'),
      putStatus: this.db.prepare('INSERT OR REPLACE INTO status (stream_id, at_ms, body) VALUES (?, ?, ?)'),
      oneStatus: this.db.prepare<[string], { body: string }>('SELECT body FROM status WHERE stream_id = ?'),
      allStatus: this.db.prepare<[], { body: string }>('SELECT body FROM status'),
      putScore: this.db.prepare('INSERT OR REPLACE INTO scores (stream_id, at_ms, score) VALUES (?, ?, ?)'),
      scores: this.db.prepare<[string, number], { at_ms: number; score: number }>(
        'SELECT at_ms, score FROM scores WHERE stream_id = ? AND at_ms >= ? ORDER BY at_ms',
      ),
      pruneScores: this.db.prepare('DELETE FROM scores WHERE at_ms < ?'),
      trimWindowSummaries: this.db.prepare(
        `DELETE FROM summaries WHERE summary_id IN
           (SELECT summary_id FROM summaries WHERE level = 'window' ORDER BY end_ms LIMIT ?)`,
      ),
      trimEndedEvents: this.db.prepare(
        `DELETE FROM anomalies WHERE event_id IN
           (SELECT event_id FROM anomalies WHERE phase = 'end' ORDER BY started_ms LIMIT ?)`,
      ),
      trimRollups: this.db.prepare(
        `DELETE FROM summaries WHERE summary_id IN
           (SELECT summary_id FROM summaries WHERE level != 'window' ORDER BY end_ms LIMIT ?)`,
      ),
      anomalyView: this.db.prepare<[string], { event_id: string; body: string; has_evidence: number }>(
        'SELECT event_id, body, evidence IS NOT NULL AS has_evidence FROM anomalies WHERE event_id = ?',
      ),
      evidence: this.db.prepare<[string], { evidence: Buffer | null }>(
        'SELECT evidence FROM anomalies WHERE event_id = ?',
      ),
      summary: this.db.prepare<[string], { body: string }>('SELECT body FROM summaries WHERE summary_id = ?'),
      hasEvidence: this.db.prepare<[string], { ok: number }>(
        'SELECT evidence IS NOT NULL AS ok FROM anomalies WHERE event_id = ?',
      ),
    };
  }

  /** The consumer group this file's rows were read with; made once per file. */
  groupId(prefix: string): string {
    const key = 'consumer-group';
    const have = this.stmts.meta.get(key)?.value;
    if (have) return have;
    const id = `${prefix}-${randomUUID()}`;
    this.stmts.setMeta.run(key, id);
    return id;
  }

  /** Keeps the event's latest message: later observations win, an end is final; evidence is kept. */
  putAnomaly(e: AnomalyEvent): boolean {
    const have = this.stmts.anomaly.get(e.eventId);
    const observedMs = Date.parse(e.observedAt);
    if (have) {
      const rank = PHASE_RANK[have.phase as AnomalyEvent['phase']];
      if (rank > PHASE_RANK[e.phase] || (rank === PHASE_RANK[e.phase] && have.observed_ms >= observedMs))
        return false;
    }
    const { evidence, ...rest } = e;
    this.stmts.putAnomaly.run({
      eventId: e.eventId,
      streamId: e.streamId,
      kind: e.kind,
      severity: e.severity,
      phase: e.phase,
      startedMs: Date.parse(e.startedAt),
      observedMs,
      body: JSON.stringify(rest),
      evidence: evidence ? Buffer.from(evidence.base64, 'base64') : (have?.evidence ?? null),
    });
    this.search.putEvent(e);
    return true;
  }

  putSummary(s: Summary): void {
    this.stmts.putSummary.run({
      summaryId: s.summaryId,
      streamId: s.streamId,
      level: s.level,
      endMs: Date.parse(s.windowEnd),
      body: JSON.stringify(s),
    });
    this.search.putSummary(s);
  }

  /** Keeps the newest status of each camera. */
  putStatus(s: StreamStatus): boolean {
    const at = Date.parse(s.at);
    const have = this.stmts.status.get(s.streamId);
    if (have && have.at_ms > at) return false;
    this.stmts.putStatus.run(s.streamId, at, JSON.stringify(s));
    return true;
  }

  putScore(s: ScoreSample): void {
    if (!s.learning) this.stmts.putScore.run(s.streamId, Date.parse(s.capturedAt), s.score);
  }

  /** Runs writes as one transaction (a Kafka batch is one). */
  batch(fn: () => void): void {
    this.db.transaction(fn)();
  }

  pruneScores(olderThanMs: number): number {
    return this.stmts.pruneScores.run(olderThanMs).changes;
  }

  /** Bytes of the file in use: its pages less the free ones, which SQLite reuses before it grows the file. */
  usedBytes(): number {
    const pragma = (name: string) => this.db.pragma(name, { simple: true }) as number;
    return (pragma('page_count') - pragma('freelist_count')) * pragma('page_size');
  }

  /**
   * Deletes the oldest history until the file uses at most `maxBytes`: window summaries first (the minute
   * and hour roll-ups still tell the story), then ended events, then roll-ups. Open events, statuses and
   * the consumer group stay. Kafka keeps 30 days of anomalies and summaries and a new file replays them
   * all, so without this the file outgrows its volume within days at a site of a few dozen cameras.
   */
  trimTo(maxBytes: number, step = 500): Trimmed {
    const out: Trimmed = { windowSummaries: 0, endedEvents: 0, rollups: 0 };
    const order = [
      ['windowSummaries', this.stmts.trimWindowSummaries],
      ['endedEvents', this.stmts.trimEndedEvents],
      ['rollups', this.stmts.trimRollups],
    ] as const;
    for (const [kind, stmt] of order)
      while (this.usedBytes() > maxBytes) {
        const n = stmt.run(step).changes;
        if (!n) break;
        out[kind] += n;
      }
    return out;
  }

  anomalies(q: AnomalyQuery): Page<StoredAnomaly> {
    const { where, args, add } = conditions();
    if (q.streamId) add('stream_id = ?', q.streamId);
    if (q.kind) add('kind = ?', q.kind);
    if (q.severity) add('severity = ?', q.severity);
    if (q.state === 'open') add("phase != 'end'");
    if (q.state === 'ended') add("phase = 'end'");
    if (q.since !== undefined) add('started_ms >= ?', q.since);
    if (q.until !== undefined) add('started_ms < ?', q.until);
    if (q.cursor) {
      const c = decodeCursor(q.cursor);
      add('(started_ms < ? OR (started_ms = ? AND event_id < ?))', c.t, c.t, c.id);
    }
    const rows = this.db
      .prepare<
        (string | number)[],
        { event_id: string; started_ms: number; body: string; has_evidence: number }
      >(
        `SELECT event_id, started_ms, body, evidence IS NOT NULL AS has_evidence FROM anomalies
         ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
         ORDER BY started_ms DESC, event_id DESC LIMIT ?`,
      )
      .all(...args, q.limit + 1);
    return pageOf(rows, q.limit, (r) => [r.started_ms, r.event_id], anomalyView);
  }

  anomaly(eventId: string): StoredAnomaly | null {
    const r = this.stmts.anomalyView.get(eventId);
    return r ? anomalyView(r) : null;
  }

  evidence(eventId: string): Buffer | null {
    return this.stmts.evidence.get(eventId)?.evidence ?? null;
  }

  summary(summaryId: string): Summary | null {
    const r = this.stmts.summary.get(summaryId);
    return r ? (JSON.parse(r.body) as Summary) : null;
  }

  /** The evidence link of the first of these events that has a picture. */
  firstEvidenceUrl(eventIds: readonly string[]): string | null {
    const id = eventIds.find((e) => this.stmts.hasEvidence.get(e)?.ok === 1);
    return id ? evidenceUrl(id) : null;
  }

  summaries(q: SummaryQuery): Page<Summary> {
    const { where, args, add } = conditions();
    if (q.streamId) add('stream_id = ?', q.streamId);
    if (q.level) add('level = ?', q.level);
    if (q.since !== undefined) add('end_ms >= ?', q.since);
    if (q.until !== undefined) add('end_ms < ?', q.until);
    if (q.cursor) {
      const c = decodeCursor(q.cursor);
      add('(end_ms < ? OR (end_ms = ? AND summary_id < ?))', c.t, c.t, c.id);
    }
    const rows = this.db
      .prepare<(string | number)[], { summary_id: string; end_ms: number; body: string }>(
        `SELECT summary_id, end_ms, body FROM summaries ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
         ORDER BY end_ms DESC, summary_id DESC LIMIT ?`,
      )
      .all(...args, q.limit + 1);
    return pageOf(
      rows,
      q.limit,
      (r) => [r.end_ms, r.summary_id],
      (r) => JSON.parse(r.body) as Summary,
    );
  }

  status(streamId: string): StreamStatus | null {
    const r = this.stmts.oneStatus.get(streamId);
    return r ? (JSON.parse(r.body) as StreamStatus) : null;
  }

  statuses(): StreamStatus[] {
    return this.stmts.allStatus.all().map((r) => JSON.parse(r.body) as StreamStatus);
  }

  scores(streamId: string, sinceMs: number): { at: number; score: number }[] {
    return this.stmts.scores.all(streamId, sinceMs).map((r) => ({ at: r.at_ms, score: r.score }));
  }

  close(): void {
    this.db.close();
  }
}
