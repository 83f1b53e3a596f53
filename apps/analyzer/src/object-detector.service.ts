import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { resolve } from 'node:path';
import { type AnalyzerConfig } from '@vigil/config';
import {
  type Detection,
  type DynamicBatcher,
  ObjectDetector,
  createDetectPath,
  parseProvider,
  shippedModel,
} from '@vigil/vision';
import { Logger } from '@vigil/observability';
import { AnalyzerMetrics } from './analyzer-metrics.js';
import { ANALYZER_CONFIG, ROOT_LOGGER } from './analyzer.tokens.js';
import { VisionEncoderService } from './vision-encoder.service.js';

/**
 * The least score of a person, vehicle or animal that still explains the patches it covers, though no track
 * starts under VIGIL_DETECT_MIN_SCORE: NanoDet scores people partly hidden, or walking as a pair, 0.15-0.3
 * (eval --footage: a couple side by side 0.20, two people overlapping 0.24 and 0.31)...
 */
export const SEEN_MIN_SCORE = 0.15;
/**
 * ...and someone cut off by the picture's edge lower still (a head at the bottom edge: 0.15; someone half in
 * at the right: 0.22). See ObjectStage.
 */
export const CUT_OFF_MIN_SCORE = 0.1;

/**
 * Frames → detections (class, score, box) from the trained detector (NanoDet, COCO), loaded and warmed up
 * at boot like the encoder, behind the same kind of dynamic batcher. Each stream is detected at most every
 * VIGIL_DETECT_EVERY_MS; `VIGIL_DETECTOR=off` turns it off (the scene model then explains nothing).
 */
@Injectable()
export class ObjectDetectorService implements OnModuleInit, OnApplicationShutdown {
  private readonly log: Logger;
  private detector?: ObjectDetector;
  private batcher?: DynamicBatcher<Buffer, Detection[]>;

  constructor(
    @Inject(ANALYZER_CONFIG) private readonly config: AnalyzerConfig,
    @Inject(ROOT_LOGGER) root: Logger,
    private readonly metrics: AnalyzerMetrics,
    private readonly encoder: VisionEncoderService,
  ) {
    this.log = root.child('detector');
  }

  get enabled(): boolean {
    return this.config.detector !== 'off';
  }

  get everyMs(): number {
    return this.config.detectEveryMs;
  }

  /** Detections at or above this score are tracked (VIGIL_DETECT_MIN_SCORE). */
  get minScore(): number {
    return this.config.detectMinScore;
  }

  async onModuleInit(): Promise<void> {
    if (!this.enabled) {
      this.log.info('object detector off (VIGIL_DETECTOR=off)');
      return;
    }
    // one model at a time on the device: an encoder that cannot load (no GPU) stops the analyzer with its
    // own error before a second session is opened beside it
    if (!(await this.encoder.ready)) return;
    const c = this.config;
    const path = c.detector.endsWith('.json') ? resolve(c.detector) : shippedModel(c.detector);
    const detector = await ObjectDetector.load(path, {
      provider: parseProvider(c.visionProvider),
      intraOpThreads: c.visionThreads,
    });
    // sized at boot for the largest batch, as the encoder is (no arena growth mid-run)
    const { width, height } = detector.manifest.input;
    const batch = c.visionMaxBatch;
    await detector.run(new Float32Array(new SharedArrayBuffer(batch * 3 * width * height * 4)), batch);
    this.detector = detector;
    this.batcher = createDetectPath(detector, {
      maxBatch: c.visionMaxBatch,
      maxWaitMs: c.visionMaxWaitMs,
      maxQueuePerStream: c.visionQueueFrames,
      // weaker ones come too: an object cut off by the picture's edge scores lower (ObjectStage)
      minScore: Math.min(c.detectMinScore, CUT_OFF_MIN_SCORE),
      onBatch: (start, end, frames) => {
        this.metrics.detected.inc(frames);
        this.metrics.detectorBatchSeconds.observe((end - start) / 1000);
      },
    });
    const m = detector.manifest;
    this.log.info('object detector ready', {
      model: m.name,
      classes: m.classes.length,
      everyMs: c.detectEveryMs,
      provider: c.visionProvider,
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.batcher?.close();
    await this.detector?.release();
  }

  /** The frame's detections; rejects with FrameDroppedError when the stream's queue overflowed. */
  detect(streamId: string, jpeg: Buffer): Promise<Detection[]> {
    if (!this.batcher) return Promise.resolve([]);
    return this.batcher.submit(streamId, jpeg);
  }
}
