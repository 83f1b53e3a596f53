import {
  type AnomalyEvent,
  type BaselineRecord,
  type EventState,
  type ScoreSample,
  type StreamSpec,
} from '@vigil/contracts';

/** A stream's analysis settings from its StreamSpec, with the camera's name. */
export type Analysis = StreamSpec['analysis'] & { readonly name?: string };

export interface AnalysisOutput {
  readonly anomalies: AnomalyEvent[];
  /** Streams whose scores are rising: ask ingest for full-rate sampling (the fast path). */
  readonly bursts: { streamId: string; reason: string }[];
  /** Learned normals to persist on vigil.baselines.v1. */
  readonly baselines: BaselineRecord[];
  /** The sample's score, for vigil.scores.v1. */
  readonly score?: ScoreSample;
  /** The frame was a redelivery of one already analyzed (same ingest run, sequence not newer). */
  readonly duplicate?: boolean;
  /** The stream's open events changed hands (taken over from another analyzer): publish its EventState. */
  readonly tookOver?: boolean;
}

/** The analyzer's housekeeping of open events (every few seconds, see FrameAnalysisService.tick). */
export interface EventHousekeeping {
  /** Streams with open events still being watched here: their EventState is vouched for again. */
  readonly heartbeat: string[];
  /** End messages for events of streams that went silent here, or that nobody vouched for. */
  readonly closed: AnomalyEvent[];
  /** EventStates to publish because their open set changed. */
  readonly states: EventState[];
  /** Streams forgotten because another analyzer has taken them over. */
  readonly forgotten: string[];
}

/** What the analysis needs from outside: each stream's settings and its saved baseline, if any. */
export interface AnalysisContext {
  settings(streamId: string): Analysis | undefined;
  baseline(streamId: string): BaselineRecord | undefined;
  /** The stream's open events as last published by whichever analyzer held it. */
  eventState(streamId: string): EventState | undefined;
  /** Every stream's EventState (for closing events nobody vouches for). */
  eventStates(): Iterable<EventState>;
}
