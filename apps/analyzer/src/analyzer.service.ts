import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import {
  BaselineRecordSchema,
  CE_TYPES,
  ControlMessageSchema,
  StreamSpecSchema,
  type BaselineRecord,
  EventStateSchema,
  type EventState,
  type ScoreSample,
  type StreamSpec,
  deterministicId,
  TOPICS,
  fromCloudEventHeaders,
  frameMetaOf,
  jsonRow,
  type AnomalyEvent,
} from '@vigil/contracts';
import { type AnalyzerConfig, kafkaConnection } from '@vigil/config';
import {
  type IncomingMessage,
  type KafkaConnection,
  KafkaPublisher,
  KafkaSubscriber,
  TableReader,
  createKafka,
  DeadLetters,
  DurableOutbox,
  kafkaErrorReason,
  type OutgoingMessage,
  ensureTopics,
  jsonMessage,
} from '@vigil/kafka';
import { FrameDroppedError, ImageDecodeError } from '@vigil/vision';
import { Logger, OpsEndpoint } from '@vigil/observability';
import { FrameAnalysisService, type AnalysisOutput, type NarrationOutput } from './frame-analysis.service.js';
import { AnalyzerMetrics } from './analyzer-metrics.js';
import { ANALYZER_CONFIG, ROOT_LOGGER } from './analyzer.tokens.js';
import { RecentDrops } from './recent-drops.js';

const SOURCE = 'urn:vigil:analyzer';
/** A frame this late, with a newer one of its stream already read, is skipped (the analyzer is behind). */
const SUPERSEDED_AFTER_MS = 1000;

/** A JSON message keyed by its stream, with CloudEvents headers naming this analyzer as the source. */
const analyzerMessage = (value: { streamId: string }, type: string, id: string, time: string) =>
  jsonMessage(value, { type, source: SOURCE, id, time });

/**
 * Consumes vigil.frames.v1 as a member of the analyzer group (all frames of a stream reach one member),
 * runs the frame analysis, and publishes anomaly events and summaries. Offsets are committed after the
 * outputs are published, so a crash re-delivers frames instead of losing events; ids are deterministic, so
 * the re-published events are duplicates consumers can drop.
 */
@Injectable()
export class AnalyzerService implements OnModuleInit, OnModuleDestroy {
  private readonly log: Logger;
  private readonly conn: KafkaConnection;
  private readonly publisher: KafkaPublisher;
  private readonly subscriber: KafkaSubscriber;
  /** vigil.control.v1, for summarize requests: every analyzer reads every request (a group of its own). */
  private readonly control: KafkaSubscriber;
  private readonly baselines: TableReader<BaselineRecord>;
  private readonly specs: TableReader<StreamSpec>;
  private readonly eventStates: TableReader<EventState>;
  private readonly stateSentAt = new Map<string, number>();
  /** Drops of the last minute, for the overload status. */
  private readonly drops = new RecentDrops();
  private housekeeping: NodeJS.Timeout | undefined;
  private readonly ops: OpsEndpoint;
  private readonly deadLetters: DeadLetters;
  private readonly outbox: DurableOutbox;
  private ready = false;
  private _httpPort = 0;

