import { type Admin, type Kafka } from 'kafkajs';
import { type TopicSpec } from '@vigil/contracts';
import { type KafkaConnection } from './kafka-client.js';
import { KafkaUnavailableError, isUnknownTopic, kafkaErrorReason } from './kafka-errors.js';

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
        // kafkajs's own wait gives up on "does not host this topic-partition" while the metadata spreads
        waitForLeaders: false,
        topics: missing.map((t) => ({
          topic: t.name,
          numPartitions: t.partitions,
          replicationFactor: replication,
          configEntries: [
            { name: 'cleanup.policy', value: t.cleanupPolicy },
            { name: 'retention.ms', value: String(t.retentionMs) },
            ...Object.entries(t.config ?? {}).map(([name, value]) => ({ name, value })),
          ],
        })),
      });
    }
    // Another app may have created a topic a moment ago (pods start together): its partitions get their
    // leaders shortly after; reading one before then fails with "does not host this topic-partition".
    await waitForLeaders(
      admin,
      topics.map((t) => t.name),
      10_000,
    );
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

async function waitForLeaders(admin: Admin, topics: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const { topics: meta } = await admin.fetchTopicMetadata({ topics });
      if (meta.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) {
        // the leader knows it leads a moment after the metadata says so: ask it (ListOffsets)
        for (const t of topics) await admin.fetchTopicOffsets(t);
        return;
      }
    } catch (err) {
      if (!(isUnknownTopic(err) || leaderMoving(err)) || Date.now() > deadline) throw err;
    }
    if (Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A partition whose leader is being elected or has just been told (retry shortly). */
function leaderMoving(err: unknown): boolean {
  let e: unknown = err;
  for (let i = 0; i < 5 && e && typeof e === 'object'; i++) {
    const type = (e as { type?: unknown }).type;
    if (type === 'NOT_LEADER_FOR_PARTITION' || type === 'LEADER_NOT_AVAILABLE') return true;
    e = (e as { originalError?: unknown; cause?: unknown }).originalError ?? (e as { cause?: unknown }).cause;
  }
  return false;
}
