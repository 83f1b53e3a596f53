import { EventEmitter } from 'node:events';
import { type KafkaPosition } from './sse-journal.js';

/** What GET /events streams: a topic's message as the API shows it. */
export interface HubEvent {
  type: 'anomaly' | 'summary' | 'status' | 'stream';
  streamId: string;
  data: unknown;
  /** The SSE id: where the gateway stands after this event (SseJournal), to resume from. */
  id?: string;
  /** The Kafka message it comes from. */
  at?: KafkaPosition;
}

/** Fan-out of what the gateway has just stored to the open SSE connections. */
export class EventHub {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  emit(e: HubEvent): void {
    this.emitter.emit('event', e);
  }

  subscribe(fn: (e: HubEvent) => void): () => void {
    this.emitter.on('event', fn);
    return () => this.emitter.off('event', fn);
  }
}