  constructor(
    @Inject(ANALYZER_CONFIG) private readonly config: AnalyzerConfig,
    @Inject(ROOT_LOGGER) root: Logger,
    private readonly analysis: FrameAnalysisService,
    private readonly metrics: AnalyzerMetrics,
  ) {
    this.log = root.child('analyzer');
    this.conn = kafkaConnection(config, `${config.clientId}-analyzer`);
    const kafka = createKafka(this.conn, root);
    this.publisher = new KafkaPublisher(kafka, this.conn);
    this.deadLetters = new DeadLetters(this.publisher, 'analyzer', config.groupId, this.log);
    // anomaly events, summaries and baselines survive a Kafka outage on disk
    this.outbox = new DurableOutbox(
      this.publisher,
      { dir: config.outboxDir, maxBytes: config.outboxMaxMb * 1024 * 1024 },
      this.log,
    );
    metrics.outbox = () => this.outbox.snapshot();
    this.subscriber = new KafkaSubscriber(
      kafka,
      this.conn,
      // several partitions at once, so frames of many streams meet in the encoder's batches
      {
        groupId: config.groupId,
        topics: [TOPICS.frames.name],
        // every partition it can own at once: kafkajs fetches again only when the whole fetch is handled,
        // and a partition waiting for a free slot meanwhile ages and is shed more, always the same ones
        partitionsConsumedConcurrently: Math.max(config.visionMaxBatch, TOPICS.frames.partitions),
        // A fetch brings what arrived since the last one, not kafkajs's 1 MiB per partition and 10 MiB in
        // all: with those caps a partition holding more cameras was read slower per camera and fell behind,
        // and its cameras got one frame per fetch while the others got all theirs (12 cameras at 3.5×
        // overload: 0.4 frames/s analyzed for six, 12.4 for the other six; with these, 6.7–7.7 for all).
        fetchMaxBytes: config.fetchMaxMb * 1024 * 1024,
        fetchMaxBytesPerPartition: Math.max(1, Math.floor(config.fetchMaxMb / 4)) * 1024 * 1024,
        onAssignment: () => this.metrics.consumerLag.reset(),
        onLag: (topic, partition, lag) => this.metrics.consumerLag.set({ topic, partition }, lag),
      },
      this.log,
    );
    this.control = new KafkaSubscriber(
      kafka,
      this.conn,
      {
        groupId: `${config.groupId}-control-${randomUUID()}`,
        topics: [TOPICS.control.name],
        fromBeginning: false,
        commitOffsets: false,
      },
      this.log,
    );
    // every analyzer keeps every stream's saved normal and settings, so a stream that moves here resumes
    this.baselines = new TableReader(
      kafka,
      this.conn,
      {
        topic: TOPICS.baselines.name,
        groupPrefix: `${config.groupId}-baselines`,
        parse: jsonRow(BaselineRecordSchema),
      },
      this.log,
    );
    this.specs = new TableReader(
      kafka,
      this.conn,
      {
        topic: TOPICS.streams.name,
        groupPrefix: `${config.groupId}-streams`,
        parse: jsonRow(StreamSpecSchema),
      },
      this.log,
    );
    // every stream's open events as its analyzer last vouched for them: resumed by whoever takes the
    // stream over, closed by anyone when nobody vouches for them any more
    this.eventStates = new TableReader(
      kafka,
      this.conn,
      {
        topic: TOPICS.eventState.name,
        groupPrefix: `${config.groupId}-event-state`,
        parse: jsonRow(EventStateSchema),
      },
      this.log,
    );
    metrics.load = () => this.drops.last();
    this.ops = new OpsEndpoint(metrics.registry, {
      ready: () => {
        if (!this.ready) return { ok: false, detail: 'not in the consumer group yet' };
        const l = this.drops.last();
        if (!l.dropped) return { ok: true, detail: 'consuming frames' };
        const some = l.streams.slice(0, 5).join(', ') + (l.streams.length > 5 ? ', …' : '');
        return {
          ok: true,
          degraded: true,
          detail: `degraded: overloaded — dropped ${l.dropped} frames in the last minute (${some}) to stay current; add analyzers or sample less`,
        };
      },
    });
  }

  async onModuleInit(): Promise<void> {
    const topics = await ensureTopics(createKafka(this.conn, this.log), this.conn, [
      TOPICS.frames,
      TOPICS.anomalies,
      TOPICS.summaries,
      TOPICS.streamStatus,
      TOPICS.control,
      TOPICS.streams,
      TOPICS.baselines,
      TOPICS.scores,
      TOPICS.eventState,
      TOPICS.dlq,
    ]);
    if (topics.created.length) this.log.info('created topics', { topics: topics.created.join(',') });
    await this.publisher.connect();
    await this.analysis.startDecoder();
    await Promise.all([this.baselines.start(), this.specs.start(), this.eventStates.start()]);
    const caught = await Promise.all([
      this.baselines.caughtUp(20_000),
      this.specs.caughtUp(20_000),
      this.eventStates.caughtUp(20_000),
    ]);
    if (!caught.every(Boolean))
      this.log.warn(
        'saved baselines or stream settings not fully read after 20 s; streams seen before then may warm up afresh',
      );
    this.log.info('tables read', { baselines: this.baselines.size, streams: this.specs.size });
    this.metrics.learning = () => this.analysis.learningStates();
    this.analysis.onNarration((out) => this.publishNarration(out));
    this.analysis.attach({
      settings: (id) => {
        const spec = this.specs.get(id);
        return spec ? { ...spec.analysis, ...(spec.name ? { name: spec.name } : {}) } : undefined;
      },
      baseline: (id) => this.baselines.get(id),
      eventState: (id) => this.eventStates.get(id),
      eventStates: () => this.eventStates.values(),
    });
    this.housekeeping = setInterval(
      () => void this.housekeep(),
      Math.min(5_000, (this.config.eventUpdateS * 1000) / 2),
    );
    this._httpPort = await this.ops.listen(this.config.httpPort, '0.0.0.0', 'VIGIL_ANALYZER_HTTP_PORT');
    await this.subscriber.start((batch) => this.handleBatch(batch));
    await this.control.start((batch) => {
      for (const msg of batch) this.handleControl(msg);
      return Promise.resolve();
    });
    void this.subscriber.whenJoined().then(() => (this.ready = true));
    this.log.info('analyzer running', {
      brokers: this.conn.brokers.join(','),
      metrics: `http://0.0.0.0:${this._httpPort}/metrics`,
    });
  }

