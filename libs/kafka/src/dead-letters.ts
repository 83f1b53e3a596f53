import { DEAD_LETTER_HEADER, DeadLetterSchema, TOPICS } from '@vigil/contracts';
import { type Logger } from '@vigil/observability';
import { type IncomingMessage, type KafkaPublisher } from './message-bus.js';

/**
 * Sets aside messages a consumer cannot use — a corrupt JPEG, a schema failure, an unknown version — on
 * vigil.dlq.v1, unchanged (key, value, headers) with a `vigil_dlq` header saying why and where from, so
 * the consumer moves on and nothing is lost silently. Publishing failures are logged, never thrown: a
 * poison message must not stop the partition it came from.
 */
export class DeadLetters {
  constructor(
    private readonly publisher: KafkaPublisher,
    private readonly app: string,
    private readonly groupId: string,
    private readonly logger: Logger,
  ) {}

  async send(msg: IncomingMessage, reason: string): Promise<void> {
    const info = DeadLetterSchema.parse({
      reason: reason.slice(0, 2000),
      topic: msg.topic,
      partition: msg.partition,
      offset: msg.offset,
      app: this.app,
      groupId: this.groupId,
      at: new Date().toISOString(),
    });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(msg.headers)) {
      if (k === DEAD_LETTER_HEADER || v === undefined) continue;
      headers[k] = (Array.isArray(v) ? v[0]! : v).toString();
    }
    headers[DEAD_LETTER_HEADER] = JSON.stringify(info);
    const where = { topic: msg.topic, partition: msg.partition, offset: msg.offset };
    try {
      await this.publisher.publish(TOPICS.dlq.name, [
        { key: msg.key ?? '', value: msg.value, headers, timestamp: Number(msg.timestamp) || Date.now() },
      ]);
      this.logger.warn(`set a message aside on ${TOPICS.dlq.name}: ${reason}`, where);
    } catch (err) {
      this.logger.error(
        `could not set a message aside on ${TOPICS.dlq.name} (${(err as Error).message}); skipped it: ${reason}`,
        where,
      );
    }
  }
}
