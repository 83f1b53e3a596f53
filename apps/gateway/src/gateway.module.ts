import { type DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { type GatewayConfig } from '@vigil/config';
import { type Logger } from '@vigil/observability';
import { ApiKeyGuard, KeyCheck } from './api-key.guard.js';
import { type ApiKeys } from './api-keys.js';
import { EventHub } from './event-hub.js';
import { EventsController } from './events.controller.js';
import { FeedService } from './feed.service.js';
import { GatewayMetrics } from './gateway-metrics.js';
import { HealthController } from './health.controller.js';
import { LiveViewHub } from './live-view.js';
import { RecordsController } from './records.controller.js';
import { RecordsService } from './records.service.js';
import { SearchController } from './search.controller.js';
import { SearchService } from './search.service.js';
import { GatewayRepository } from './repository.js';
import { StreamsController } from './streams.controller.js';
import { StreamsService } from './streams.service.js';
import { UnmatchedController } from './unmatched.controller.js';
import { API_KEYS, GATEWAY_CONFIG, ROOT_LOGGER } from './gateway.tokens.js';

/** The documented controllers, in the order the OpenAPI document lists their routes. */
export const API_CONTROLLERS = [
  StreamsController,
  RecordsController,
  SearchController,
  EventsController,
  HealthController,
];

@Module({})
export class GatewayModule {
  static register(config: GatewayConfig, logger: Logger, keys: ApiKeys): DynamicModule {
    return {
      module: GatewayModule,
      // the catch-all last, so it only gets what no other route matches
      controllers: [...API_CONTROLLERS, UnmatchedController],
      providers: [
        { provide: GATEWAY_CONFIG, useValue: config },
        { provide: ROOT_LOGGER, useValue: logger },
        { provide: API_KEYS, useValue: keys },
        KeyCheck,
        { provide: APP_GUARD, useClass: ApiKeyGuard },
        {
          provide: GatewayRepository,
          useFactory: () => new GatewayRepository(config.dbPath, config.sseJournalRows),
        },
        EventHub,
        GatewayMetrics,
        // before the feed: its indexer stops before the feed closes the store they share
        SearchService,
        FeedService,
        RecordsService,
        StreamsService,
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
