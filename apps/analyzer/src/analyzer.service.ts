import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import {
  BaselineRecordSchema,
  StreamSpecSchema,
  type BaselineRecord,
  EventStateSchema,
  type EventState,
  type StreamSpec,
  TOPICS,
  jsonRow,
} from '@vigil/contracts';
import { type AnalyzerConfig } from '@vigil/config';
import {
  type KafkaClients,
  KafkaPublisher,
  KafkaSubscriber,
  TableReader,
  DeadLetters,
  DurableOutbox,
} from '@vigil/kafka';
import { Logger, OpsEndpoint } from '@vigil/observability';
import { FrameAnalysisService, type NarrationOutput } from './frame-analysis.service.js';
import { AnalyzerMetrics } from './analyzer-metrics.js';
import { AnalyzerPublisher } from './analyzer-publisher.js';
import { ControlHandler } from './control-handler.js';
import { FramesHandler, openEventStates } from './frames-handler.js';
import { ANALYZER_CONFIG, ANALYZER_KAFKA, ROOT_LOGGER } from './analyzer.tokens.js';
import { RecentDrops } from './recent-drops.js';

/**
 * Consumes vigil.frames.v1 as a member of the analyzer group (all frames of a stream reach one member),
 * runs the frame analysis, and publishes anomaly events and summaries. Offsets are committed after the
 * outputs are published, so a crash re-delivers frames instead of losing events; ids are deterministic, so
 * the re-published events are duplicates consumers can drop. This service only wires the parts and owns
 * their lifecycle: the FramesHandler (admission policy, analysis, publishing per fetched batch), the
 * ControlHandler (summarize requests), the AnalyzerPublisher (every message it sends), and the Kafka
 * clients it is given (ANALYZER_KAFKA, built in libs/kafka).
 */
@Injectable()
export class AnalyzerService implements OnModuleInit, OnModuleDestroy {
  private readonly log: Logger;
  private readonly producer: KafkaPublisher;
  private readonly subscriber: KafkaSubscriber;
  /** vigil.control.v1, for summarize requests: every analyzer reads every request (a group of its own). */
  private readonly control: KafkaSubscriber;
  private readonly baselines: TableReader<BaselineRecord>;
  private readonly specs: TableReader<StreamSpec>;
  private readonly eventStates: TableReader<EventState>;
  /** Drops of the last minute, for the overload status. */
  private readonly drops = new RecentDrops();
  private housekeeping: NodeJS.Timeout | undefined;
  private readonly ops: OpsEndpoint;
  private readonly outbox: DurableOutbox;
  private readonly publish: AnalyzerPublisher;
  private readonly frames: FramesHandler;
  private readonly controls: ControlHandler;
  private ready = false;
  private _httpPort = 0;

