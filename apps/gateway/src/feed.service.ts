import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import {
  AnomalyEventSchema,
  CE_TYPES,
  ScoreSampleSchema,
  type TrackedObject,
  StreamSpecSchema,
  StreamStatusSchema,
  SummarySchema,
  TOPICS,
  frameMetaOf,
  jsonRow,
  redactUrl,
  type ControlMessage,
  type StreamSpec,
} from '@vigil/contracts';
import { type GatewayConfig, kafkaConnection } from '@vigil/config';
import {
  KafkaPublisher,
  KafkaSubscriber,
  StreamRegistry,
  TableReader,
  createKafka,
  DeadLetters,
  ensureTopics,
  jsonMessage,
  type IncomingMessage,
  type KafkaConnection,
} from '@vigil/kafka';
import { type Logger } from '@vigil/observability';
import { EventHub, type HubEvent } from './event-hub.js';
import { GatewayMetrics } from './gateway-metrics.js';
import { GatewayRepository, type Trimmed } from './repository.js';
import { GATEWAY_CONFIG, ROOT_LOGGER } from './gateway.tokens.js';

const anomalyRow = jsonRow(AnomalyEventSchema);
const summaryRow = jsonRow(SummarySchema);
const statusRow = jsonRow(StreamStatusSchema);
const scoreRow = jsonRow(ScoreSampleSchema);
const specRow = jsonRow(StreamSpecSchema);
/** Frames kept per camera beyond the latest: about 4 s at 2 fps, longer than a frame's analysis takes. */
const RECENT_FRAMES = 8;

/** A row parser and what to do with a valid row, as one handler of raw values. */
function stored<T>(
  parse: (v: Buffer) => { ok: true; value: T } | { ok: false; error: string },
  use: (row: T) => HubEvent | null,
) {
  return (value: Buffer): { error: string } | HubEvent | null => {
    const r = parse(value);
    return r.ok ? use(r.value) : { error: r.error };
  };
}

export interface LatestFrame {
  jpeg: Buffer;
  capturedAt: string;
}

export interface LatestObjects {
  capturedAt: string;
  items: TrackedObject[];
}

/**
 * The gateway's view of Kafka: the camera table (vigil.streams.v1, read whole at start), the anomalies,
 * summaries, statuses and scores materialized into the local store (committed after they are stored, so a
 * restart resumes and a redelivery changes nothing), each camera's latest sampled frame (in memory, read
 * live), and the writes the API makes (StreamSpecs, summarize requests).
 */
