import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { type StreamSpec, StreamStatusSchema, TOPICS, redactUrl } from '@vigil/contracts';
import { type IngestConfig } from '@vigil/config';
import { KafkaPublisher, createKafka, ensureTopics, type KafkaConnection } from '@vigil/kafka';
import { type StateChange, StreamSupervisor } from '@vigil/media';
import { Logger } from '@vigil/observability';
import { frameMessage, statusMessage } from './frame-message.js';
import { INGEST_CONFIG, ROOT_LOGGER } from './ingest.tokens.js';

/** Frames waiting for the broker per stream; beyond this the newest sample is dropped and counted. */
const MAX_IN_FLIGHT_PER_STREAM = 8;

interface StreamRuntime {
  readonly spec: StreamSpec;
  readonly supervisor: StreamSupervisor;
  inFlight: number;
  framesOut: number;
  drops: number;
  lastStats: { at: number; framesIn: number; framesOut: number };
}

/**
 * Runs one StreamSupervisor per configured camera and publishes its samples to vigil.frames.v1 and its
 * health to vigil.stream-status.v1. Frames are perishable: when the broker lags they are dropped and
 * counted, never queued without bound.
 */
@Injectable()
export class IngestService implements OnModuleInit, OnModuleDestroy {
  private readonly log: Logger;
  private readonly conn: KafkaConnection;
  private readonly publisher: KafkaPublisher;
  private readonly streams = new Map<string, StreamRuntime>();
  private statusTimer: NodeJS.Timeout | null = null;

  constructor(
    @Inject(INGEST_CONFIG) private readonly config: IngestConfig,
    @Inject(ROOT_LOGGER) root: Logger,
  ) {
    this.log = root.child('ingest');
    this.conn = {
      brokers: config.brokers,
      clientId: `${config.clientId}-ingest`,
      connectTimeoutMs: config.connectTimeoutMs,
    };
    this.publisher = new KafkaPublisher(createKafka(this.conn, root), this.conn);
  }

  async onModuleInit(): Promise<void> {
    const kafka = createKafka(this.conn, this.log);
    const topics = await ensureTopics(kafka, this.conn, [
      TOPICS.frames,
      TOPICS.streamStatus,
      TOPICS.control,
      TOPICS.streams,
    ]);
    if (topics.created.length) this.log.info('created topics', { topics: topics.created.join(',') });
    await this.publisher.connect();
    for (const spec of this.config.streams.filter((s) => s.enabled)) this.add(spec);
    this.statusTimer = setInterval(() => void this.publishAllStats(), this.config.statusIntervalMs);
    this.statusTimer.unref();
    this.log.info('ingest running', { streams: this.streams.size, brokers: this.conn.brokers.join(',') });
  }

  async onModuleDestroy(): Promise<void> {
    if (this.statusTimer) clearInterval(this.statusTimer);
    await Promise.all([...this.streams.values()].map((s) => s.supervisor.stop()));
    await this.publishAllStats();
    this.streams.clear();
    await this.publisher.disconnect();
    this.log.info('ingest stopped');
  }

  /** Current supervisors, for health and tests. */
  list(): readonly { id: string; state: string; pid: number | undefined }[] {
    return [...this.streams.values()].map((s) => ({
      id: s.spec.id,
      state: s.supervisor.state,
      pid: s.supervisor.pid,
    }));
  }

  private add(spec: StreamSpec): void {
    const runtime: StreamRuntime = {
      spec,
      inFlight: 0,
      framesOut: 0,
      drops: 0,
      lastStats: { at: Date.now(), framesIn: 0, framesOut: 0 },
      supervisor: new StreamSupervisor(
        spec,
        {
          ffmpegPath: this.config.ffmpegPath,
          stallTimeoutMs: this.config.stallTimeoutMs,
          ioTimeoutMs: this.config.rtspTimeoutMs,
          backoffInitialMs: this.config.backoffInitialMs,
          backoffMaxMs: this.config.backoffMaxMs,
          realtime: true,
        },
        (frame) => this.onFrame(runtime, frame),
        (change) => this.onState(runtime, change),
      ),
    };
    this.streams.set(spec.id, runtime);
    this.log.info('starting stream', {
      streamId: spec.id,
      url: redactUrl(spec.url),
      sampling: spec.sampling.mode,
    });
    runtime.supervisor.start();
  }

  private onFrame(
    rt: StreamRuntime,
    frame: Parameters<ConstructorParameters<typeof StreamSupervisor>[2]>[0],
  ): void {
    if (rt.inFlight >= MAX_IN_FLIGHT_PER_STREAM) {
      rt.drops++;
      return;
    }
    rt.inFlight++;
    const sampling = rt.spec.sampling.mode === 'fps' ? 'fps' : 'keyframes';
    this.publisher
      .publish(TOPICS.frames.name, [frameMessage(rt.spec, frame, sampling)])
      .then(() => rt.framesOut++)
      .catch((err: Error) => {
        rt.drops++;
        this.log.warn('frame dropped: publish failed', { streamId: rt.spec.id, reason: err.message });
      })
      .finally(() => rt.inFlight--);
  }

  private onState(rt: StreamRuntime, change: StateChange): void {
    const fields = { streamId: rt.spec.id, state: change.state };
    if (change.state === 'backoff') {
      this.log.warn(
        `stream ${rt.spec.id} cannot be read: ${change.reason ?? 'ffmpeg stopped'}; retrying in ${((change.retryInMs ?? 0) / 1000).toFixed(1)} s (check that the camera is reachable and its URL, port, path and credentials are right)`,
        fields,
      );
    } else if (change.state === 'stalled') {
      this.log.warn(`stream ${rt.spec.id} stalled: ${change.reason ?? ''}; restarting ffmpeg`, fields);
    } else {
      this.log.info(`stream ${rt.spec.id} ${change.state}`, fields);
    }
    void this.publishStatus(rt);
  }

  private async publishAllStats(): Promise<void> {
    await Promise.all([...this.streams.values()].map((rt) => this.publishStatus(rt)));
  }

  private async publishStatus(rt: StreamRuntime): Promise<void> {
    const now = Date.now();
    const stats = rt.supervisor.stats();
    const seconds = Math.max(0.001, (now - rt.lastStats.at) / 1000);
    const status = StreamStatusSchema.parse({
      streamId: rt.spec.id,
      state: rt.supervisor.state,
      online: rt.supervisor.state === 'running',
      at: new Date(now).toISOString(),
      fpsIn: (stats.framesIn - rt.lastStats.framesIn) / seconds,
      fpsOut: (rt.framesOut - rt.lastStats.framesOut) / seconds,
      framesOut: rt.framesOut,
      drops: rt.drops,
      restarts: stats.restarts,
      lastFrameAt: stats.lastFrameAt === null ? null : new Date(stats.lastFrameAt).toISOString(),
      lastError: stats.lastError,
    });
    rt.lastStats = { at: now, framesIn: stats.framesIn, framesOut: rt.framesOut };
    try {
      await this.publisher.publish(TOPICS.streamStatus.name, [statusMessage(status)]);
    } catch (err) {
      this.log.warn('status not published', { streamId: rt.spec.id, reason: (err as Error).message });
    }
  }
}
