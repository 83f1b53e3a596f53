import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { type INestApplicationContext } from '@nestjs/common';
import { type AnalyzerConfig } from '@vigil/config';
import { type Logger, nestLoggerAdapter } from '@vigil/observability';
import { AnalyzerModule } from './analyzer.module.js';
import { AnalyzerService } from './analyzer.service.js';

/** Boots the analyzer role and waits until it owns partitions; the caller owns shutdown (app.close()). */
export async function startAnalyzer(
  config: AnalyzerConfig,
  logger: Logger,
): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(AnalyzerModule.register(config, logger), {
    logger: nestLoggerAdapter(logger),
    abortOnError: false,
  });
  await app.init();
  await app.get(AnalyzerService).whenReady();
  return app;
}
