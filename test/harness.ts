import { type INestApplicationContext } from '@nestjs/common';
import { type StreamSpecInput } from '@vigil/contracts';
import { loadIngestConfig } from '@vigil/config';
import { type Logger } from '@vigil/observability';
import { startIngest } from '../apps/ingest/src/main.js';

/** An ingest worker that runs exactly these streams (static assignment), quiet, metrics on a free port. */
export function startStaticIngest(
  brokers: readonly string[],
  streams: readonly StreamSpecInput[],
  log: Logger,
): Promise<INestApplicationContext> {
  return startIngest(
    loadIngestConfig({
      VIGIL_KAFKA_BROKERS: brokers.join(','),
      VIGIL_LOG_LEVEL: 'error',
      VIGIL_INGEST_HTTP_PORT: '0',
      VIGIL_INGEST_ASSIGNMENT: 'static',
      VIGIL_STREAMS: JSON.stringify(streams),
    }),
    log,
  );
}
