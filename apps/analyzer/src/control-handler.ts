import { ControlMessageSchema, jsonRow } from '@vigil/contracts';
import { type IncomingMessage } from '@vigil/kafka';
import { type Logger } from '@vigil/observability';
import { type RejectSink } from './frames-handler.js';

const controlRow = jsonRow(ControlMessageSchema);

/**
 * vigil.control.v1 as the analyzer reads it: a summarize request makes the analyzer holding the stream
 * narrate its latest window now; others ignore it, as they ignore burst requests (those are for ingest). A
 * message that is no control message is set aside on the dead-letter topic with the reason.
 */
export class ControlHandler {
  constructor(
    private readonly requestSummary: (streamId: string) => boolean,
    private readonly deadLetters: RejectSink,
    private readonly log: Logger,
  ) {}

  handle(batch: readonly IncomingMessage[]): Promise<void> {
    for (const msg of batch) {
      const row = controlRow(msg.value ?? Buffer.alloc(0));
      if (!row.ok) {
        void this.deadLetters.send(msg, `control message: ${row.error}`);
        continue;
      }
      if (row.value.action !== 'summarize') continue;
      if (this.requestSummary(row.value.streamId))
        this.log.info('summary requested', { streamId: row.value.streamId, reason: row.value.reason });
    }
    return Promise.resolve();
  }
}
