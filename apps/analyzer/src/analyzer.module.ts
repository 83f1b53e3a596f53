import { type DynamicModule, Module } from '@nestjs/common';
import { type AnalyzerConfig } from '@vigil/config';
import { GroundedDecoder } from '@vigil/decoders';
import { type Logger } from '@vigil/observability';
import { AnalyzerService } from './analyzer.service.js';
import { FrameAnalysisService } from './frame-analysis.service.js';
import { AnalyzerMetrics } from './analyzer-metrics.js';
import { VisionEncoderService } from './vision-encoder.service.js';
import { ANALYZER_CONFIG, DECODER, ROOT_LOGGER } from './analyzer.tokens.js';

@Module({})
export class AnalyzerModule {
  static register(config: AnalyzerConfig, logger: Logger): DynamicModule {
    return {
      module: AnalyzerModule,
      providers: [
        { provide: ANALYZER_CONFIG, useValue: config },
        { provide: ROOT_LOGGER, useValue: logger },
        { provide: DECODER, useValue: new GroundedDecoder() },
        { provide: AnalyzerMetrics, useValue: new AnalyzerMetrics() },
        VisionEncoderService,
        FrameAnalysisService,
        AnalyzerService,
      ],
      exports: [AnalyzerService],
    };
  }
}
