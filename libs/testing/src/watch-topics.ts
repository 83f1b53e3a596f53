import { type IncomingMessage, KafkaSubscriber, createKafka } from '@vigil/kafka';
import { type Logger } from '@vigil/observability';

/**
 * A test's reader of what the apps publish: a subscriber in a group of its own over `topics`, from the
 * beginning, handing every message to `onMessage`. Resolves once it has joined; stop it in `after`.
 */
export async function watchTopics(
  brokers: readonly string[],
  opts: { readonly groupId: string; readonly topics: readonly string[] },
  onMessage: (m: IncomingMessage) => void,
  log: Logger,
): Promise<KafkaSubscriber> {
  const conn = { brokers, clientId: opts.groupId, connectTimeoutMs: 3000 };
  const sub = new KafkaSubscriber(
    createKafka(conn, log),
    conn,
    { groupId: opts.groupId, topics: opts.topics, fromBeginning: true },
    log,
  );
  await sub.start((batch) => {
    for (const m of batch) onMessage(m);
    return Promise.resolve();
  });
  await sub.whenJoined();
  return sub;
}
