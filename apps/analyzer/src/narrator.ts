import { type AnomalyEvent, type Summary } from '@vigil/contracts';
import { type AnalyzerConfig } from '@vigil/config';
import {
  DecodeScheduler,
  type Decoder,
  GroundedDecoder,
  type ScheduledResult,
  windowSummary,
  windowSummaryId,
} from '@vigil/decoders';
import { type ClosedWindow } from '@vigil/windows';
import { type Logger } from '@vigil/observability';
import { type StreamState } from './stream-state.js';

/** What comes out of the decoder, off the frame path: summaries, and events its findings opened or confirmed. */
export interface NarrationOutput {
  readonly summaries: Summary[];
  readonly anomalies: AnomalyEvent[];
}

/** What the narration hands the scheduler with each window. */
interface WindowContext {
  /** Events that started or were open inside the window. */
  readonly eventIds: string[];
  /** The stream's stride when the window was cut: what of the window its minute counts. */
  readonly strideMs: number;
}

/** A stream as the narration sees it: its state here, and its name and per-camera context. */
export interface NarratedStream {
  readonly state: StreamState;
  readonly name?: string;
  readonly context?: string;
}

/**
 * The narration stage: each stream's closed windows go to the decoder off the frame path (a scheduler
 * with per-backend concurrency, a bounded queue, grounded for what it skips), and each result comes back
 * as its window summary, the minute and hour rollups it closed, and the events its findings opened or
 * confirmed, handed to the sink (the analyzer publishes them).
 */
export class Narrator {
  private readonly scheduler: DecodeScheduler<WindowContext>;
  private sink: (out: NarrationOutput) => void | Promise<void> = () => undefined;

  constructor(
    decoder: Decoder,
    config: AnalyzerConfig,
    private readonly log: Logger,
    /** The stream's state, if this analyzer still holds it when its narration comes back. */
    private readonly stream: (streamId: string) => StreamState | undefined,
  ) {
    this.scheduler = new DecodeScheduler<WindowContext>(
      decoder,
      new GroundedDecoder(),
      // an in-process model batches the windows it is handed at once: hand it a whole batch
      {
        concurrency:
          config.decoderType === 'onnx'
            ? Math.max(config.decoderConcurrency, config.decoderBatch)
            : config.decoderConcurrency,
        maxQueue: config.decoderQueue,
      },
      (r) => this.narrated(r),
    );
  }

  onNarration(sink: (out: NarrationOutput) => void | Promise<void>): void {
    this.sink = sink;
  }

  /** Hands a closed window of the stream to the decoder. */
  submit(streamId: string, s: NarratedStream, w: ClosedWindow): void {
    const eventIds = new Set(w.anomalies.flatMap((a) => (a.eventId ? [a.eventId] : [])));
    for (const id of s.state.events.idsBefore(w.end)) eventIds.add(id);
    s.state.narration.submitted(w);
    this.scheduler.submit(
      {
        streamId,
        ...(s.name ? { streamName: s.name } : {}),
        ...(s.context ? { context: s.context } : {}),
        window: w,
        ongoing: s.state.narration.openAt(w.start),
      },
      { eventIds: [...eventIds], strideMs: s.state.narration.window.strideMs },
    );
  }

  /** Stopping: waiting windows are narrated by grounded now; calls in flight get `timeoutMs`. */
  close(timeoutMs: number): Promise<boolean> {
    return this.scheduler.close(timeoutMs);
  }

  private async narrated(r: ScheduledResult<WindowContext>): Promise<void> {
    const { request, result, skipped, context } = r;
    const { streamId, window: w } = request;
    if (skipped) this.log.debug(`window narrated by grounded: ${skipped}`, { streamId });
    const out: NarrationOutput = {
      summaries: [windowSummary(streamId, w, result, r.latencyMs, context.eventIds)],
      anomalies: [],
    };
    const st = this.stream(streamId);
    if (st) {
      out.anomalies.push(
        ...st.events.applyFindings(
          {
            start: w.start,
            end: w.end,
            trigger: w.trigger,
            summaryId: windowSummaryId(streamId, w),
            decoder: result.decoder,
          },
          result.findings,
        ),
      );
      const who = request.streamName ? `${request.streamName} (${streamId})` : streamId;
      out.summaries.push(...st.narration.narrated(streamId, who, w, result, context));
    }
    try {
      await this.sink(out);
    } catch (err) {
      this.log.error(`could not pass a summary on: ${(err as Error).message}`, { streamId });
    }
  }
}
