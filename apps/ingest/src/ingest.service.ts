import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { type StreamSpec, type StreamStatus, StreamStatusSchema, TOPICS, redactUrl } from '@vigil/contracts';
import { lookup } from 'node:dns/promises';
import { FileSecretStore, type IngestConfig, cameraPolicy, kafkaConnection } from '@vigil/config';
import {
  KafkaPublisher,
  createKafka,
  ensureTopics,
  type KafkaConnection,
  type OutgoingMessage,
  frameMessage,
  statusMessage,
} from '@vigil/kafka';
import { ChangeDetector } from '@vigil/anomaly';
import { type SampledFrame, type StateChange, StreamSupervisor, classifyFailure } from '@vigil/media';
import { type GrayThumbnail, grayThumbnail, meanAbsDiff } from '@vigil/vision';
import { Logger, OpsEndpoint } from '@vigil/observability';
import { IngestMetrics } from './ingest-metrics.js';
import { INGEST_CONFIG, ROOT_LOGGER } from './ingest.tokens.js';

interface StreamRuntime {
  readonly spec: StreamSpec;
  readonly supervisor: StreamSupervisor;
  /** Frames waiting for Kafka, oldest first; bounded: the oldest is dropped when full. */
  queue: OutgoingMessage[];
  sending: boolean;
  framesOut: number;
  drops: number;
  lastStats: { at: number; framesIn: number; framesOut: number };
  lastPublishError: number;
  removed: boolean;
  /** Adaptive sampling: the cheap change check (previous keyframe thumbnail), and when the burst ends. */
  changeCheck: { prev: GrayThumbnail | null; detector: ChangeDetector; busy: boolean };
  burstTimer: NodeJS.Timeout | null;
  burstUntil: number;
}

/**
 * Runs one StreamSupervisor per camera and publishes its samples to vigil.frames.v1 and its health to
 * vigil.stream-status.v1. Frames are perishable: while Kafka is slow, each stream keeps at most
 * `queueFrames` samples and drops the oldest (counted), so memory stays flat.
 */
@Injectable()
export class IngestService implements OnModuleInit, OnModuleDestroy {
  private readonly log: Logger;
  private readonly conn: KafkaConnection;
  private readonly publisher: KafkaPublisher;
  private readonly secrets: FileSecretStore;
  readonly metrics = new IngestMetrics();
  private readonly ops: OpsEndpoint;
  private readonly streams = new Map<string, StreamRuntime>();
  /** Streams whose ffmpeg is stopping for a spec change → the newest spec to start once it has stopped. */
  private readonly restarting = new Map<string, StreamSpec>();
  private statusTimer: NodeJS.Timeout | null = null;
  private kafkaReady = false;
  private closing = false;
  private _httpPort = 0;

  constructor(
    @Inject(INGEST_CONFIG) private readonly config: IngestConfig,
    @Inject(ROOT_LOGGER) root: Logger,
  ) {
    this.log = root.child('ingest');
    this.conn = kafkaConnection(config, `${config.clientId}-ingest`);
    this.publisher = new KafkaPublisher(createKafka(this.conn, root), this.conn);
    this.secrets = new FileSecretStore(config.secretsDir);
    this.metrics.ages = () => this.ages();
    this.ops = new OpsEndpoint(this.metrics.registry, {
      ready: () => ({
        ok: this.kafkaReady,
        detail: this.kafkaReady ? `${this.streams.size} streams` : 'not connected to Kafka',
      }),
    });
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
    this.kafkaReady = true;
    this._httpPort = await this.ops.listen(this.config.httpPort, '0.0.0.0', 'VIGIL_INGEST_HTTP_PORT');
    for (const spec of this.config.streams) this.upsert(spec);
    this.statusTimer = setInterval(() => void this.publishAllStats(), this.config.statusIntervalMs);
    this.statusTimer.unref();
    this.log.info('ingest running', {
      streams: this.streams.size,
      brokers: this.conn.brokers.join(','),
      metrics: `http://0.0.0.0:${this._httpPort}/metrics`,
    });
  }

  async onModuleDestroy(): Promise<void> {
    this.closing = true;
    if (this.statusTimer) clearInterval(this.statusTimer);
    await Promise.all([...this.streams.keys()].map((id) => this.remove(id)));
    await this.ops.close();
    this.kafkaReady = false;
    await this.publisher.disconnect();
    this.log.info('ingest stopped');
  }

  get httpPort(): number {
    return this._httpPort;
  }

  /** Current streams, for health and tests. */
  list(): readonly { id: string; state: string; pid: number | undefined }[] {
    return [...this.streams.values()].map((s) => ({
      id: s.spec.id,
      state: s.supervisor.state,
      pid: s.supervisor.pid,
    }));
  }

