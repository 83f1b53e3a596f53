import type Database from 'better-sqlite3';
import { type AnomalyEvent, type Summary } from '@vigil/contracts';
import { type BinaryIndex, type IndexFilter, binaryCode } from './binary-index.js';

/** What a search finds: a summary (window, minute or hour) or an anomaly event. */
export type DocKind = 'summary' | 'event';

export interface SearchDoc {
  readonly docId: number;
  readonly kind: DocKind;
  /** The summaryId or eventId. */
  readonly refId: string;
  readonly streamId: string;
  readonly atMs: number;
  readonly text: string;
}

/** A row as the in-memory index keeps it. */
export interface IndexRow {
  readonly docId: number;
  readonly streamId: string;
  readonly atMs: number;
  readonly code: Int32Array;
}

/** A row waiting for its vector: what to embed, and where and when it is. */
export interface PendingDoc {
  readonly docId: number;
  readonly text: string;
  readonly streamId: string;
  readonly atMs: number;
}

/** The words a summary is found by: its narration and what the decoder noticed. */
export const summaryText = (s: Summary): string =>
  [s.text, ...s.findings.map((f) => f.description)].join(' ').slice(0, 4000);

/** The words an event is found by: its kind in words, what it says, and its zone. */
export const eventText = (e: Pick<AnomalyEvent, 'kind' | 'description' | 'zone'>): string =>
  `${e.kind.replaceAll('_', ' ')}${e.zone ? ` in zone ${e.zone}` : ''}: ${e.description}`;

/**
 * A stored vector: int8 components with one float scale (388 bytes at 384 dimensions, a quarter of float32;
 * cosine error well under 0.01), enough to re-rank the binary index's candidates.
 */
export function packVector(v: Float32Array): Buffer {
  let max = 0;
  for (const x of v) max = Math.max(max, Math.abs(x));
  const scale = max > 0 ? max / 127 : 1;
  const buf = Buffer.alloc(4 + v.length);
  buf.writeFloatLE(scale, 0);
  for (let i = 0; i < v.length; i++) buf.writeInt8(Math.round(v[i]! / scale), 4 + i);
  return buf;
}

/** The dot product of a query vector with a packed stored vector. */
export function dotPacked(q: Float32Array, packed: Buffer): number {
  const scale = packed.readFloatLE(0);
  const n = Math.min(q.length, packed.length - 4);
  let s = 0;
  for (let i = 0; i < n; i++) s += q[i]! * ((packed[4 + i]! << 24) >> 24);
  return s * scale;
}

/**
 * The searchable rows, beside the summaries and events they index, in the gateway's SQLite file. A row is
 * written with the summary or event it describes (in the same transaction) and has no vector until the
 * search service embeds it, so nothing stored is ever left out: a gateway that stopped before embedding
 * finds the rows still pending when it starts again. A deleted summary or event (trimTo) deletes its row
 * by trigger, and the row's id goes to `search_gone` for the in-memory index to drop.
 */
export class SearchDocs {
  private readonly stmts;

