import {
  type AnomalyEvent,
  type BaselineRecord,
  CE_TYPES,
  type ControlMessage,
  type EventState,
  type ScoreSample,
  type Summary,
  TOPICS,
  deterministicId,
} from '@vigil/contracts';
import { type OutgoingMessage, jsonMessage, kafkaErrorReason } from '@vigil/kafka';
import { type Logger } from '@vigil/observability';
import { type AnalyzerMetrics } from './analyzer-metrics.js';

const SOURCE = 'urn:vigil:analyzer';

/** A JSON message keyed by its stream, with CloudEvents headers naming this analyzer as the source. */
export const analyzerMessage = (value: { streamId: string }, type: string, id: string, time: string) =>
  jsonMessage(value, { type, source: SOURCE, id, time });

/** Where messages go: the durable outbox (events, summaries, baselines) or straight to Kafka. */
export interface MessageSink {
  publish(topic: string, messages: readonly OutgoingMessage[]): Promise<void>;
}

/**
 * Everything the analyzer publishes, in one place: message ids, CloudEvents types, counting. Anomaly
 * events, event states, summaries and baselines go through the durable sink (they survive a Kafka outage
 * on disk); scores and burst requests are perishable: when Kafka does not take them they are counted and
 * dropped (a frame's score is worth nothing minutes later), so they never hold up the frame path.
 */
export class AnalyzerPublisher {
  /** When each stream's event state was last published (heartbeats are due from then). */
  private readonly stateSentAt = new Map<string, number>();

  constructor(
    private readonly durable: MessageSink,
    private readonly direct: MessageSink,
    private readonly metrics: AnalyzerMetrics,
    private readonly log: Logger,
  ) {}

  async anomalies(anomalies: readonly AnomalyEvent[]): Promise<void> {
    // counted before they are published, so an event a subscriber has read is in the metrics already
    for (const e of anomalies) {
      if (e.phase === 'start') this.metrics.events.inc({ kind: e.kind, severity: e.severity });
      this.log.debug(`anomaly ${e.phase}: ${e.description}`, { streamId: e.streamId, eventId: e.eventId });
    }
    await this.durable.publish(
      TOPICS.anomalies.name,
      anomalies.map((e) =>
        analyzerMessage(e, CE_TYPES.anomaly, `${e.eventId}:${e.phase}:${e.observedAt}`, e.observedAt),
      ),
    );
  }

  async summaries(summaries: readonly Summary[]): Promise<void> {
    // counted before they are published, as events are
    for (const s of summaries) {
      this.metrics.summaries.inc({ level: s.level });
      if (s.level === 'window' && s.decoder.latencyMs !== undefined)
        this.metrics.decoderSeconds.observe(
          { decoder: s.decoder.type, fallback: String(Boolean(s.decoder.fallback)) },
          s.decoder.latencyMs / 1000,
        );
      this.log.debug(`${s.level} summary: ${s.text}`, { streamId: s.streamId, summaryId: s.summaryId });
    }
    await this.durable.publish(
      TOPICS.summaries.name,
      summaries.map((s) => analyzerMessage(s, CE_TYPES.summary, s.summaryId, s.createdAt)),
    );
  }

  /** Streams' open events as this analyzer holds them (published after their anomaly messages). */
  async eventStates(states: readonly EventState[], now = Date.now()): Promise<void> {
    for (const st of states) this.stateSentAt.set(st.streamId, now);
    await this.durable.publish(
      TOPICS.eventState.name,
      states.map((st) =>
        analyzerMessage(
          st,
          CE_TYPES.eventState,
          deterministicId('event-state', st.streamId, st.heartbeatAt, st.owner),
          st.heartbeatAt,
        ),
      ),
    );
  }

  /** Whether a stream's event state is due again (published `everyMs` ago or never). */
  stateDue(streamId: string, everyMs: number, now = Date.now()): boolean {
    return now - (this.stateSentAt.get(streamId) ?? 0) >= everyMs;
  }

  /** A stream another analyzer took over: no heartbeats from here any more. */
  forget(streamId: string): void {
    this.stateSentAt.delete(streamId);
  }

  async baselines(records: readonly BaselineRecord[]): Promise<void> {
    await this.durable.publish(
      TOPICS.baselines.name,
      records.map((b) =>
        analyzerMessage(b, CE_TYPES.baseline, deterministicId('baseline', b.streamId, b.savedAt), b.savedAt),
      ),
    );
    for (const b of records) this.log.debug('baseline saved', { streamId: b.streamId, samples: b.samples });
  }

  scores(scores: readonly ScoreSample[]): Promise<void> {
    return this.perishable(
      TOPICS.scores.name,
      scores.map((x) =>
        analyzerMessage(x, CE_TYPES.score, deterministicId('score', x.streamId, x.capturedAt), x.capturedAt),
      ),
    );
  }

  bursts(requests: readonly ControlMessage[]): Promise<void> {
    return this.perishable(
      TOPICS.control.name,
      requests.map((c) =>
        analyzerMessage(
          c,
          CE_TYPES.control,
          deterministicId('control', c.streamId, c.reason, c.requestedAt),
          c.requestedAt,
        ),
      ),
    );
  }

  private async perishable(topic: string, messages: OutgoingMessage[]): Promise<void> {
    try {
      await this.direct.publish(topic, messages);
    } catch (err) {
      this.metrics.perishableDropped.inc({ topic }, messages.length);
      this.log.warn(`dropped ${messages.length} message(s) for ${topic}: ${kafkaErrorReason(err)}`);
    }
  }
}
