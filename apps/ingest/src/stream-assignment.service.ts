import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { StreamSpecSchema, TOPICS, parseWith, streamUrlProblem } from '@vigil/contracts';
import { type IngestConfig, cameraPolicy, kafkaConnection } from '@vigil/config';
import {
  DeadLetters,
  type IncomingMessage,
  KafkaPublisher,
  KafkaSubscriber,
  createKafka,
  type KafkaConnection,
} from '@vigil/kafka';
import { Logger } from '@vigil/observability';
import { IngestService } from './ingest.service.js';
import { INGEST_CONFIG, ROOT_LOGGER } from './ingest.tokens.js';

/**
 * Runs the streams of the vigil.streams.v1 partitions this worker owns. The ingest workers of a site form
 * one consumer group; Kafka spreads the partitions over them and, when a worker dies (no heartbeat within
 * the session timeout), gives its partitions to the others. Offsets are never committed, so each newly
 * owned partition is replayed from its start: the compacted topic is read as the table of streams.
 */
@Injectable()
export class StreamAssignmentService implements OnModuleInit, OnModuleDestroy {
  private readonly log: Logger;
  private readonly conn: KafkaConnection;
  private subscriber: KafkaSubscriber | null = null;
  /** streamId → partition, for the streams this worker runs from the topic. */
  private readonly owned = new Map<string, number>();
  private assigned = new Set<number>();
  private rejected = 0;
  private readonly publisher: KafkaPublisher;
  private readonly deadLetters: DeadLetters;
  /** partition:offset of the specs set aside, so a partition read again after a rebalance adds none. */
  private readonly setAside = new Set<string>();

  constructor(
    @Inject(INGEST_CONFIG) private readonly config: IngestConfig,
    @Inject(ROOT_LOGGER) private readonly root: Logger,
    private readonly ingest: IngestService,
  ) {
    this.log = root.child('assignment');
    this.conn = kafkaConnection(config, `${config.clientId}-ingest-assign`);
    this.publisher = new KafkaPublisher(createKafka(this.conn, root), this.conn);
    this.deadLetters = new DeadLetters(this.publisher, 'ingest', config.groupId, this.log);
  }

  async onModuleInit(): Promise<void> {
    if (this.config.assignment !== 'kafka') return;
    await this.publisher.connect();
    this.subscriber = new KafkaSubscriber(
      createKafka(this.conn, this.root),
      this.conn,
      {
        groupId: this.config.groupId,
        topics: [TOPICS.streams.name],
        fromBeginning: true,
        commitOffsets: false,
        sessionTimeoutMs: this.config.sessionTimeoutMs,
        onAssignment: (a) => this.reassigned(a[TOPICS.streams.name] ?? []),
      },
      this.log,
    );
    await this.subscriber.start((batch) => {
      for (const msg of batch) this.apply(msg);
      return Promise.resolve();
    });
  }

  async onModuleDestroy(): Promise<void> {
    await this.subscriber?.stop();
    await this.publisher.disconnect().catch(() => undefined);
  }

  /** Partitions and streams this worker owns now (for tests and health). */
  snapshot(): { partitions: number[]; streams: string[]; rejected: number } {
    return {
      partitions: [...this.assigned].sort((a, b) => a - b),
      streams: [...this.owned.keys()].sort(),
      rejected: this.rejected,
    };
  }

  private reassigned(partitions: number[]): void {
    this.assigned = new Set(partitions);
    for (const [id, partition] of this.owned) {
      if (!this.assigned.has(partition)) {
        this.owned.delete(id);
        this.log.info('stream moved to another worker', { streamId: id, partition });
        void this.ingest.remove(id);
      }
    }
    this.log.info('owning partitions of vigil.streams.v1', {
      partitions: [...this.assigned].join(',') || 'none',
    });
  }

  private apply(msg: IncomingMessage): void {
    const id = msg.key;
    if (!id) return this.reject(msg, 'message has no key (the key must be the streamId)');
    if (msg.value === null) {
      if (this.owned.delete(id)) {
        this.log.info('stream deleted', { streamId: id });
        void this.ingest.remove(id);
      }
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(msg.value.toString('utf8'));
    } catch {
      return this.reject(msg, 'value is not JSON');
    }
    const spec = parseWith(StreamSpecSchema, json);
    if (!spec.ok) return this.reject(msg, spec.errors.join('; '));
    if (spec.value.id !== id)
      return this.reject(
        msg,
        `spec id ${spec.value.id} differs from the message key ${id}; write a spec keyed by its id`,
      );
    // the operator's file directories and camera networks: nothing a spec says can widen them
    const problem = streamUrlProblem(spec.value.url, cameraPolicy(this.config));
    if (problem) {
      if (this.owned.delete(id)) void this.ingest.remove(id);
      return this.reject(msg, `url: stream URL ${problem}`);
    }
    this.owned.set(id, msg.partition);
    if (spec.value.enabled) this.ingest.upsert(spec.value);
    else void this.ingest.remove(id);
  }

  /** A spec that cannot run goes to vigil.dlq.v1 with the reason, once per message (this worker). */
  private reject(msg: IncomingMessage, reason: string): void {
    this.rejected++;
    const where = `${msg.partition}:${msg.offset}`;
    if (this.setAside.has(where)) return;
    this.setAside.add(where);
    void this.deadLetters.send(msg, `ignored stream spec: ${reason}`);
  }
}