@Injectable()
export class FeedService implements OnModuleInit, OnModuleDestroy {
  private readonly log: Logger;
  private readonly conn: KafkaConnection;
  private readonly kafka;
  private readonly specs: TableReader<StreamSpec>;
  private readonly subscriber: KafkaSubscriber;
  private readonly frames: KafkaSubscriber;
  private readonly publisher: KafkaPublisher;
  private readonly deadLetters: DeadLetters;
  /**
   * Each camera's last few frames, oldest first (the last is its latest), so boxes can be drawn on the
   * frame they were found in.
   */
  private readonly recent = new Map<string, LatestFrame[]>();
  private readonly objects = new Map<string, LatestObjects>();
  private readonly specWaiters = new Set<() => void>();
  private joined = false;
  private pruneTimer: NodeJS.Timeout | null = null;
  private limitCheckedAt = 0;
  /** What keeping the store under its limit deleted since it was last logged, and when that was. */
  private trimmedSinceLog: Trimmed = { windowSummaries: 0, endedEvents: 0, rollups: 0 };
  private trimLoggedAt = 0;

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(ROOT_LOGGER) root: Logger,
    private readonly store: GatewayRepository,
    private readonly hub: EventHub,
    private readonly metrics: GatewayMetrics,
  ) {
    this.log = root.child('gateway');
    this.conn = kafkaConnection(config);
    this.kafka = createKafka(this.conn, this.log);
    this.specs = new TableReader(
      this.kafka,
      this.conn,
      {
        topic: TOPICS.streams.name,
        groupPrefix: 'vigil-gateway-streams',
        parse: (value, msg) => {
          const r = specRow(value);
          // ingest runs no spec whose key is not its id (and sets it aside): neither is it served here
          if (r.ok && r.value.id !== msg.key)
            return { ok: false, error: `spec id ${r.value.id} differs from the message key ${msg.key}` };
          return r;
        },
        onChange: (key, value, msg) => {
          for (const wake of this.specWaiters) wake();
          const e = this.store.journal.append(
            { topic: msg.topic, partition: msg.partition, offset: Number(msg.offset) },
            { type: 'stream', streamId: key, data: value ? publicSpec(value) : null },
          );
          if (e) this.hub.emit(e);
        },
      },
      this.log,
    );
    this.subscriber = new KafkaSubscriber(
      this.kafka,
      this.conn,
      {
        groupId: store.groupId('vigil-gateway'),
        topics: [TOPICS.anomalies.name, TOPICS.summaries.name, TOPICS.streamStatus.name, TOPICS.scores.name],
        fromBeginning: true,
        partitionsConsumedConcurrently: 4,
        onAssignment: () => (this.joined = true),
      },
      this.log,
    );
    this.frames = new KafkaSubscriber(
      this.kafka,
      this.conn,
      {
        groupId: `vigil-gateway-frames-${randomUUID()}`,
        topics: [TOPICS.frames.name],
        fromBeginning: false,
        commitOffsets: false,
      },
      this.log,
    );
    this.publisher = new KafkaPublisher(this.kafka, this.conn);
    this.deadLetters = new DeadLetters(this.publisher, 'gateway', store.groupId('vigil-gateway'), this.log);
  }

  async onModuleInit(): Promise<void> {
    await ensureTopics(this.kafka, this.conn, [
      TOPICS.streams,
      TOPICS.streamStatus,
      TOPICS.anomalies,
      TOPICS.summaries,
      TOPICS.scores,
      TOPICS.frames,
      TOPICS.control,
      TOPICS.dlq,
    ]);
    await this.publisher.connect();
    await this.specs.start();
    await this.subscriber.start((batch) => this.materialize(batch));
    await this.frames.start((batch) => {
      this.keepFrames(batch);
      return Promise.resolve();
    });
    this.pruneTimer = setInterval(() => {
      this.store.pruneScores(Date.now() - this.config.scoresKeepS * 1000);
      this.keepWithinLimit(true);
    }, 60_000);
    this.pruneTimer.unref();
    await this.specs.caughtUp(10_000);
  }

  async onModuleDestroy(): Promise<void> {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    await Promise.allSettled([this.frames.stop(), this.subscriber.stop(), this.specs.stop()]);
    await this.publisher.disconnect().catch(() => undefined);
    this.store.close();
  }

  /**
   * Ready: in the consumer group (partitions assigned) and heard from Kafka within 10 s (a fetch answers
   * every half second while the broker is there). While not ready the API still answers from the store.
   */
  ready(): { ok: boolean; detail: string } {
    if (!this.joined) return { ok: false, detail: 'not in the consumer group yet (is Kafka reachable?)' };
    const age = this.subscriber.contactAgeMs();
    if (age === null || age > 10_000)
      return {
        ok: false,
        detail: `no answer from Kafka at ${this.conn.brokers.join(',')} for ${age === null ? 'ever' : `${Math.round(age / 1000)} s`}; serving what is stored`,
      };
    return { ok: true, detail: 'reading Kafka' };
  }

  private async materialize(batch: IncomingMessage[]): Promise<void> {
    const dead: Promise<void>[] = [];
    const live: HubEvent[] = [];
    // per topic: store the row, and say what the SSE clients should see (null: nothing new)
    const handlers: Record<string, (value: Buffer) => { error: string } | HubEvent | null> = {
      [TOPICS.anomalies.name]: stored(anomalyRow, (a) =>
        this.store.putAnomaly(a)
          ? { type: 'anomaly', streamId: a.streamId, data: this.store.anomaly(a.eventId) }
          : null,
      ),
      [TOPICS.summaries.name]: stored(summaryRow, (x) => {
        this.store.putSummary(x);
        return { type: 'summary', streamId: x.streamId, data: x };
      }),
      [TOPICS.streamStatus.name]: stored(statusRow, (x) =>
        this.store.putStatus(x) ? { type: 'status', streamId: x.streamId, data: x } : null,
      ),
      [TOPICS.scores.name]: stored(scoreRow, (x) => {
        this.store.putScore(x);
        this.noteAnalyzed(x.streamId, x.capturedAt);
        if (x.objects && x.capturedAt >= (this.objects.get(x.streamId)?.capturedAt ?? ''))
          this.objects.set(x.streamId, { capturedAt: x.capturedAt, items: x.objects });
        return null;
      }),
    };
    this.store.batch(() => {
      for (const m of batch) {
        const handle = handlers[m.topic];
        if (!m.value || !handle) continue;
        const out = handle(m.value);
        if (out && 'error' in out) {
          this.metrics.skipped.inc({ topic: m.topic });
          dead.push(this.deadLetters.send(m, out.error));
          continue;
        }
        if (out) {
          const at = { topic: m.topic, partition: m.partition, offset: Number(m.offset) };
          const sent = this.store.journal.append(at, out);
          if (sent) live.push(sent);
        }
        this.metrics.materialized.inc({ topic: m.topic });
      }
    });
    for (const e of live) this.hub.emit(e);
    this.keepWithinLimit();
    await Promise.all(dead);
  }

  /**
   * Keeps the store under VIGIL_GATEWAY_DB_MAX_MB: checked after the batches that write (at most once a
   * second; a new file replaying 30 days of topics writes fast) and every minute. What it deletes is
   * counted, and logged at most every 10 minutes.
   */
  private keepWithinLimit(always = false): void {
    const now = Date.now();
    if (!always && now - this.limitCheckedAt < 1000) return;
    this.limitCheckedAt = now;
    const t = this.store.trimTo(this.config.dbMaxMb * 1024 * 1024);
    this.metrics.storeBytes.set(this.store.usedBytes());
    for (const kind of ['windowSummaries', 'endedEvents', 'rollups'] as const) {
      if (!t[kind]) continue;
      this.metrics.trimmed.inc({ kind }, t[kind]);
      this.trimmedSinceLog[kind] += t[kind];
    }
    const s = this.trimmedSinceLog;
    if (!(s.windowSummaries + s.endedEvents + s.rollups) || now - this.trimLoggedAt < 600_000) return;
    this.log.info(
      `local store kept under VIGIL_GATEWAY_DB_MAX_MB (${this.config.dbMaxMb}): deleted the oldest ${s.windowSummaries} window summaries, ${s.endedEvents} ended events and ${s.rollups} roll-ups; raise it (and the data volume) to keep more history here`,
    );
    this.trimmedSinceLog = { windowSummaries: 0, endedEvents: 0, rollups: 0 };
    this.trimLoggedAt = now;
  }

  /** Each camera's usable frames of the batch join its last few; the newest is its latest. */
  private keepFrames(batch: IncomingMessage[]): void {
    const kept = new Map<string, LatestFrame[]>();
    for (const m of batch) {
      if (!m.key || !m.value) continue;
      const meta = frameMetaOf(m.headers, m.key);
      // served as image/jpeg: anything that is not one (SOI marker, then a segment) is not kept
      const jpeg = m.value.length > 3 && m.value[0] === 0xff && m.value[1] === 0xd8 && m.value[2] === 0xff;
      if (!meta.ok || !jpeg) continue;
      const list = kept.get(m.key) ?? [];
      list.push({ jpeg: m.value, capturedAt: meta.value.capturedAt });
      kept.set(m.key, list);
    }
    // copies, made only of the frames kept: a frame is a slice of its Kafka fetch, which it would keep whole
    for (const [key, frames] of kept) {
      const copies = frames.slice(-RECENT_FRAMES).map((f) => ({ ...f, jpeg: Buffer.from(f.jpeg) }));
      this.recent.set(key, [...(this.recent.get(key) ?? []), ...copies].slice(-RECENT_FRAMES));
    }
  }

  /** Each camera's analyzer scores of the last minute: when they arrived, and the sample each is of. */
  private readonly analyzed = new Map<string, { at: number; captured: number }[]>();

  private noteAnalyzed(streamId: string, capturedAt: string): void {
    const now = Date.now();
    const list = (this.analyzed.get(streamId) ?? []).filter((x) => x.at > now - 60_000);
    list.push({ at: now, captured: Date.parse(capturedAt) });
    this.analyzed.set(streamId, list.slice(-240));
  }

  /**
   * How fast the analyzer scores the camera's frames: over the scores that arrived in the last 20 s, how
   * many samples a second of stream time they cover (so a camera whose scores began a moment ago is not
   * under-counted), and when the last arrived. What the card sets beside the rate ingest sends.
   */
  analyzedOf(streamId: string): { fps: number; lastAt: string | null } {
    const now = Date.now();
    const all = this.analyzed.get(streamId) ?? [];
    const recent = all.filter((x) => x.at > now - 20_000).map((x) => x.captured);
    const span = recent.length > 1 ? (Math.max(...recent) - Math.min(...recent)) / 1000 : 0;
    const last = all.at(-1);
    return {
      fps: span > 0 ? Math.round(((recent.length - 1) / span) * 10) / 10 : 0,
      lastAt: last === undefined ? null : new Date(last.at).toISOString(),
    };
  }

  /** The camera's frame captured at `at` (ISO), if it is among the last few. */
  frameAt(streamId: string, at: string): LatestFrame | undefined {
    const t = Date.parse(at);
    return this.recent.get(streamId)?.find((f) => Date.parse(f.capturedAt) === t);
  }

  latestFrame(streamId: string): LatestFrame | undefined {
    return this.recent.get(streamId)?.at(-1);
  }

  /** What the analyzer's detector and tracker saw in the camera's latest scored sample. */
  latestObjects(streamId: string): LatestObjects | undefined {
    return this.objects.get(streamId);
  }

  spec(id: string): StreamSpec | undefined {
    return this.specs.get(id);
  }

  allSpecs(): StreamSpec[] {
    return this.specs.values().sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Writes specs to vigil.streams.v1 and waits (up to 5 s) until this gateway's table shows them. */
  async putSpec(spec: StreamSpec): Promise<void> {
    await new StreamRegistry(this.publisher, 'urn:vigil:gateway').put([spec]);
    await this.until(() => JSON.stringify(this.specs.get(spec.id)) === JSON.stringify(spec));
  }

  async removeSpec(id: string): Promise<void> {
    await new StreamRegistry(this.publisher, 'urn:vigil:gateway').remove([id]);
    await this.until(() => this.specs.get(id) === undefined);
  }

  async requestSummary(streamId: string, reason: string): Promise<ControlMessage> {
    const msg: ControlMessage = {
      streamId,
      action: 'summarize',
      reason,
      requestedAt: new Date().toISOString(),
    };
    await this.publisher.publish(TOPICS.control.name, [
      jsonMessage(msg, {
        type: CE_TYPES.control,
        source: 'urn:vigil:gateway',
        id: randomUUID(),
        time: msg.requestedAt,
      }),
    ]);
    return msg;
  }

  private until(done: () => boolean, timeoutMs = 5000): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.specWaiters.delete(check);
        resolve();
      };
      const check = () => {
        if (done()) finish();
      };
      const timer = setTimeout(finish, timeoutMs);
      this.specWaiters.add(check);
    });
  }
}

/** A spec as the API and the dashboard show it: user info and every query value masked. */
export function publicSpec(spec: StreamSpec): StreamSpec {
  return { ...spec, url: redactUrl(spec.url) };
}