  /** The Prometheus text of this analyzer's metrics (what /metrics serves). */
  metricsText(): Promise<string> {
    return this.metrics.registry.metrics();
  }

  get httpPort(): number {
    return this._httpPort;
  }

  /** Resolves once the consumer group has assigned partitions to this analyzer. */
  whenReady(): Promise<void> {
    return Promise.all([this.subscriber.whenJoined(), this.control.whenJoined()]).then(() => undefined);
  }

  async onModuleDestroy(): Promise<void> {
    this.ready = false;
    if (this.housekeeping) clearInterval(this.housekeeping);
    await Promise.all([this.subscriber.stop(), this.control.stop()]);
    // windows already handed to the decoder are narrated and published before the producer goes
    await this.analysis.closeSummaries(10_000);
    await this.analysis.closeDecoder();
    // the latest learned normals, so whoever analyzes these streams next resumes from here
    await this.publishBaselines(this.analysis.baselinesNow()).catch((err: unknown) =>
      this.log.warn(`could not save baselines at shutdown: ${(err as Error).message}`),
    );
    await Promise.all([this.baselines.stop(), this.specs.stop(), this.eventStates.stop()]);
    await this.ops.close();
    // what Kafka has not taken yet stays in the outbox file for the next start
    if (!(await this.outbox.flushed(5_000)))
      this.log.warn(
        `${this.outbox.snapshot().pending} message(s) still in the outbox (${this.outbox.dir}); they are sent at the next start`,
      );
    await this.outbox.close();
    await this.publisher.disconnect();
    this.log.info('analyzer stopped');
  }