  constructor(private readonly db: Database.Database) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS search_docs (
        doc_id INTEGER PRIMARY KEY, kind TEXT NOT NULL, ref_id TEXT NOT NULL, stream_id TEXT NOT NULL,
        at_ms INTEGER NOT NULL, text TEXT NOT NULL, vec BLOB, code BLOB, UNIQUE (kind, ref_id));
      CREATE INDEX IF NOT EXISTS search_docs_pending ON search_docs (doc_id) WHERE vec IS NULL;
      CREATE TABLE IF NOT EXISTS search_gone (doc_id INTEGER PRIMARY KEY);
      CREATE TRIGGER IF NOT EXISTS search_docs_gone AFTER DELETE ON search_docs BEGIN
        INSERT OR IGNORE INTO search_gone (doc_id) VALUES (old.doc_id); END;
      CREATE TRIGGER IF NOT EXISTS search_summary_gone AFTER DELETE ON summaries BEGIN
        DELETE FROM search_docs WHERE kind = 'summary' AND ref_id = old.summary_id; END;
      CREATE TRIGGER IF NOT EXISTS search_event_gone AFTER DELETE ON anomalies BEGIN
        DELETE FROM search_docs WHERE kind = 'event' AND ref_id = old.event_id; END;
    `);
    this.stmts = {
      // a changed text needs a new vector; the same text keeps its own
      put: db.prepare(
        `INSERT INTO search_docs (kind, ref_id, stream_id, at_ms, text) VALUES (@kind, @refId, @streamId, @atMs, @text)
         ON CONFLICT (kind, ref_id) DO UPDATE SET at_ms = excluded.at_ms, stream_id = excluded.stream_id,
           vec = CASE WHEN search_docs.text = excluded.text THEN search_docs.vec END,
           code = CASE WHEN search_docs.text = excluded.text THEN search_docs.code END,
           text = excluded.text`,
      ),
      pending: db.prepare<[number], { doc_id: number; text: string; stream_id: string; at_ms: number }>(
        'SELECT doc_id, text, stream_id, at_ms FROM search_docs WHERE vec IS NULL ORDER BY doc_id LIMIT ?',
      ),
      pendingCount: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM search_docs WHERE vec IS NULL'),
      setVec: db.prepare('UPDATE search_docs SET vec = ?, code = ? WHERE doc_id = ? AND text = ?'),
      indexed: db.prepare<
        [number, number],
        { doc_id: number; stream_id: string; at_ms: number; code: Buffer }
      >(
        'SELECT doc_id, stream_id, at_ms, code FROM search_docs WHERE code IS NOT NULL AND doc_id > ? ORDER BY doc_id LIMIT ?',
      ),
      gone: db.prepare<[], { doc_id: number }>('SELECT doc_id FROM search_gone'),
      clearGone: db.prepare('DELETE FROM search_gone'),
      missingSummaries: db.prepare<[number], { body: string }>(
        `SELECT s.body FROM summaries s LEFT JOIN search_docs d ON d.kind = 'summary' AND d.ref_id = s.summary_id
         WHERE d.doc_id IS NULL LIMIT ?`,
      ),
      missingEvents: db.prepare<[number], { body: string }>(
        `SELECT a.body FROM anomalies a LEFT JOIN search_docs d ON d.kind = 'event' AND d.ref_id = a.event_id
         WHERE d.doc_id IS NULL LIMIT ?`,
      ),
    };
  }

  putSummary(s: Summary): void {
    this.stmts.put.run({
      kind: 'summary',
      refId: s.summaryId,
      streamId: s.streamId,
      atMs: Date.parse(s.windowEnd),
      text: summaryText(s),
    });
  }

  putEvent(
    e: Pick<AnomalyEvent, 'eventId' | 'streamId' | 'startedAt' | 'kind' | 'description' | 'zone'>,
  ): void {
    this.stmts.put.run({
      kind: 'event',
      refId: e.eventId,
      streamId: e.streamId,
      atMs: Date.parse(e.startedAt),
      text: eventText(e),
    });
  }

  /**
   * Rows for summaries and events stored before search existed (a gateway file from an older version);
   * `limit` at a time, so a large file is caught up in steps. Returns how many were added.
   */
  backfill(limit = 5000): number {
    let n = 0;
    this.db.transaction(() => {
      for (const r of this.stmts.missingSummaries.all(limit)) {
        this.putSummary(JSON.parse(r.body) as Summary);
        n++;
      }
      for (const r of this.stmts.missingEvents.all(limit)) {
        this.putEvent(JSON.parse(r.body) as AnomalyEvent);
        n++;
      }
    })();
    return n;
  }

  /** Rows stored and not embedded yet, oldest first. */
  pending(limit: number): PendingDoc[] {
    return this.stmts.pending
      .all(limit)
      .map((r) => ({ docId: r.doc_id, text: r.text, streamId: r.stream_id, atMs: r.at_ms }));
  }

  pendingCount(): number {
    return this.stmts.pendingCount.get()!.n;
  }

  /**
   * Stores the vectors of rows embedded from `text`; a row whose text changed meanwhile keeps no vector
   * (it is embedded again). Returns the rows stored, for the in-memory index.
   */
  setVectors<R extends PendingDoc & { vec: Buffer; code: Int32Array }>(rows: R[]): R[] {
    return this.db.transaction(() =>
      rows.filter(
        (r) =>
          this.stmts.setVec.run(
            r.vec,
            Buffer.from(r.code.buffer, r.code.byteOffset, r.code.byteLength),
            r.docId,
            r.text,
          ).changes > 0,
      ),
    )();
  }

  /** Every embedded row, in pages (for the in-memory index at start). */
  *indexed(page = 10_000): Generator<IndexRow> {
    let after = 0;
    for (;;) {
      const rows = this.stmts.indexed.all(after, page);
      if (!rows.length) return;
      for (const r of rows) {
        const code = new Int32Array(r.code.byteLength / 4);
        new Uint8Array(code.buffer).set(r.code);
        yield { docId: r.doc_id, streamId: r.stream_id, atMs: r.at_ms, code };
      }
      after = rows[rows.length - 1]!.doc_id;
    }
  }

  /** Ids of rows deleted since the last call. */
  takeGone(): number[] {
    const ids = this.stmts.gone.all().map((r) => r.doc_id);
    if (ids.length) this.stmts.clearGone.run();
    return ids;
  }

  /** The rows and their packed vectors, by doc id (the ones still there). */
  docs(ids: readonly number[]): (SearchDoc & { vec: Buffer | null })[] {
    if (!ids.length) return [];
    const rows = this.db
      .prepare<
        number[],
        {
          doc_id: number;
          kind: DocKind;
          ref_id: string;
          stream_id: string;
          at_ms: number;
          text: string;
          vec: Buffer | null;
        }
      >(
        `SELECT doc_id, kind, ref_id, stream_id, at_ms, text, vec FROM search_docs WHERE doc_id IN (${ids.map(() => '?').join(',')})`,
      )
      .all(...ids);
    return rows.map((r) => ({
      docId: r.doc_id,
      kind: r.kind,
      refId: r.ref_id,
      streamId: r.stream_id,
      atMs: r.at_ms,
      text: r.text,
      vec: r.vec,
    }));
  }
}

/** Candidates the binary index gives per hit asked (recall against exact search: npm run bench -- search). */
export const CANDIDATES_PER_HIT = 50;

/**
 * The `limit` stored rows nearest in meaning to the query vector `q`: the binary index's nearest codes
 * (at least 100, CANDIDATES_PER_HIT per hit asked), re-ranked by cosine on their stored vectors, best first.
 * Candidates whose rows are gone (deleted since) are dropped from the index.
 */
export function nearestDocs(
  index: BinaryIndex,
  docs: SearchDocs,
  q: Float32Array,
  limit: number,
  filter: IndexFilter = {},
): { doc: SearchDoc; score: number }[] {
  const ids = index.nearest(binaryCode(q), Math.max(100, limit * CANDIDATES_PER_HIT), filter);
  const rows = docs.docs(ids);
  if (rows.length < ids.length) {
    const there = new Set(rows.map((r) => r.docId));
    for (const id of ids) if (!there.has(id)) index.remove(id);
  }
  return rows
    .filter((r): r is typeof r & { vec: Buffer } => r.vec !== null)
    .map(({ vec, ...doc }) => ({ doc, score: dotPacked(q, vec) }))
    .sort((a, b) => b.score - a.score)
    .slice(0, limit * 2);
}
