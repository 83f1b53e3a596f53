import { type DynamicModule, Module } from '@nestjs/common';
import { type GatewayConfig } from '@vigil/config';
import { type Logger } from '@vigil/observability';
import { EventHub } from './event-hub.js';
import { EventsController } from './events.controller.js';
import { FeedService } from './feed.service.js';
import { GatewayMetrics } from './gateway-metrics.js';
import { HealthController } from './health.controller.js';
import { LiveViewHub } from './live-view.js';
import { RecordsController } from './records.controller.js';
import { GatewayStore } from './store.js';
import { StreamsController } from './streams.controller.js';
import { GATEWAY_CONFIG, ROOT_LOGGER } from './gateway.tokens.js';

@Module({})
export class GatewayModule {
  static register(config: GatewayConfig, logger: Logger): DynamicModule {
    return {
      module: GatewayModule,
      controllers: [StreamsController, RecordsController, EventsController, HealthController],
      providers: [
        { provide: GATEWAY_CONFIG, useValue: config },
        { provide: ROOT_LOGGER, useValue: logger },
        { provide: GatewayStore, useFactory: () => new GatewayStore(config.dbPath) },
        EventHub,
        GatewayMetrics,
        FeedService,
        {
          provide: LiveViewHub,
          useFactory: (feed: FeedService, metrics: GatewayMetrics) =>
            new LiveViewHub(config, (id) => feed.spec(id), metrics, logger.child('live')),
          inject: [FeedService, GatewayMetrics],
        },
      ],
    };
  }
}
