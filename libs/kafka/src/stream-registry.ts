import { CE_TYPES, type StreamSpec, TOPICS, deterministicId, toCloudEventHeaders } from '@vigil/contracts';
import { type KafkaPublisher } from './message-bus.js';

/**
 * Writes the table of streams: a StreamSpec per key on the compacted vigil.streams.v1, a tombstone (null)
 * to delete. Ingest workers pick changes up within a second. Callers validate specs first.
 */
export class StreamRegistry {
  constructor(
    private readonly publisher: KafkaPublisher,
    private readonly source = 'urn:vigil:registry',
  ) {}

  async put(specs: readonly StreamSpec[]): Promise<void> {
    const time = new Date().toISOString();
    await this.publisher.publish(
      TOPICS.streams.name,
      specs.map((spec) => ({
        key: spec.id,
        value: JSON.stringify(spec),
        headers: toCloudEventHeaders({
          id: deterministicId('stream-spec', spec.id, JSON.stringify(spec)),
          source: this.source,
          type: CE_TYPES.streamSpec,
          time,
          subject: spec.id,
          contentType: 'application/json',
        }),
      })),
    );
  }

  async remove(ids: readonly string[]): Promise<void> {
    await this.publisher.publish(
      TOPICS.streams.name,
      ids.map((id) => ({ key: id, value: null, headers: {} })),
    );
  }
}
