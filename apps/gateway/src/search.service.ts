import { resolve } from 'node:path';
import {
  Inject,
  Injectable,
  type OnModuleDestroy,
  type OnModuleInit,
  ServiceUnavailableException,
} from '@nestjs/common';
import { z } from 'zod';
import { type GatewayConfig, readKeyFile } from '@vigil/config';
import { chatCompletion, chatCompletionsUrl } from '@vigil/decoders';
import { type Logger } from '@vigil/observability';
import { TextEmbedder, shippedModel } from '@vigil/vision';
import { BinaryIndex, binaryCode } from './binary-index.js';
import { GatewayMetrics } from './gateway-metrics.js';
import { GatewayRepository } from './repository.js';
import { nearestDocs, packVector } from './search-docs.js';
import { GATEWAY_CONFIG, ROOT_LOGGER } from './gateway.tokens.js';

export interface SearchRequest {
  readonly q: string;
  readonly stream?: string[] | undefined;
  readonly from?: number | undefined;
  readonly to?: number | undefined;
  readonly limit: number;
}

export interface SearchHit {
  /** The summaryId or eventId. */
  readonly id: string;
  readonly type: 'summary' | 'event';
  readonly streamId: string;
  /** A summary's window end, an event's start. */
  readonly at: string;
  readonly text: string;
  /** Cosine similarity of the text to the query, -1 to 1. */
  readonly score: number;
  readonly evidenceUrl: string | null;
  /** Summaries: the level and the window. */
  readonly level?: string;
  readonly windowStart?: string;
  readonly windowEnd?: string;
  /** Events: the kind, severity and phase. */
  readonly kind?: string;
  readonly severity?: string;
  readonly phase?: string;
}

export interface SearchResult {
  readonly query: string;
  readonly hits: SearchHit[];
  /** Rows searchable now, and rows stored but not embedded yet (found in a moment). */
  readonly indexed: number;
  readonly pending: number;
}

export interface AskRequest {
  readonly question: string;
  readonly streams?: string[] | undefined;
  readonly from?: number | undefined;
  readonly to?: number | undefined;
  readonly limit: number;
}

export interface AskAnswer {
  readonly question: string;
  readonly answer: string;
  /** Ids of the hits the answer rests on (all of them when no model answered). */
  readonly cited: string[];
  readonly hits: SearchHit[];
  /** model: the configured model server answered; hits: the ranked hits in words. */
  readonly answeredBy: 'model' | 'hits';
  readonly model?: string;
  /** Why the model's answer is missing when a model is configured (unreachable, timed out, malformed). */
  readonly fallback?: string;
}

const ASK_SYSTEM = [
  'You answer questions about what a site’s cameras saw, using only the records given: narrated summaries',
  'of video windows and anomaly events, each with its id, camera and time (UTC). Answer in one to four',
  'sentences with times and cameras. Cite every record you rely on by its id in "cited". If the records do',
  'not answer the question, say so plainly and cite nothing. Never invent times, cameras or objects.',
].join(' ');

const ASK_ANSWER = z
  .object({ answer: z.string().min(1).max(4000), cited: z.array(z.string().max(100)).max(50) })
  .strict();

const minute = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;

/** One record as the model and the plain answer read it. */
function recordLine(h: SearchHit): string {
  const what =
    h.type === 'summary'
      ? `${h.level} summary, ${minute(h.windowStart!)} to ${h.windowEnd!.slice(11, 16)}`
      : `${h.kind} event (${h.severity}), started ${minute(h.at)}`;
  return `[${h.id}] camera ${h.streamId}, ${what}: ${h.text}`;
}

/** The answer without a model: the ranked hits in words. */
function plainAnswer(question: string, hits: SearchHit[]): string {
  if (!hits.length) return `Nothing stored matches "${question}".`;
  const lines = hits.map(
    (h, i) =>
      `${i + 1}. ${minute(h.at)}, camera ${h.streamId} (${h.type === 'summary' ? `${h.level} summary` : `${h.kind} event`}, match ${h.score.toFixed(2)}): ${h.text}`,
  );
  return [`The closest records to "${question}", best first:`, ...lines].join('\n');
}