  private async handleBatch(batch: IncomingMessage[]): Promise<void> {
    const anomalies: AnomalyEvent[] = [];
    const rising: { streamId: string; reason: string }[] = [];
    const scores: ScoreSample[] = [];
    const baselines: BaselineRecord[] = [];
    // Each stream's frames in order; different streams concurrently, so the encoder can batch across them.
    const byStream = new Map<string, IncomingMessage[]>();
    for (const msg of batch) {
      const key = msg.key ?? '';
      const msgs = byStream.get(key);
      if (msgs) msgs.push(msg);
      else byStream.set(key, [msg]);
    }
    // messages set aside on the dead-letter topic; the batch is committed once they are written
    const dead: Promise<void>[] = [];
    const reject = (msg: IncomingMessage, reason: string): undefined => {
      this.metrics.rejected.inc();
      dead.push(this.deadLetters.send(msg, reason));
      return undefined;
    };
    const outputs = await Promise.all(
      [...byStream.values()].map(async (msgs) => {
        const results: AnalysisOutput[] = [];
        for (const [i, msg] of msgs.entries()) {
          const meta = this.frameMeta(msg, reject);
          if (!meta || !msg.value) continue;
          // Behind (a backlog): a frame that waited over a second and has a newer one of its stream in this
          // batch is skipped, and anything past the age limit is dropped, so what is analyzed stays
          // current. Frames that arrive on time, bursts included, are all analyzed. The age is taken at the
          // frame's turn, not when the batch came: the streams share the encoder in turns, so a stream
          // with a long run of frames falls behind as it goes and skips to its newest instead of holding
          // up the next fetch while other partitions' frames age.
          const age = Date.now() - Number(msg.timestamp);
          if (this.config.maxFrameAgeMs > 0 && age > this.config.maxFrameAgeMs) {
            this.dropped(meta.streamId, 'stale');
            continue;
          }
          if (this.config.maxFrameAgeMs > 0 && age > SUPERSEDED_AFTER_MS && i < msgs.length - 1) {
            this.dropped(meta.streamId, 'superseded');
            continue;
          }
          try {
            const out = await this.analysis.analyze(meta, msg.value);
            if (out.duplicate) {
              this.metrics.duplicates.inc({ stream: meta.streamId });
              continue;
            }
            results.push(out);
            this.metrics.frames.inc({ stream: meta.streamId });
          } catch (err) {
            if (err instanceof FrameDroppedError) this.dropped(meta.streamId, 'queue');
            else if (err instanceof ImageDecodeError) reject(msg, `corrupt frame: ${err.message}`);
            else throw err;
          }
        }
        return results;
      }),
    );
    const changed = new Set<string>();
    for (const out of outputs.flat()) {
      for (const a of out.anomalies) changed.add(a.streamId);
      if (out.tookOver && out.score) changed.add(out.score.streamId);
      anomalies.push(...out.anomalies);
      rising.push(...out.bursts);
      if (out.score) scores.push(out.score);
      baselines.push(...out.baselines);
    }
    // Fast path: when a score rises toward its threshold, or an event starts, ask ingest for full-rate
    // sampling, so the onset and the end are timed precisely.
    const wanted = new Map<string, string>();
    for (const r of rising) wanted.set(r.streamId, r.reason);
    for (const e of anomalies) if (e.phase === 'start') wanted.set(e.streamId, `${e.kind} started`);
    const bursts = [...wanted].map(([streamId, reason]) =>
      ControlMessageSchema.parse({
        streamId,
        action: 'burst',
        reason,
        requestedAt: new Date().toISOString(),
      }),
    );
    await Promise.all([
      this.publishPerishable(
        TOPICS.control.name,
        bursts.map((c) =>
          analyzerMessage(
            c,
            CE_TYPES.control,
            deterministicId('control', c.streamId, c.reason, c.requestedAt),
            c.requestedAt,
          ),
        ),
      ),
      this.publishAnomalies(anomalies),
      this.publishEventStates([...changed]),
      this.publishBaselines(baselines),
      ...dead,
      this.publishPerishable(
        TOPICS.scores.name,
        scores.map((x) =>
          analyzerMessage(
            x,
            CE_TYPES.score,
            deterministicId('score', x.streamId, x.capturedAt),
            x.capturedAt,
          ),
        ),
      ),
    ]);
  }

  /** A narrated window (with the rollups it closed and the events its findings opened), published as it
   * comes out of the decoder (off the frame path). */
  private async publishNarration(out: NarrationOutput): Promise<void> {
    // counted before they are published, so a summary a subscriber has read is in the metrics already
    for (const s of out.summaries) {
      this.metrics.summaries.inc({ level: s.level });
      if (s.level === 'window' && s.decoder.latencyMs !== undefined)
        this.metrics.decoderSeconds.observe(
          { decoder: s.decoder.type, fallback: String(Boolean(s.decoder.fallback)) },
          s.decoder.latencyMs / 1000,
        );
      this.log.debug(`${s.level} summary: ${s.text}`, { streamId: s.streamId, summaryId: s.summaryId });
    }
    await Promise.all([
      this.outbox.publish(
        TOPICS.summaries.name,
        out.summaries.map((s) => analyzerMessage(s, CE_TYPES.summary, s.summaryId, s.createdAt)),
      ),
      this.publishAnomalies(out.anomalies),
      this.publishEventStates([...new Set(out.anomalies.map((a) => a.streamId))]),
    ]);
  }

  private async publishAnomalies(anomalies: AnomalyEvent[]): Promise<void> {
    // counted before they are published, as summaries are
    for (const e of anomalies) {
      if (e.phase === 'start') this.metrics.events.inc({ kind: e.kind, severity: e.severity });
      this.log.debug(`anomaly ${e.phase}: ${e.description}`, { streamId: e.streamId, eventId: e.eventId });
    }
    await this.outbox.publish(
      TOPICS.anomalies.name,
      anomalies.map((e) =>
        analyzerMessage(e, CE_TYPES.anomaly, `${e.eventId}:${e.phase}:${e.observedAt}`, e.observedAt),
      ),
    );
  }

