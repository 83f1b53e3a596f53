import {
  type Consumer,
  type ConsumerRunConfig,
  type EachBatchPayload,
  type Kafka,
  type Producer,
  CompressionTypes,
  Partitioners,
} from 'kafkajs';
import { type KafkaHeaders, toCloudEventHeaders } from '@vigil/contracts';
import { type Logger } from '@vigil/observability';
import { type KafkaConnection } from './kafka-client.js';
import {
  KafkaTopicMissingError,
  KafkaUnavailableError,
  isUnknownTopic,
  kafkaErrorReason,
} from './kafka-errors.js';

export interface OutgoingMessage {
  readonly key: string;
  readonly value: Buffer | string | null;
  readonly headers: KafkaHeaders;
  readonly timestamp?: number;
}

export interface IncomingMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly value: Buffer | null;
  readonly headers: Record<string, Buffer | string | (Buffer | string)[] | undefined>;
  readonly timestamp: string;
}

/** The idempotent producer every app publishes through (acks=all, ordered per key). */
export class KafkaPublisher {
  private readonly producer: Producer;
  private connected = false;

  constructor(
    kafka: Kafka,
    private readonly conn: KafkaConnection,
  ) {
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  async connect(): Promise<void> {
    try {
      await this.producer.connect();
      this.connected = true;
    } catch (err) {
      throw new KafkaUnavailableError(this.conn.brokers, kafkaErrorReason(err));
    }
  }

  async publish(topic: string, messages: readonly OutgoingMessage[], compress = false): Promise<void> {
    if (messages.length === 0) return;
    await this.producer.send({
      topic,
      acks: -1,
      ...(compress ? { compression: CompressionTypes.GZIP } : {}),
      messages: messages.map((m) => ({
        key: m.key,
        value: m.value,
        headers: m.headers,
        ...(m.timestamp !== undefined ? { timestamp: String(m.timestamp) } : {}),
      })),
    });
  }

  async disconnect(): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    await this.producer.disconnect();
  }
}

export interface SubscriberOptions {
  readonly groupId: string;
  readonly topics: readonly string[];
  readonly fromBeginning?: boolean;
  /**
   * false: never commit offsets, so every partition this member is assigned is read from the start
   * (with fromBeginning) — how a compacted topic is read as a table. Default true.
   */
  readonly commitOffsets?: boolean;
  /**
   * How soon the group notices a dead member: 10 s unless given (kafkajs's default is 30 s). It also bounds
   * how long a group waits after its broker restarts, for the members it remembers to come back before it
   * lets the new ones in.
   */
  readonly sessionTimeoutMs?: number;
  /** Partitions whose batches are handled at the same time (kafkajs default 1). */
  readonly partitionsConsumedConcurrently?: number;
  /** The most bytes one fetch brings, in all and per partition (kafkajs defaults: 10 MiB and 1 MiB). */
  readonly fetchMaxBytes?: number;
  readonly fetchMaxBytesPerPartition?: number;
  /** Called after every rebalance with the partitions this member now owns, per topic. */
  readonly onAssignment?: (assignment: Record<string, number[]>) => void;
  /** Called after every batch with how many messages of its partition remain unread. */
  readonly onLag?: (topic: string, partition: number, lag: number) => void;
}

/**
 * A consumer-group member that hands each batch to a handler and commits after the handler returns, so a
 * crash re-delivers rather than loses. Handlers must tolerate redelivery (ids are deterministic).
 */
export class KafkaSubscriber {
  private readonly consumer: Consumer;
  private running = false;
  /** When the broker last answered this member (a fetch, a heartbeat, a join). */
  private lastContactAt = 0;
  private joined: Promise<void>;
  /** What run() was given, for starting again after a crash kafkajs does not restart from. */
  private runConfig?: ConsumerRunConfig;
  private markJoined!: () => void;

