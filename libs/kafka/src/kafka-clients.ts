import { type Kafka } from 'kafkajs';
import { type TopicSpec } from '@vigil/contracts';
import { type Logger } from '@vigil/observability';
import { type KafkaConnection, createKafka } from './kafka-client.js';
import { KafkaPublisher, KafkaSubscriber, type SubscriberOptions } from './message-bus.js';
import { TableReader, type TableReaderOptions } from './table-reader.js';
import { type EnsureTopicsResult, ensureTopics } from './topic-admin.js';

/**
 * The Kafka clients an app builds, from one connection: the seam an app's services are given instead of
 * calling kafkajs themselves, so a module can be assembled with other clients (another connection, or
 * fakes in a spec) without touching the services.
 */
export interface KafkaClients {
  readonly connection: KafkaConnection;
  publisher(): KafkaPublisher;
  subscriber(options: SubscriberOptions): KafkaSubscriber;
  table<T>(options: TableReaderOptions<T>): TableReader<T>;
  ensureTopics(topics: readonly TopicSpec[]): Promise<EnsureTopicsResult>;
}

/** The real clients on one kafkajs instance. */
export function kafkaClients(connection: KafkaConnection, logger: Logger): KafkaClients {
  const kafka: Kafka = createKafka(connection, logger);
  return {
    connection,
    publisher: () => new KafkaPublisher(kafka, connection),
    subscriber: (options) => new KafkaSubscriber(kafka, connection, options, logger),
    table: (options) => new TableReader(kafka, connection, options, logger),
    ensureTopics: (topics) => ensureTopics(kafka, connection, topics),
  };
}