  /** Starts a stream, restarts it when its spec changed, or stops it when it is disabled. */
  upsert(spec: StreamSpec): void {
    if (this.closing) return;
    // while the old ffmpeg of this stream is being stopped, only remember the newest spec: it starts once
    if (this.restarting.has(spec.id)) {
      this.restarting.set(spec.id, spec);
      return;
    }
    const current = this.streams.get(spec.id);
    if (current && JSON.stringify(current.spec) === JSON.stringify(spec)) return;
    if (current) {
      this.log.info('stream spec changed: restarting', { streamId: spec.id });
      this.restarting.set(spec.id, spec);
      void this.stopStream(spec.id).then(() => {
        const latest = this.restarting.get(spec.id);
        this.restarting.delete(spec.id);
        if (latest?.enabled && !this.closing) this.start(latest);
      });
      return;
    }
    if (spec.enabled) this.start(spec);
  }

  /** Stops a stream (and cancels a restart under way) and publishes its final status. */
  async remove(id: string): Promise<void> {
    this.restarting.delete(id);
    await this.stopStream(id);
  }

  private async stopStream(id: string): Promise<void> {
    const rt = this.streams.get(id);
    if (!rt) return;
    this.streams.delete(id);
    rt.removed = true;
    if (rt.burstTimer) clearTimeout(rt.burstTimer);
    await rt.supervisor.stop();
    await this.publishStatus(rt);
    this.metrics.forget(id);
    this.metrics.streams.set(this.streams.size);
  }

  private start(spec: StreamSpec): void {
    const creds = spec.credentials;
    const rt: StreamRuntime = {
      spec,
      queue: [],
      sending: false,
      framesOut: 0,
      drops: 0,
      lastStats: { at: Date.now(), framesIn: 0, framesOut: 0 },
      lastPublishError: 0,
      removed: false,
      changeCheck: { prev: null, detector: this.changeDetector(), busy: false },
      burstTimer: null,
      burstUntil: 0,
      supervisor: new StreamSupervisor(
        spec,
        {
          ffmpegPath: this.config.ffmpegPath,
          stallTimeoutMs: this.config.stallTimeoutMs,
          ioTimeoutMs: this.config.rtspTimeoutMs,
          backoffInitialMs: this.config.backoffInitialMs,
          backoffMaxMs: this.config.backoffMaxMs,
          realtime: true,
          ...cameraPolicy(this.config),
          // IPv4 first: the address pinned is the first, and cameras are IPv4 far more often than not
          resolveHost: (name) => lookup(name, { all: true, verbatim: false }),
          ...(creds ? { credentials: () => this.secrets.credentials(creds.secret) } : {}),
        },
        (frame) => this.onFrame(rt, frame),
        (change) => this.onState(rt, change),
      ),
    };
    this.streams.set(spec.id, rt);
    this.metrics.streams.set(this.streams.size);
    this.log.info('starting stream', {
      streamId: spec.id,
      url: redactUrl(spec.url),
      sampling: spec.sampling.mode,
    });
    rt.supervisor.start();
  }

  /**
   * Adaptive sampling: full decoding at the stream's burstFps for `seconds` (extended by later requests),
   * then back to keyframes. Returns false for streams not here or not in adaptive mode.
   */
  requestBurst(id: string, reason: string, seconds?: number): boolean {
    const rt = this.streams.get(id);
    if (!rt || rt.removed || rt.spec.sampling.mode !== 'adaptive') return false;
    const until = Date.now() + (seconds ?? rt.spec.sampling.burstSeconds) * 1000;
    if (until <= rt.burstUntil) return true;
    rt.burstUntil = until;
    if (!rt.burstTimer) {
      this.metrics.bursts.inc({ stream: id, reason });
      this.log.info(`burst sampling at ${rt.spec.sampling.burstFps} fps`, { streamId: id, reason });
      rt.supervisor.setBurst(rt.spec.sampling.burstFps);
    } else {
      clearTimeout(rt.burstTimer);
    }
    rt.burstTimer = setTimeout(() => {
      rt.burstTimer = null;
      rt.burstUntil = 0;
      rt.changeCheck = { prev: null, detector: this.changeDetector(), busy: false };
      if (!rt.removed) rt.supervisor.setBurst(undefined);
    }, until - Date.now());
    rt.burstTimer.unref();
    return true;
  }

  /** A jump relative to the scene's usual keyframe-to-keyframe change (steady motion does not count). */
  private changeDetector(): ChangeDetector {
    const enter = this.config.changeThreshold;
    return new ChangeDetector({ enter, exit: enter / 2, calmSamples: 1, warmupSamples: 2, ratio: 3 });
  }

  /** Ingest's own cheap change check: a 32×18 luma thumbnail per keyframe (well under a millisecond). */
  private async checkChange(rt: StreamRuntime, frame: SampledFrame): Promise<void> {
    const check = rt.changeCheck;
    check.busy = true;
    try {
      const thumb = await grayThumbnail(frame.image, 32, 18);
      const change = check.prev ? meanAbsDiff(check.prev.pixels, thumb.pixels) : null;
      if (change !== null && check.detector.observe(change, frame.capturedAt).kind === 'start') {
        this.requestBurst(rt.spec.id, 'change');
      }
      check.prev = thumb;
    } catch {
      // an undecodable sample is the analyzer's to report; the check just skips it
    } finally {
      check.busy = false;
    }
  }