/**
 * Semantic search and answers over what the cameras saw. Every summary and event the gateway stores gets a
 * row in the search table (repository, same transaction); this service embeds the pending rows in the
 * background (all-MiniLM-L6-v2 on ONNX Runtime, batches of 32, within about half a second of arrival),
 * keeps their binary codes in a flat in-memory index, and answers a query by embedding it, taking the
 * nearest codes (Hamming, over every row the filter passes: BinaryIndex) and re-ranking them by cosine on
 * the stored vectors (nearestDocs). `ask` retrieves the same way and, with VIGIL_ASK_URL, has the model answer from those
 * records only, citing their ids; without one (or when the model fails) the answer is the ranked hits.
 */
@Injectable()
export class SearchService implements OnModuleInit, OnModuleDestroy {
  private readonly log: Logger;
  private embedder: TextEmbedder | null = null;
  private index: BinaryIndex | null = null;
  private loop: Promise<void> | null = null;
  private stopped = false;
  private wake: (() => void) | null = null;
  private backfilled = false;
  private readonly askUrl: string | null;
  private readonly askKey: string | undefined;

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(ROOT_LOGGER) root: Logger,
    private readonly repo: GatewayRepository,
    private readonly metrics: GatewayMetrics,
  ) {
    this.log = root.child('search');
    this.askUrl = config.askUrl ? chatCompletionsUrl(config.askUrl, 'VIGIL_ASK_URL') : null;
    this.askKey = readKeyFile(config.askApiKeyFile, 'VIGIL_ASK_API_KEY_FILE');
  }

  async onModuleInit(): Promise<void> {
    const name = this.config.embedder;
    if (name === 'off') {
      this.log.info('search and ask are off (VIGIL_EMBEDDER=off)');
      return;
    }
    const path = name.endsWith('.json') ? resolve(name) : shippedModel(name);
    this.embedder = await TextEmbedder.load(path, { provider: { kind: 'cpu' }, intraOpThreads: 1 });
    const index = new BinaryIndex(this.embedder.dims);
    for (const r of this.repo.search.indexed()) index.add(r.docId, r.code, r.streamId, r.atMs);
    this.repo.search.takeGone();
    this.index = index;
    this.log.info(
      `search index: ${index.size} summaries and events, ${this.repo.search.pendingCount()} to embed (${this.embedder.manifest.name})`,
    );
    this.loop = this.run();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    await this.embedder?.close();
  }

  /** Embeds what is pending, drops what was deleted, and waits a moment when there is nothing to do. */
  private async run(): Promise<void> {
    while (!this.stopped) {
      let embedded = 0;
      try {
        embedded = await this.step();
      } catch (e) {
        if (this.stopped) return;
        this.log.warn(`search indexing paused 5 s: ${(e as Error).message}`);
        await this.idle(5000);
        continue;
      }
      if (!embedded) await this.idle(500);
    }
  }

  /** One round of the indexer: returns how many rows it embedded. */
  async step(): Promise<number> {
    const index = this.index!;
    for (const id of this.repo.search.takeGone()) index.remove(id);
    if (!this.backfilled) this.backfilled = this.repo.search.backfill() === 0;
    const batch = this.repo.search.pending(32);
    if (batch.length) {
      const vecs = await this.embedder!.embed(batch.map((b) => b.text));
      if (this.stopped) return 0;
      const stored = this.repo.search.setVectors(
        batch.map((b, i) => ({ ...b, vec: packVector(vecs[i]!), code: binaryCode(vecs[i]!) })),
      );
      for (const s of stored) index.add(s.docId, s.code, s.streamId, s.atMs);
    }
    this.metrics.searchRows.set({ state: 'indexed' }, index.size);
    this.metrics.searchRows.set({ state: 'pending' }, this.repo.search.pendingCount());
    return batch.length;
  }

  private idle(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        r();
      }
      this.wake = done;
    });
  }

  private need(): { embedder: TextEmbedder; index: BinaryIndex } {
    if (!this.embedder || !this.index)
      throw new ServiceUnavailableException(
        'search is off on this gateway (VIGIL_EMBEDDER=off); set VIGIL_EMBEDDER=all-minilm-l6-v2 to search and ask',
      );
    return { embedder: this.embedder, index: this.index };
  }

  async search(req: SearchRequest, route: 'search' | 'ask' = 'search'): Promise<SearchResult> {
    const { embedder, index } = this.need();
    const stop = this.metrics.searchSeconds.startTimer({ route });
    const [q] = await embedder.embed([req.q]);
    const ranked = nearestDocs(index, this.repo.search, q!, req.limit, {
      ...(req.stream ? { streams: req.stream } : {}),
      ...(req.from !== undefined ? { from: req.from } : {}),
      ...(req.to !== undefined ? { to: req.to } : {}),
    });
    const hits: SearchHit[] = [];
    for (const { doc: d, score } of ranked) {
      if (hits.length === req.limit) break;
      // null: its summary or event was deleted a moment ago
      const h = this.hit(d.kind, d.refId, d.streamId, d.atMs, d.text, score);
      if (h) hits.push(h);
    }
    stop();
    return { query: req.q, hits, indexed: index.size, pending: this.repo.search.pendingCount() };
  }

  /** A hit with what the API shows of its summary or event; null when that row is gone. */
  private hit(
    type: 'summary' | 'event',
    id: string,
    streamId: string,
    atMs: number,
    text: string,
    score: number,
  ): SearchHit | null {
    const base = {
      id,
      type,
      streamId,
      at: new Date(atMs).toISOString(),
      text,
      score: Math.round(score * 1000) / 1000,
    };
    if (type === 'summary') {
      const s = this.repo.summary(id);
      if (!s) return null;
      return {
        ...base,
        evidenceUrl: this.repo.firstEvidenceUrl(s.eventIds),
        level: s.level,
        windowStart: s.windowStart,
        windowEnd: s.windowEnd,
      };
    }
    const e = this.repo.anomaly(id);
    if (!e) return null;
    return { ...base, evidenceUrl: e.evidenceUrl, kind: e.kind, severity: e.severity, phase: e.phase };
  }

  async ask(req: AskRequest): Promise<AskAnswer> {
    const { hits } = await this.search(
      { q: req.question, stream: req.streams, from: req.from, to: req.to, limit: req.limit },
      'ask',
    );
    const plain = (fallback?: string): AskAnswer => {
      this.metrics.askAnswers.inc({ by: fallback ? 'fallback' : 'hits' });
      return {
        question: req.question,
        answer: plainAnswer(req.question, hits),
        cited: hits.map((h) => h.id),
        hits,
        answeredBy: 'hits',
        ...(fallback ? { fallback } : {}),
      };
    };
    if (!this.askUrl || !hits.length) return plain();
    const deadline = AbortSignal.timeout(this.config.askTimeoutMs);
    try {
      const { content } = await chatCompletion(
        this.askUrl,
        this.askBody(req.question, hits),
        { apiKey: this.askKey, what: 'answer model' },
        deadline,
      );
      let parsed: z.output<typeof ASK_ANSWER>;
      try {
        parsed = ASK_ANSWER.parse(JSON.parse(content));
      } catch {
        throw new Error(`the answer model's reply is not {answer, cited}: ${content.slice(0, 80)}`);
      }
      const known = new Set(hits.map((h) => h.id));
      this.metrics.askAnswers.inc({ by: 'model' });
      return {
        question: req.question,
        answer: parsed.answer,
        // only ids of records it was given: a made-up id cites nothing
        cited: [...new Set(parsed.cited.filter((id) => known.has(id)))],
        hits,
        answeredBy: 'model',
        model: this.config.askModel,
      };
    } catch (e) {
      // chatCompletion reports an aborted request as unreachable: say it was the time limit
      const why = deadline.aborted ? `no answer within ${this.config.askTimeoutMs} ms` : (e as Error).message;
      this.log.warn(`ask: answered with the ranked hits, the answer model failed: ${why}`);
      return plain(why);
    }
  }

  /** The chat request: the records as numbered context, the answer as JSON with the cited ids. */
  askBody(question: string, hits: SearchHit[]): Record<string, unknown> {
    return {
      model: this.config.askModel,
      messages: [
        { role: 'system', content: ASK_SYSTEM },
        {
          role: 'user',
          content: `Records, most relevant first:\n${hits.map(recordLine).join('\n')}\n\nQuestion: ${question}`,
        },
      ],
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'history_answer', strict: true, schema: z.toJSONSchema(ASK_ANSWER) },
      },
      max_tokens: 400,
      temperature: 0.1,
    };
  }
}
