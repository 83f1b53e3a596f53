import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { ControlMessageSchema, TOPICS, parseWith } from '@vigil/contracts';
import { type IngestConfig, kafkaConnection } from '@vigil/config';
import { KafkaSubscriber, createKafka, type KafkaConnection } from '@vigil/kafka';
import { Logger } from '@vigil/observability';
import { IngestService } from './ingest.service.js';
import { INGEST_CONFIG, ROOT_LOGGER } from './ingest.tokens.js';

/**
 * Follows vigil.control.v1 (the analyzer's burst requests). Every worker reads every request — a group of
 * its own — and acts on those for streams it runs; requests are small and rare, so broadcast is simplest.
 */
@Injectable()
export class ControlService implements OnModuleInit, OnModuleDestroy {
  private readonly log: Logger;
  private readonly conn: KafkaConnection;
  private subscriber: KafkaSubscriber | null = null;

  constructor(
    @Inject(INGEST_CONFIG) private readonly config: IngestConfig,
    @Inject(ROOT_LOGGER) private readonly root: Logger,
    private readonly ingest: IngestService,
  ) {
    this.log = root.child('control');
    this.conn = kafkaConnection(config, `${config.clientId}-ingest-control`);
  }

  async onModuleInit(): Promise<void> {
    this.subscriber = new KafkaSubscriber(
      createKafka(this.conn, this.root),
      this.conn,
      {
        groupId: `${this.config.groupId}-control-${randomUUID()}`,
        topics: [TOPICS.control.name],
        fromBeginning: false,
        commitOffsets: false,
      },
      this.log,
    );
    await this.subscriber.start((batch) => {
      for (const msg of batch) {
        let json: unknown;
        try {
          json = JSON.parse(msg.value?.toString('utf8') ?? '');
        } catch {
          this.log.warn('ignored control message: not JSON', { offset: msg.offset });
          continue;
        }
        const parsed = parseWith(ControlMessageSchema, json);
        if (!parsed.ok) {
          this.log.warn(`ignored control message: ${parsed.errors.join('; ')}`, { offset: msg.offset });
          continue;
        }
        const c = parsed.value;
        // summarize requests are for the analyzer
        if (c.action === 'burst') this.ingest.requestBurst(c.streamId, 'analyzer', c.seconds);
      }
      return Promise.resolve();
    });
  }

  /** Resolves once this worker receives control messages. */
  whenReady(): Promise<void> {
    return this.subscriber?.whenJoined() ?? Promise.resolve();
  }

  async onModuleDestroy(): Promise<void> {
    await this.subscriber?.stop();
  }
}
