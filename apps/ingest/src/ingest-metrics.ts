import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of the ingest role; one registry per app instance (tests run several). */
export class IngestMetrics {
  readonly registry = new Registry();
  readonly framesIn = new Counter({
    name: 'vigil_ingest_frames_in_total',
    help: 'Samples read from ffmpeg',
    labelNames: ['stream'] as const,
    registers: [this.registry],
  });
  readonly framesOut = new Counter({
    name: 'vigil_ingest_frames_out_total',
    help: 'Frames published to Kafka',
    labelNames: ['stream'] as const,
    registers: [this.registry],
  });
  readonly drops = new Counter({
    name: 'vigil_ingest_frames_dropped_total',
    help: 'Samples dropped: queue_full (Kafka slower than the camera) or publish_failed',
    labelNames: ['stream', 'reason'] as const,
    registers: [this.registry],
  });
  readonly restarts = new Counter({
    name: 'vigil_ingest_ffmpeg_restarts_total',
    help: 'ffmpeg restarts after an exit or a stall',
    labelNames: ['stream'] as const,
    registers: [this.registry],
  });
  readonly online = new Gauge({
    name: 'vigil_ingest_stream_online',
    help: '1 while the stream delivers frames',
    labelNames: ['stream'] as const,
    registers: [this.registry],
  });
  /** Set by the service: the current last-frame age of each stream, read at scrape time. */
  ages: () => Iterable<[stream: string, ageSeconds: number]> = () => [];
  readonly lastFrameAge = new Gauge({
    name: 'vigil_ingest_last_frame_age_seconds',
    help: 'Seconds since the last sample of the stream',
    labelNames: ['stream'] as const,
    registers: [this.registry],
    collect: () => {
      for (const [stream, age] of this.ages()) this.lastFrameAge.set({ stream }, age);
    },
  });
  readonly queued = new Gauge({
    name: 'vigil_ingest_queued_frames',
    help: 'Frames waiting for Kafka per stream (bounded by VIGIL_INGEST_QUEUE_FRAMES)',
    labelNames: ['stream'] as const,
    registers: [this.registry],
  });
  readonly bursts = new Counter({
    name: 'vigil_ingest_bursts_total',
    help: 'Bursts of full-rate sampling in adaptive mode, by what asked for them (change, analyzer, ...)',
    labelNames: ['stream', 'reason'] as const,
    registers: [this.registry],
  });
  readonly streams = new Gauge({
    name: 'vigil_ingest_streams',
    help: 'Streams this worker runs',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'vigil_ingest_' });
  }

  forget(stream: string): void {
    for (const m of [
      this.framesIn,
      this.framesOut,
      this.restarts,
      this.online,
      this.lastFrameAge,
      this.queued,
    ])
      m.remove({ stream });
    this.drops.remove({ stream, reason: 'queue_full' });
    this.drops.remove({ stream, reason: 'publish_failed' });
  }
}
