import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { type INestApplicationContext } from '@nestjs/common';
import { type IngestConfig } from '@vigil/config';
import { type Logger, nestLoggerAdapter } from '@vigil/observability';
import { IngestModule } from './ingest.module.js';

/** Boots the ingest role; the caller owns shutdown (app.close()). */
export async function startIngest(config: IngestConfig, logger: Logger): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(IngestModule.register(config, logger), {
    logger: nestLoggerAdapter(logger),
    abortOnError: false,
  });
  await app.init();
  return app;
}
