// The parts of k8s/ that have another source of truth: the Strimzi KafkaTopics (from TOPICS in
// libs/contracts) and, in each role's env file, the commented list of every other setting with its default
// (from the config schemas). `npm run k8s -- generate` writes them; a test fails when they are stale.
import { stringify } from 'yaml';
import { ALL_TOPICS } from '@vigil/contracts';
import { configReference } from '@vigil/config';

/** The Strimzi cluster the topics belong to (k8s/kafka/kafka.yaml). */
export const KAFKA_CLUSTER = 'vigil';
/** Replicas per partition in the cluster, and the fewest in sync for an acks=all write. */
export const REPLICAS = 3;
export const MIN_IN_SYNC = 2;

export const TOPICS_HEADER =
  '# Generated from TOPICS in libs/contracts/src/topics.ts by `npm run k8s -- generate`; do not edit.\n';

export function topicsYaml(): string {
  return (
    TOPICS_HEADER +
    ALL_TOPICS.map((t) =>
      stringify(
        {
          apiVersion: 'kafka.strimzi.io/v1beta2',
          kind: 'KafkaTopic',
          metadata: { name: t.name, labels: { 'strimzi.io/cluster': KAFKA_CLUSTER } },
          spec: {
            topicName: t.name,
            partitions: t.partitions,
            replicas: REPLICAS,
            config: {
              'cleanup.policy': t.cleanupPolicy,
              'retention.ms': t.retentionMs,
              'min.insync.replicas': MIN_IN_SYNC,
              ...t.config,
            },
          },
        },
        { lineWidth: 0 },
      ),
    ).join('---\n')
  );
}

export const ENV_BEGIN =
  '# --- every other setting of this role, with its default (npm run k8s -- generate) ---';
export const ENV_END = '# --- end of generated list ---';

/**
 * `text` (a role's env file) with its generated block replaced: one commented `# VAR=default  (hint)` line
 * per setting of `role` that neither this file nor `shared` (the common env file) sets.
 */
export function withEnvReference(text: string, role: string, shared: ReadonlySet<string>): string {
  const start = text.indexOf(ENV_BEGIN);
  const end = text.indexOf(ENV_END);
  const head = (start >= 0 ? text.slice(0, start) : text).trimEnd();
  const set = new Set(
    head
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.slice(0, l.indexOf('='))),
  );
  const lines = configReference()
    .filter((r) => r.apps.includes(role) && !set.has(r.env) && !shared.has(r.env))
    .map(
      (r) => `# ${r.env}=${r.default === '(none)' || r.default === 'required' ? '' : r.default}  (${r.hint})`,
    );
  const tail = end >= 0 ? text.slice(end + ENV_END.length).trim() : '';
  return `${head}\n\n${ENV_BEGIN}\n${lines.join('\n')}\n${ENV_END}\n${tail ? tail + '\n' : ''}`;
}
