import { type Admin, type Kafka } from 'kafkajs';
import { type TopicSpec } from '@vigil/contracts';
import { type KafkaConnection } from './kafka-client.js';
import { KafkaUnavailableError, kafkaErrorReason } from './kafka-errors.js';

export interface EnsureTopicsResult {
  readonly created: string[];
  readonly existing: string[];
}

/**
 * Creates the topics an app needs when they are missing; idempotent and safe when several apps race to
 * create the same topic. An existing topic is left as it is (its partitions are never changed here).
 */
export async function ensureTopics(
  kafka: Kafka,
  conn: KafkaConnection,
  topics: readonly TopicSpec[],
): Promise<EnsureTopicsResult> {
  const admin: Admin = kafka.admin();
  try {
    await admin.connect();
  } catch (err) {
    throw new KafkaUnavailableError(conn.brokers, kafkaErrorReason(err));
  }
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.name));
    if (missing.length > 0) {
      const replication = Math.min(3, await brokerCount(admin));
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((t) => ({
          topic: t.name,
          numPartitions: t.partitions,
          replicationFactor: replication,
          configEntries: [
            { name: 'cleanup.policy', value: t.cleanupPolicy },
            { name: 'retention.ms', value: String(t.retentionMs) },
          ],
        })),
      });
    }
    return {
      created: missing.map((t) => t.name),
      existing: topics.filter((t) => existing.has(t.name)).map((t) => t.name),
    };
  } finally {
    await admin.disconnect();
  }
}

async function brokerCount(admin: Admin): Promise<number> {
  const { brokers } = await admin.describeCluster();
  return Math.max(1, brokers.length);
}
