import {
  type AnomalyEvent,
  type BaselineRecord,
  CE_TYPES,
  type EventState,
  type FrameMeta,
  type ScoreSample,
  fromCloudEventHeaders,
  frameMetaOf,
} from '@vigil/contracts';
import { type IncomingMessage } from '@vigil/kafka';
import { FrameDroppedError, ImageDecodeError } from '@vigil/vision';
import { type AnalyzerMetrics } from './analyzer-metrics.js';
import { type AnalyzerPublisher } from './analyzer-publisher.js';
import { type AnalysisOutput } from './analysis.types.js';
import { admitFrame, burstRequests, byStream } from './frame-admission.js';
import { type RecentDrops } from './recent-drops.js';

/** What the frames handler needs of the frame analysis (FrameAnalysisService; a fake in specs). */
export interface FrameAnalyzer {
  analyze(meta: FrameMeta, jpeg: Buffer): Promise<AnalysisOutput>;
  eventStateOf(streamId: string, now?: number): EventState | undefined;
  /** The events about to be published, for what the camera's summaries say about them. */
  noteEvents(events: readonly AnomalyEvent[]): void;
}

/** The EventStates of those streams that have one (open events held here), as of `now`. */
export function openEventStates(
  analysis: Pick<FrameAnalyzer, 'eventStateOf'>,
  streamIds: Iterable<string>,
  now: number,
): EventState[] {
  return [...streamIds].flatMap((id) => {
    const st = analysis.eventStateOf(id, now);
    return st ? [st] : [];
  });
}

/** Where messages that cannot be analyzed are set aside, with the reason (DeadLetters). */
export interface RejectSink {
  send(msg: IncomingMessage, reason: string): Promise<void>;
}

/**
 * One fetched batch of vigil.frames.v1: each stream's frames in order, different streams concurrently (so
 * the encoder batches across them), through the admission policy, the analysis and the publisher. The
 * promise resolves once every output is published and every rejected message is on the dead-letter topic;
 * only then is the batch committed.
 */
export class FramesHandler {
  constructor(
    private readonly analysis: FrameAnalyzer,
    private readonly publisher: AnalyzerPublisher,
    private readonly deadLetters: RejectSink,
    private readonly metrics: AnalyzerMetrics,
    private readonly drops: RecentDrops,
    private readonly maxFrameAgeMs: number,
  ) {}

  async handle(batch: IncomingMessage[]): Promise<void> {
    // messages set aside on the dead-letter topic; the batch is committed once they are written
    const dead: Promise<void>[] = [];
    const reject = (msg: IncomingMessage, reason: string): undefined => {
      this.metrics.rejected.inc();
      dead.push(this.deadLetters.send(msg, reason));
      return undefined;
    };
    const outputs = await Promise.all(
      byStream(batch).map(async (msgs) => {
        const results: AnalysisOutput[] = [];
        for (const [i, msg] of msgs.entries()) {
          const meta = frameMeta(msg, reject);
          if (!meta || !msg.value) continue;
          const admission = admitFrame(
            Date.now() - Number(msg.timestamp),
            i < msgs.length - 1,
            this.maxFrameAgeMs,
          );
          if (admission !== 'analyze') {
            this.dropped(meta.streamId, admission);
            continue;
          }
          try {
            const out = await this.analysis.analyze(meta, msg.value);
            if (out.duplicate) {
              this.metrics.duplicates.inc({ stream: meta.streamId });
              continue;
            }
            results.push(out);
            this.metrics.frames.inc({ stream: meta.streamId });
          } catch (err) {
            if (err instanceof FrameDroppedError) this.dropped(meta.streamId, 'queue');
            else if (err instanceof ImageDecodeError) reject(msg, `corrupt frame: ${err.message}`);
            else throw err;
          }
        }
        return results;
      }),
    );
    const anomalies: AnomalyEvent[] = [];
    const rising: { streamId: string; reason: string }[] = [];
    const scores: ScoreSample[] = [];
    const baselines: BaselineRecord[] = [];
    const changed = new Set<string>();
    for (const out of outputs.flat()) {
      for (const a of out.anomalies) changed.add(a.streamId);
      if (out.tookOver && out.score) changed.add(out.score.streamId);
      anomalies.push(...out.anomalies);
      rising.push(...out.bursts);
      if (out.score) scores.push(out.score);
      baselines.push(...out.baselines);
    }
    this.analysis.noteEvents(anomalies);
    const now = Date.now();
    const states = openEventStates(this.analysis, changed, now);
    await Promise.all([
      this.publisher.bursts(burstRequests(rising, anomalies, new Date())),
      this.publisher.anomalies(anomalies),
      this.publisher.eventStates(states, now),
      this.publisher.baselines(baselines),
      ...dead,
      this.publisher.scores(scores),
    ]);
  }

  private dropped(streamId: string, reason: 'stale' | 'superseded' | 'queue'): void {
    this.metrics.dropped.inc({ stream: streamId, reason });
    this.drops.add(streamId);
  }
}

/** The frame's metadata, or undefined after `reject` set the message aside with the reason. */
export function frameMeta(
  msg: IncomingMessage,
  reject: (msg: IncomingMessage, reason: string) => undefined,
): FrameMeta | undefined {
  const ce = fromCloudEventHeaders(msg.headers);
  if (!ce.ok) return reject(msg, `missing CloudEvents headers ${ce.missing.join(', ')}`);
  if (ce.value.type !== CE_TYPES.frame)
    return reject(msg, `unknown message type ${ce.value.type} (this analyzer reads ${CE_TYPES.frame})`);
  const meta = frameMetaOf(msg.headers, msg.key);
  if (!meta.ok) return reject(msg, meta.errors.join('; '));
  if (!msg.value?.length) return reject(msg, 'a frame message without a JPEG');
  return meta.value;
}