  /** The streams' open events as this analyzer holds them now (after their anomaly messages, in order). */
  private async publishEventStates(streamIds: string[], extra: EventState[] = []): Promise<void> {
    const now = Date.now();
    const states = [
      ...streamIds.flatMap((id) => {
        const st = this.analysis.eventStateOf(id, now);
        return st ? [st] : [];
      }),
      ...extra,
    ];
    for (const st of states) this.stateSentAt.set(st.streamId, now);
    await this.outbox.publish(
      TOPICS.eventState.name,
      states.map((st) =>
        analyzerMessage(
          st,
          CE_TYPES.eventState,
          deterministicId('event-state', st.streamId, st.heartbeatAt, st.owner),
          st.heartbeatAt,
        ),
      ),
    );
  }

  /** Heartbeats for open events, and closing the ones nobody watches any more (FrameAnalysisService.tick). */
  private async housekeep(): Promise<void> {
    try {
      const h = this.analysis.tick();
      for (const id of h.forgotten) {
        this.stateSentAt.delete(id);
        this.log.info('stream taken over by another analyzer; forgotten here', { streamId: id });
      }
      for (const e of h.closed)
        this.log.info(`closed an event: ${e.endReason ?? ''}`, { streamId: e.streamId, eventId: e.eventId });
      const due = h.heartbeat.filter(
        (id) => Date.now() - (this.stateSentAt.get(id) ?? 0) >= this.config.eventUpdateS * 1000,
      );
      await Promise.all([this.publishAnomalies(h.closed), this.publishEventStates(due, h.states)]);
    } catch (err) {
      this.log.warn(`event housekeeping failed: ${(err as Error).message}`);
    }
  }

  private async publishBaselines(records: BaselineRecord[]): Promise<void> {
    await this.outbox.publish(
      TOPICS.baselines.name,
      records.map((b) =>
        analyzerMessage(b, CE_TYPES.baseline, deterministicId('baseline', b.streamId, b.savedAt), b.savedAt),
      ),
    );
    for (const b of records) this.log.debug('baseline saved', { streamId: b.streamId, samples: b.samples });
  }

  private dropped(streamId: string, reason: 'stale' | 'superseded' | 'queue'): void {
    this.metrics.dropped.inc({ stream: streamId, reason });
    this.drops.add(streamId);
  }

  /** Scores and burst requests are perishable: when Kafka does not take them they are counted and dropped
   * (a frame's score is worth nothing minutes later), so they never hold up the frame path. */
  private async publishPerishable(topic: string, messages: OutgoingMessage[]): Promise<void> {
    try {
      await this.publisher.publish(topic, messages);
    } catch (err) {
      this.metrics.perishableDropped.inc({ topic }, messages.length);
      this.log.warn(`dropped ${messages.length} message(s) for ${topic}: ${kafkaErrorReason(err)}`);
    }
  }

  /** A summarize request: the analyzer holding the stream narrates its latest window now; others ignore it. */
  private handleControl(msg: IncomingMessage): void {
    const row = jsonRow(ControlMessageSchema)(msg.value ?? Buffer.alloc(0));
    if (!row.ok) {
      void this.deadLetters.send(msg, `control message: ${row.error}`);
      return;
    }
    if (row.value.action !== 'summarize') return;
    if (this.analysis.requestSummary(row.value.streamId))
      this.log.info('summary requested', { streamId: row.value.streamId, reason: row.value.reason });
  }

  /** The frame's metadata, or undefined after `reject` set the message aside with the reason. */
  private frameMeta(msg: IncomingMessage, reject: (msg: IncomingMessage, reason: string) => undefined) {
    const ce = fromCloudEventHeaders(msg.headers);
    if (!ce.ok) return reject(msg, `missing CloudEvents headers ${ce.missing.join(', ')}`);
    if (ce.value.type !== CE_TYPES.frame)
      return reject(msg, `unknown message type ${ce.value.type} (this analyzer reads ${CE_TYPES.frame})`);
    const meta = frameMetaOf(msg.headers, msg.key);
    if (!meta.ok) return reject(msg, meta.errors.join('; '));
    if (!msg.value?.length) return reject(msg, 'a frame message without a JPEG');
    return meta.value;
  }
}
