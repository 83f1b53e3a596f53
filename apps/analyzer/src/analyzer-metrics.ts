import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of the analyzer role; one registry per app instance. */
export class AnalyzerMetrics {
  readonly registry = new Registry();
  /** Set by the encoder: the near-duplicate gate's skip ratio per stream, read at scrape time. */
  skipRatios: () => Iterable<[stream: string, ratio: number]> = () => [];
  /** Set by the analyzer: its outbox's counts, read at scrape time. */
  outbox: () => { pending: number; spooled: number; refused: number; rejected: number } = () => ({
    pending: 0,
    spooled: 0,
    refused: 0,
    rejected: 0,
  });
  /** Set by the analyzer: per stream, whether its normal is still being learned (warm-up). */
  learning: () => Iterable<[stream: string, learning: boolean]> = () => [];
  readonly frames = new Counter({
    name: 'vigil_analyzer_frames_total',
    help: 'Frames analyzed',
    labelNames: ['stream'] as const,
    registers: [this.registry],
  });
  readonly reused = new Counter({
    name: 'vigil_analyzer_tokens_reused_total',
    help: 'Frames that reused their stream’s last tokens (near-duplicate gate)',
    labelNames: ['stream'] as const,
    registers: [this.registry],
  });
  readonly dropped = new Counter({
    name: 'vigil_analyzer_frames_dropped_total',
    help: 'Frames dropped under load, per stream: reason "stale" (older than VIGIL_ANALYZER_MAX_FRAME_AGE_MS when read), "superseded" (over a second late with a newer frame of its stream read) or "queue" (the encoder was behind)',
    labelNames: ['stream', 'reason'] as const,
    registers: [this.registry],
  });
  readonly duplicates = new Counter({
    name: 'vigil_analyzer_frames_redelivered_total',
    help: 'Frames skipped because they were already analyzed (Kafka redelivery after a restart)',
    labelNames: ['stream'] as const,
    registers: [this.registry],
  });
  readonly rejected = new Counter({
    name: 'vigil_analyzer_messages_rejected_total',
    help: 'Frame messages that could not be used (set aside on vigil.dlq.v1)',
    registers: [this.registry],
  });
  readonly batches = new Counter({
    name: 'vigil_analyzer_encoder_batches_total',
    help: 'Encoder runs',
    registers: [this.registry],
  });
  readonly encoded = new Counter({
    name: 'vigil_analyzer_encoder_frames_total',
    help: 'Frames encoded (frames / batches = mean batch size)',
    registers: [this.registry],
  });
  readonly detected = new Counter({
    name: 'vigil_analyzer_detector_frames_total',
    help: 'Frames the object detector ran on',
    registers: [this.registry],
  });
  readonly detectorBatchSeconds = new Histogram({
    name: 'vigil_analyzer_detector_batch_seconds',
    help: 'Time the object detector took per batch (decode, resize, model run)',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly skipRatio = new Gauge({
    name: 'vigil_analyzer_gate_skip_ratio',
    help: 'Fraction of a stream’s frames that reused tokens instead of being encoded',
    labelNames: ['stream'] as const,
    registers: [this.registry],
    collect: () => {
      for (const [stream, ratio] of this.skipRatios()) this.skipRatio.set({ stream }, ratio);
    },
  });

  readonly baselineLearning = new Gauge({
    name: 'vigil_analyzer_baseline_learning',
    help: '1 while a stream’s normal is being learned (no anomaly scoring yet), 0 once it is scored',
    labelNames: ['stream'] as const,
    registers: [this.registry],
    collect: () => {
      for (const [stream, learning] of this.learning())
        this.baselineLearning.set({ stream }, learning ? 1 : 0);
    },
  });

  readonly encoderBatchSeconds = new Histogram({
    name: 'vigil_analyzer_encoder_batch_seconds',
    help: 'Time the vision encoder took per batch (decode, resize, model run)',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  readonly decoderSeconds = new Histogram({
    name: 'vigil_analyzer_decoder_seconds',
    help: 'Time from a window closing to its narration, by decoder (grounded also when it stood in: fallback="true")',
    labelNames: ['decoder', 'fallback'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly events = new Counter({
    name: 'vigil_analyzer_anomaly_events_total',
    help: 'Anomaly events started, by kind and severity',
    labelNames: ['kind', 'severity'] as const,
    registers: [this.registry],
  });

  readonly summaries = new Counter({
    name: 'vigil_analyzer_summaries_total',
    help: 'Summaries published, by level (window, minute, hour)',
    labelNames: ['level'] as const,
    registers: [this.registry],
  });

  readonly outboxMessages = new Gauge({
    name: 'vigil_analyzer_outbox_messages',
    help: 'Events, summaries and baselines of the durable outbox: pending (on disk, Kafka away), spooled (ever went to disk), refused (outbox full), rejected (Kafka refused them for good)',
    labelNames: ['state'] as const,
    registers: [this.registry],
    collect: () => {
      const o = this.outbox();
      for (const state of ['pending', 'spooled', 'refused', 'rejected'] as const)
        this.outboxMessages.set({ state }, o[state]);
    },
  });

  /** Set by the analyzer: frames dropped in the last minute. */
  load: () => { dropped: number } = () => ({ dropped: 0 });

  readonly overloaded: Gauge = new Gauge({
    name: 'vigil_analyzer_overloaded',
    help: '1 while the analyzer drops frames to keep up (any dropped in the last minute), else 0',
    registers: [this.registry],
    collect: (): void => this.overloaded.set(this.load().dropped > 0 ? 1 : 0),
  });

  readonly perishableDropped = new Counter({
    name: 'vigil_analyzer_perishable_dropped_total',
    help: 'Scores and burst requests dropped because Kafka did not take them',
    labelNames: ['topic'] as const,
    registers: [this.registry],
  });

  readonly consumerLag = new Gauge({
    name: 'vigil_analyzer_consumer_lag',
    help: 'Messages behind the end of each partition this analyzer reads, as of its latest batch',
    labelNames: ['topic', 'partition'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'vigil_analyzer_' });
  }
}