  constructor(
    kafka: Kafka,
    private readonly conn: KafkaConnection,
    private readonly options: SubscriberOptions,
    private readonly logger: Logger,
  ) {
    this.consumer = kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: Math.min(3_000, Math.floor((options.sessionTimeoutMs ?? 10_000) / 5)),
      // Short fetch waits keep frame latency low and let disconnect() return quickly at shutdown.
      maxWaitTimeInMs: 500,
      ...(options.fetchMaxBytes ? { maxBytes: options.fetchMaxBytes } : {}),
      ...(options.fetchMaxBytesPerPartition
        ? { maxBytesPerPartition: options.fetchMaxBytesPerPartition }
        : {}),
      allowAutoTopicCreation: false,
      // kafkajs restarts a consumer that crashed on a retriable error (the broker went away) on a timer it
      // arms after its own disconnect; a stop() during that crash shared that disconnect and came too early
      // to cancel the timer, and the stopped consumer came back and retried forever. Only a running
      // subscriber restarts. (retries: kafkajs's consumer default, which a retry option replaces.)
      // The waits between retries and restarts grow to at most 5 s (kafkajs's default is 30 s), so a
      // consumer is back within seconds of its broker.
      retry: {
        retries: 5,
        initialRetryTime: 300,
        maxRetryTime: 5_000,
        restartOnFailure: () => Promise.resolve(this.running),
      },
    });
    this.joined = new Promise((resolve) => (this.markJoined = resolve));
    this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => {
      this.logger.info('joined consumer group', {
        groupId: e.payload.groupId,
        partitions: Object.values(e.payload.memberAssignment).flat().length,
      });
      this.options.onAssignment?.(e.payload.memberAssignment);
      this.markJoined();
    });
    const contact = () => (this.lastContactAt = Date.now());
    this.consumer.on(this.consumer.events.FETCH, contact);
    this.consumer.on(this.consumer.events.HEARTBEAT, contact);
    this.consumer.on(this.consumer.events.GROUP_JOIN, contact);
    this.consumer.on(this.consumer.events.CRASH, (e) => {
      this.logger.error(`consumer crashed: ${kafkaErrorReason(e.payload.error)}`, {
        restart: e.payload.restart,
      });
      // kafkajs gives up for good on errors it calls non-retriable, some of which a broker that is away
      // long enough causes ("Failed to find group coordinator" once its retries ran out): a running
      // subscriber starts its consumer again itself, as kafkajs does for retriable ones
      if (!e.payload.restart && this.running) this.revive(1000);
    });
  }

  private revive(delayMs: number): void {
    const timer = setTimeout(() => {
      if (!this.running || !this.runConfig) return;
      this.consumer
        .connect()
        .then(() => this.consumer.run(this.runConfig))
        .then(() => this.logger.info('consumer started again after its crash'))
        .catch((err: unknown) => {
          this.logger.warn(
            `consumer could not start again: ${kafkaErrorReason(err)}; next try in ${Math.min(delayMs * 2, 5000)} ms`,
          );
          this.revive(Math.min(delayMs * 2, 5000));
        });
    }, delayMs);
    timer.unref();
  }

  async start(handler: (messages: IncomingMessage[]) => Promise<void>): Promise<void> {
    try {
      await this.consumer.connect();
    } catch (err) {
      throw new KafkaUnavailableError(this.conn.brokers, kafkaErrorReason(err));
    }
    try {
      await this.consumer.subscribe({
        topics: [...this.options.topics],
        fromBeginning: this.options.fromBeginning ?? false,
      });
    } catch (err) {
      await this.consumer.disconnect().catch(() => undefined);
      if (isUnknownTopic(err)) throw new KafkaTopicMissingError(this.options.topics, this.conn.brokers);
      throw new KafkaUnavailableError(this.conn.brokers, kafkaErrorReason(err));
    }
    this.running = true;
    this.runConfig = {
      autoCommit: this.options.commitOffsets ?? true,
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 1,
      eachBatchAutoResolve: true,
      eachBatch: async (payload: EachBatchPayload) => {
        const { batch } = payload;
        if (!payload.isRunning() || payload.isStale()) return;
        await handler(
          batch.messages.map((m) => ({
            topic: batch.topic,
            partition: batch.partition,
            offset: m.offset,
            key: m.key ? m.key.toString() : null,
            value: m.value,
            headers: m.headers ?? {},
            timestamp: m.timestamp,
          })),
        );
        this.options.onLag?.(batch.topic, batch.partition, Number(batch.offsetLag()));
        await payload.heartbeat();
      },
    };
    await this.consumer.run(this.runConfig);
  }

  /** Milliseconds since the broker last answered this member; null before the first answer. */
  contactAgeMs(): number | null {
    return this.lastContactAt ? Date.now() - this.lastContactAt : null;
  }

  /** Resolves once the group has assigned this member its partitions. */
  whenJoined(): Promise<void> {
    return this.joined;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await this.consumer.disconnect();
  }
}

/** A JSON value keyed by its stream, with CloudEvents headers naming its type and source. */
export function jsonMessage(
  value: { readonly streamId: string },
  ce: { readonly type: string; readonly source: string; readonly id: string; readonly time: string },
): OutgoingMessage {
  return {
    key: value.streamId,
    value: JSON.stringify(value),
    headers: toCloudEventHeaders({ ...ce, subject: value.streamId, contentType: 'application/json' }),
  };
}