  private onFrame(rt: StreamRuntime, frame: SampledFrame): void {
    this.metrics.framesIn.inc({ stream: rt.spec.id });
    const bursting = rt.supervisor.bursting;
    if (rt.spec.sampling.mode === 'adaptive' && !bursting && !rt.changeCheck.busy)
      void this.checkChange(rt, frame);
    const sampling = bursting ? 'burst' : rt.spec.sampling.mode === 'fps' ? 'fps' : 'keyframes';
    rt.queue.push(frameMessage(rt.spec, frame, sampling));
    if (rt.queue.length > this.config.queueFrames) {
      rt.queue.shift();
      this.drop(rt, 1, 'queue_full');
    }
    this.metrics.queued.set({ stream: rt.spec.id }, rt.queue.length);
    if (!rt.sending) void this.pump(rt);
  }

  /** Sends everything queued for the stream in one request, until the queue is empty. */
  private async pump(rt: StreamRuntime): Promise<void> {
    rt.sending = true;
    try {
      while (rt.queue.length > 0) {
        const batch = rt.queue.splice(0);
        this.metrics.queued.set({ stream: rt.spec.id }, 0);
        try {
          await this.publisher.publish(TOPICS.frames.name, batch);
          rt.framesOut += batch.length;
          this.metrics.framesOut.inc({ stream: rt.spec.id }, batch.length);
        } catch (err) {
          this.drop(rt, batch.length, 'publish_failed');
          // one line per stream per 10 s at most while the broker is away
          if (Date.now() - rt.lastPublishError > 10_000) {
            rt.lastPublishError = Date.now();
            this.log.warn(
              `frames of ${rt.spec.id} dropped: Kafka publish failed (${(err as Error).message})`,
              {
                streamId: rt.spec.id,
              },
            );
          }
        }
      }
    } finally {
      rt.sending = false;
    }
  }

  private drop(rt: StreamRuntime, n: number, reason: 'queue_full' | 'publish_failed'): void {
    rt.drops += n;
    this.metrics.drops.inc({ stream: rt.spec.id, reason }, n);
  }

  private onState(rt: StreamRuntime, change: StateChange): void {
    const fields = { streamId: rt.spec.id, state: change.state };
    this.metrics.online.set({ stream: rt.spec.id }, change.state === 'running' ? 1 : 0);
    if (change.state === 'starting' && change.previous === 'backoff')
      this.metrics.restarts.inc({ stream: rt.spec.id });
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
    if (!rt.removed) void this.publishStatus(rt);
  }

  private ages(): [string, number][] {
    const now = Date.now();
    return [...this.streams.values()].flatMap((rt) => {
      const last = rt.supervisor.stats().lastFrameAt;
      return last === null ? [] : [[rt.spec.id, (now - last) / 1000] as [string, number]];
    });
  }

  private async publishAllStats(): Promise<void> {
    await Promise.all([...this.streams.values()].map((rt) => this.publishStatus(rt)));
  }

  /** The stream's status now; pure apart from reading the supervisor. */
  status(rt: StreamRuntime, now = Date.now()): StreamStatus {
    const stats = rt.supervisor.stats();
    const seconds = Math.max(0.001, (now - rt.lastStats.at) / 1000);
    const state = rt.supervisor.state;
    const health =
      state === 'running'
        ? 'online'
        : state === 'stopped'
          ? 'stopped'
          : stats.lastError
            ? classifyFailure(stats.lastError)
            : 'offline';
    return StreamStatusSchema.parse({
      streamId: rt.spec.id,
      state,
      online: state === 'running',
      health,
      at: new Date(now).toISOString(),
      fpsIn: (stats.framesIn - rt.lastStats.framesIn) / seconds,
      fpsOut: (rt.framesOut - rt.lastStats.framesOut) / seconds,
      framesOut: rt.framesOut,
      drops: rt.drops,
      restarts: stats.restarts,
      lastFrameAt: stats.lastFrameAt === null ? null : new Date(stats.lastFrameAt).toISOString(),
      lastFrameAgeS: stats.lastFrameAt === null ? null : Math.max(0, (now - stats.lastFrameAt) / 1000),
      lastError: stats.lastError,
    });
  }

  private async publishStatus(rt: StreamRuntime): Promise<void> {
    const now = Date.now();
    const status = this.status(rt, now);
    const stats = rt.supervisor.stats();
    rt.lastStats = { at: now, framesIn: stats.framesIn, framesOut: rt.framesOut };
    try {
      await this.publisher.publish(TOPICS.streamStatus.name, [statusMessage(status)]);
    } catch (err) {
      this.log.debug('status not published', { streamId: rt.spec.id, reason: (err as Error).message });
    }
  }
}
