import { randomUUID } from 'node:crypto';
import { TOPICS, headerValue } from '@vigil/contracts';
import { type KafkaConnection, KafkaSubscriber, createKafka } from '@vigil/kafka';
import { type Logger } from '@vigil/observability';
import { UsageError } from './errors.js';

export const TAIL_TOPICS = {
  anomalies: TOPICS.anomalies.name,
  summaries: TOPICS.summaries.name,
  status: TOPICS.streamStatus.name,
  streams: TOPICS.streams.name,
  frames: TOPICS.frames.name,
} as const;
export type TailTopic = keyof typeof TAIL_TOPICS;

export function tailTopic(name: string | undefined): TailTopic {
  if (name && name in TAIL_TOPICS) return name as TailTopic;
  throw new UsageError(
    `vigil tail needs one of ${Object.keys(TAIL_TOPICS).join(', ')} (got ${name ?? 'nothing'})`,
  );
}

const str = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');

/** One human line per message; JSON mode prints the message value as it is. Pure. */
export function formatTailLine(
  topic: TailTopic,
  value: Buffer | null,
  headers: Parameters<typeof headerValue>[0],
  json: boolean,
): string {
  if (topic === 'frames') {
    const meta = headerValue(headers, 'vigil_meta') ?? '{}';
    return json ? meta : `frame ${meta} (${value?.length ?? 0} bytes JPEG)`;
  }
  const text = value?.toString('utf8') ?? 'null';
  if (json) return text;
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    const time = str(v.createdAt ?? v.observedAt ?? v.at).slice(11, 19);
    if (topic === 'streams') return `[${str(v.id)}] ${str(v.url)} enabled=${String(v.enabled)}`;
    if (topic === 'summaries') return `${time} [${str(v.streamId)}] ${str(v.text)}`;
    if (topic === 'anomalies') {
      return `${time} [${str(v.streamId)}] ${str(v.phase).toUpperCase()} ${str(v.kind)} ${str(v.severity)} score=${Number(v.score).toFixed(3)} ${str(v.description)}`;
    }
    return `${time} [${str(v.streamId)}] ${str(v.state)} fps=${Number(v.fpsOut).toFixed(1)} restarts=${str(v.restarts)}${v.lastError ? ` lastError=${str(v.lastError)}` : ''}`;
  } catch {
    return text;
  }
}

/** Follows a topic with a throwaway consumer group; resolves with a stop function once subscribed. */
export async function startTail(
  conn: KafkaConnection,
  logger: Logger,
  topic: TailTopic,
  opts: { fromBeginning: boolean; json: boolean; write: (line: string) => void },
): Promise<() => Promise<void>> {
  const sub = new KafkaSubscriber(
    createKafka(conn, logger),
    conn,
    {
      groupId: `vigil-tail-${randomUUID()}`,
      topics: [TAIL_TOPICS[topic]],
      fromBeginning: opts.fromBeginning,
    },
    logger.child('tail'),
  );
  await sub.start((batch) => {
    for (const m of batch) opts.write(formatTailLine(topic, m.value, m.headers, opts.json));
    return Promise.resolve();
  });
  await sub.whenJoined();
  return () => sub.stop();
}
