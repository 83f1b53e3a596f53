import { type DynamicModule, Module } from '@nestjs/common';
import { type IngestConfig } from '@vigil/config';
import { type Logger } from '@vigil/observability';
import { IngestService } from './ingest.service.js';
import { StreamAssignmentService } from './stream-assignment.service.js';
import { ControlService } from './control.service.js';
import { INGEST_CONFIG, ROOT_LOGGER } from './ingest.tokens.js';

@Module({})
export class IngestModule {
  static register(config: IngestConfig, logger: Logger): DynamicModule {
    return {
      module: IngestModule,
      providers: [
        { provide: INGEST_CONFIG, useValue: config },
        { provide: ROOT_LOGGER, useValue: logger },
        IngestService,
        StreamAssignmentService,
        ControlService,
      ],
      exports: [IngestService, StreamAssignmentService],
    };
  }
}
