import { type DynamicModule, Module } from '@nestjs/common';
import { type AnalyzerConfig, kafkaConnection, readKeyFile } from '@vigil/config';
import { kafkaClients } from '@vigil/kafka';
import { resolve } from 'node:path';
import { type DecoderConfig, createDecoder, readDecoderManifest } from '@vigil/decoders';
import { ConfigError } from '@vigil/config';
import { type Logger } from '@vigil/observability';
import { AnalyzerService } from './analyzer.service.js';
import { FrameAnalysisService } from './frame-analysis.service.js';
import { AnalyzerMetrics } from './analyzer-metrics.js';
import { VisionEncoderService } from './vision-encoder.service.js';
import { ObjectDetectorService } from './object-detector.service.js';
import { ANALYZER_CONFIG, ANALYZER_KAFKA, DECODER, ROOT_LOGGER } from './analyzer.tokens.js';

@Module({})
export class AnalyzerModule {
  static register(config: AnalyzerConfig, logger: Logger): DynamicModule {
    return {
      module: AnalyzerModule,
      providers: [
        { provide: ANALYZER_CONFIG, useValue: config },
        { provide: ROOT_LOGGER, useValue: logger },
        {
          provide: ANALYZER_KAFKA,
          useValue: kafkaClients(
            kafkaConnection(config, `${config.clientId}-analyzer`),
            logger.child('analyzer'),
          ),
        },
        {
          provide: DECODER,
          useValue: createDecoder(decoderConfig(config), {
            onFallback: (e) =>
              logger
                .child('decoder')
                .warn(`narrated by grounded instead: ${e.reason}`, { streamId: e.streamId }),
          }),
        },
        { provide: AnalyzerMetrics, useValue: new AnalyzerMetrics() },
        VisionEncoderService,
        ObjectDetectorService,
        FrameAnalysisService,
        AnalyzerService,
      ],
      exports: [AnalyzerService],
    };
  }
}

/** The decoder backend from the analyzer's settings (the API key read from its mounted file). */
export function decoderConfig(c: AnalyzerConfig): DecoderConfig {
  if (c.decoderType === 'grounded') return { type: 'grounded' };
  const resilience = {
    timeoutMs: c.decoderTimeoutMs,
    retries: c.decoderRetries,
    backoffMs: 500,
    breaker: { failureThreshold: c.decoderBreakerFailures, openMs: c.decoderBreakerOpenS * 1000 },
  };
  if (c.decoderType === 'onnx') {
    const manifestPath = resolve(c.decoderModel);
    try {
      readDecoderManifest(manifestPath);
    } catch (e) {
      throw new ConfigError([`VIGIL_DECODER_MODEL: ${(e as Error).message}`]);
    }
    return {
      type: 'onnx',
      manifestPath,
      provider: c.decoderProvider,
      threads: c.decoderThreads,
      maxBatch: c.decoderBatch,
      maxNewTokens: c.decoderMaxTokens,
      resilience,
    };
  }
  const apiKey = readKeyFile(c.decoderApiKeyFile, 'VIGIL_DECODER_API_KEY_FILE');
  return {
    type: 'openai',
    url: c.decoderUrl,
    model: c.decoderModel,
    ...(apiKey ? { apiKey } : {}),
    resilience,
  };
}