  constructor(
    @Inject(ANALYZER_CONFIG) private readonly config: AnalyzerConfig,
    @Inject(ROOT_LOGGER) root: Logger,
    @Inject(ANALYZER_KAFKA) private readonly kafka: KafkaClients,
    private readonly analysis: FrameAnalysisService,
    private readonly metrics: AnalyzerMetrics,
  ) {
    this.log = root.child('analyzer');
    this.producer = kafka.publisher();
    const deadLetters = new DeadLetters(this.producer, 'analyzer', config.groupId, this.log);
    // anomaly events, summaries and baselines survive a Kafka outage on disk
    this.outbox = new DurableOutbox(
      this.producer,
      { dir: config.outboxDir, maxBytes: config.outboxMaxMb * 1024 * 1024 },
      this.log,
    );
    metrics.outbox = () => this.outbox.snapshot();
    this.publish = new AnalyzerPublisher(this.outbox, this.producer, metrics, this.log);
    this.frames = new FramesHandler(
      analysis,
      this.publish,
      deadLetters,
      metrics,
      this.drops,
      config.maxFrameAgeMs,
    );
    this.controls = new ControlHandler((id) => analysis.requestSummary(id), deadLetters, this.log);
    this.subscriber = kafka.subscriber({
      groupId: config.groupId,
      topics: [TOPICS.frames.name],
      // several partitions at once, so frames of many streams meet in the encoder's batches; every
      // partition it can own at once: kafkajs fetches again only when the whole fetch is handled, and a
      // partition waiting for a free slot meanwhile ages and is shed more, always the same ones
      partitionsConsumedConcurrently: Math.max(config.visionMaxBatch, TOPICS.frames.partitions),
      // A fetch brings what arrived since the last one, not kafkajs's 1 MiB per partition and 10 MiB in
      // all: with those caps a partition holding more cameras was read slower per camera and fell behind,
      // and its cameras got one frame per fetch while the others got all theirs (12 cameras at 3.5×
      // overload: 0.4 frames/s analyzed for six, 12.4 for the other six; with these, 6.7–7.7 for all).
      fetchMaxBytes: config.fetchMaxMb * 1024 * 1024,
      fetchMaxBytesPerPartition: Math.max(1, Math.floor(config.fetchMaxMb / 4)) * 1024 * 1024,
      onAssignment: () => this.metrics.consumerLag.reset(),
      onLag: (topic, partition, lag) => this.metrics.consumerLag.set({ topic, partition }, lag),
    });
    this.control = kafka.subscriber({
      groupId: `${config.groupId}-control-${randomUUID()}`,
      topics: [TOPICS.control.name],
      fromBeginning: false,
      commitOffsets: false,
    });
    // every analyzer keeps every stream's saved normal and settings, so a stream that moves here resumes
    this.baselines = kafka.table({
      topic: TOPICS.baselines.name,
      groupPrefix: `${config.groupId}-baselines`,
      parse: jsonRow(BaselineRecordSchema),
    });
    this.specs = kafka.table({
      topic: TOPICS.streams.name,
      groupPrefix: `${config.groupId}-streams`,
      parse: jsonRow(StreamSpecSchema),
    });
    // every stream's open events as its analyzer last vouched for them: resumed by whoever takes the
    // stream over, closed by anyone when nobody vouches for them any more
    this.eventStates = kafka.table({
      topic: TOPICS.eventState.name,
      groupPrefix: `${config.groupId}-event-state`,
      parse: jsonRow(EventStateSchema),
    });
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
    const topics = await this.kafka.ensureTopics([
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
    await this.producer.connect();
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
    await this.subscriber.start((batch) => this.frames.handle(batch));
    await this.control.start((batch) => this.controls.handle(batch));
    void this.subscriber.whenJoined().then(() => (this.ready = true));
    this.log.info('analyzer running', {
      brokers: this.kafka.connection.brokers.join(','),
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
    await this.publish
      .baselines(this.analysis.baselinesNow())
      .catch((err: unknown) =>
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
    await this.producer.disconnect();
    this.log.info('analyzer stopped');
  }

  /** A narrated window (with the rollups it closed and the events its findings opened), published as it
   * comes out of the decoder (off the frame path). */
  private async publishNarration(out: NarrationOutput): Promise<void> {
    this.analysis.noteEvents(out.anomalies);
    await Promise.all([
      this.publish.summaries(out.summaries),
      this.publish.anomalies(out.anomalies),
      this.publish.eventStates(
        openEventStates(this.analysis, new Set(out.anomalies.map((a) => a.streamId)), Date.now()),
      ),
    ]);
  }

  /** Heartbeats for open events, and closing the ones nobody watches any more (FrameAnalysisService.tick). */
  private async housekeep(): Promise<void> {
    try {
      const h = this.analysis.tick();
      for (const id of h.forgotten) {
        this.publish.forget(id);
        this.log.info('stream taken over by another analyzer; forgotten here', { streamId: id });
      }
      for (const e of h.closed)
        this.log.info(`closed an event: ${e.endReason ?? ''}`, { streamId: e.streamId, eventId: e.eventId });
      this.analysis.noteEvents(h.closed);
      const now = Date.now();
      const due = h.heartbeat.filter((id) => this.publish.stateDue(id, this.config.eventUpdateS * 1000, now));
      await Promise.all([
        this.publish.anomalies(h.closed),
        this.publish.eventStates([...openEventStates(this.analysis, due, now), ...h.states], now),
      ]);
    } catch (err) {
      this.log.warn(`event housekeeping failed: ${(err as Error).message}`);
    }
  }
}
