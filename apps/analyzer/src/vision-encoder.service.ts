import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { type AnalyzerConfig } from '@vigil/config';
import {
  type DynamicBatcher,
  type GrayThumbnail,
  NearDuplicateGate,
  type VisionModel,
  VisionSessionPool,
  createEncodePath,
  parseProvider,
  shippedModel,
} from '@vigil/vision';
import { Logger } from '@vigil/observability';
import { AnalyzerMetrics } from './analyzer-metrics.js';
import { ANALYZER_CONFIG, ROOT_LOGGER } from './analyzer.tokens.js';

/**
 * Frames → vision tokens: one resident model session (loaded and warmed up at boot, so a bad model or a
 * missing GPU stops the analyzer with one clear error), a dynamic batcher across streams, and a
 * near-duplicate gate that reuses a stream's last tokens when its picture did not change.
 */
@Injectable()
export class VisionEncoderService implements OnModuleInit, OnApplicationShutdown {
  private readonly log: Logger;
  private readonly pool: VisionSessionPool;
  private model!: VisionModel;
  private batcher!: DynamicBatcher<Buffer, Float32Array>;
  private readonly gate: NearDuplicateGate<Float32Array>;
  private readonly streams = new Set<string>();
  private loaded!: (ok: boolean) => void;
  /** Settles once the encoder has loaded (true) or failed to (false): the detector loads after it. */
  readonly ready = new Promise<boolean>((resolve) => (this.loaded = resolve));

  constructor(
    @Inject(ANALYZER_CONFIG) private readonly config: AnalyzerConfig,
    @Inject(ROOT_LOGGER) root: Logger,
    private readonly metrics: AnalyzerMetrics,
  ) {
    this.log = root.child('vision');
    this.pool = new VisionSessionPool({
      provider: parseProvider(config.visionProvider),
      intraOpThreads: config.visionThreads,
      maxBatch: config.visionMaxBatch,
    });
    this.gate = new NearDuplicateGate({
      threshold: config.gateThreshold,
      maxReuseMs: config.gateMaxReuseS * 1000,
    });
    metrics.skipRatios = () => [...this.streams].map((s) => [s, this.gate.skipRatio(s)] as [string, number]);
  }

  async onModuleInit(): Promise<void> {
    const path = this.config.visionModel || shippedModel('vigil-patch-v1');
    try {
      this.model = await this.pool.get(path);
    } catch (e) {
      this.loaded(false);
      throw e;
    }
    this.loaded(true);
    this.batcher = createEncodePath(this.model, {
      maxBatch: this.config.visionMaxBatch,
      maxWaitMs: this.config.visionMaxWaitMs,
      maxQueuePerStream: this.config.visionQueueFrames,
      onBatch: (start, end, frames) => {
        this.metrics.batches.inc();
        this.metrics.encoderBatchSeconds.observe((end - start) / 1000);
        this.metrics.encoded.inc(frames);
      },
    });
    const m = this.model.manifest;
    this.log.info('vision encoder ready', {
      model: m.name,
      provider: this.config.visionProvider,
      tokens: this.model.tokens,
      dims: m.output.tokenDims,
    });
  }

  /**
   * After every onModuleDestroy (Nest runs those concurrently): the analyzer has stopped consuming by now,
   * so no frame arrives at a closed batcher. Queued frames are dropped; the batch in the model finishes
   * before its session is released.
   */
  async onApplicationShutdown(): Promise<void> {
    await this.batcher?.close();
    await this.pool.close();
  }

  get manifest() {
    return this.model.manifest;
  }

  /**
   * Tokens of one frame ([T × D]); rejects with FrameDroppedError when the stream's encoder queue
   * overflowed. `allowReuse: false` encodes even a near-duplicate (a scene whose fine motion, such as a
   * belt's texture, the gate's small thumbnail cannot see).
   */
  async tokens(
    streamId: string,
    jpeg: Buffer,
    thumb: GrayThumbnail,
    at: number,
    allowReuse = true,
  ): Promise<{ tokens: Float32Array; reused: boolean }> {
    this.streams.add(streamId);
    const g = allowReuse ? this.gate.check(streamId, thumb.pixels, at) : ({ reuse: false } as const);
    if (g.reuse) {
      this.metrics.reused.inc({ stream: streamId });
      return { tokens: g.tokens, reused: true };
    }
    const tokens = await this.batcher.submit(streamId, jpeg);
    this.gate.encoded(streamId, thumb.pixels, at, tokens);
    return { tokens, reused: false };
  }
}
