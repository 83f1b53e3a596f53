import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Inject, Injectable } from '@nestjs/common';
import sharp from 'sharp';
import {
  type AnomalyEvent,
  AnomalyEventSchema,
  type BaselineRecord,
  type EventState,
  type FrameMeta,
  type ScoreSample,
  type StreamSpec,
  type Summary,
  SummarySchema,
  anomalyEventId,
  summaryId,
} from '@vigil/contracts';
import { type AnalyzerConfig } from '@vigil/config';
import {
  DEFAULT_SCENE_OPTIONS,
  PatchGrid,
  SCENE_KINDS,
  SceneAnomalyModel,
  type SceneEvent,
  type SceneKind,
  type SceneOptions,
  type SceneResult,
  type SceneSnapshot,
  letterboxContent,
  patchChange,
} from '@vigil/anomaly';
import {
  DecodeScheduler,
  type DecodeResult,
  type Decoder,
  GroundedDecoder,
  type ScheduledResult,
  narrateRollup,
} from '@vigil/decoders';
import { grayThumbnail } from '@vigil/vision';
import {
  type ClosedRollup,
  type ClosedWindow,
  type RollupChild,
  Rollups,
  SlidingWindow,
  mergeChildren,
} from '@vigil/windows';
import { Logger } from '@vigil/observability';
import { ANALYZER_CONFIG, DECODER, ROOT_LOGGER } from './analyzer.tokens.js';
import { VisionEncoderService } from './vision-encoder.service.js';

type Analysis = StreamSpec['analysis'] & { readonly name?: string };

interface OpenEvent {
  readonly eventId: string;
  readonly startedAt: number;
  region: AnomalyEvent['region'];
  peak: number;
  /** A decoder finding confirmed it already. */
  confirmed: boolean;
}

/** An open model.flagged event: a decoder finding no detector covers, open while windows keep reporting it. */
interface FlaggedEvent {
  readonly eventId: string;
  readonly startedAt: number;
  readonly severity: AnomalyEvent['severity'];
  peak: number;
  readonly description: string;
}

/** What the analysis hands the scheduler with each window. */
interface WindowContext {
  /** Events that started or were open inside the window. */
  readonly eventIds: string[];
  readonly strideMs: number;
}

interface StreamState {
  runId: string;
  lastSeq: number;
  /** The previous frame's vision tokens [T × D], for the window's activity figure. */
  prev: Float32Array | null;
  scene: SceneAnomalyModel;
  window: SlidingWindow;
  /** Length, stride and frame cost the window was made with (a settings change makes a new one). */
  windowKey: string;
  rollups: Rollups;
  open: Map<SceneKind, OpenEvent>;
  /** When each detector's latest event ended. */
  endedAt: Map<SceneKind, number>;
  flagged: Map<string, FlaggedEvent>;
  /** The newest window whose findings were applied (results can come back out of order). */
  flagsUntil: number;
  lastAt: number;
  lastBurstAt: number;
  lastSavedAt: number;
  wasLearning: boolean;
  /** When this analyzer last had a frame of the stream (wall clock). */
  lastSeenWall: number;
  /** Events another analyzer had open on this stream, resumed or closed at its first frame here. */
  inherited?: EventState;
}

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
/** What comes out of the decoder, off the frame path: summaries, and events its findings opened or confirmed. */
export interface NarrationOutput {
  readonly summaries: Summary[];
  readonly anomalies: AnomalyEvent[];
}

export interface AnalysisContext {
  settings(streamId: string): Analysis | undefined;
  baseline(streamId: string): BaselineRecord | undefined;
  /** The stream's open events as last published by whichever analyzer held it. */
  eventState(streamId: string): EventState | undefined;
  /** Every stream's EventState (for closing events nobody vouches for). */
  eventStates(): Iterable<EventState>;
}

const iso = (ms: number) => new Date(ms).toISOString();
const pct = (x: number) => `${Math.round(x * 100)} %`;

const SEVERITY: Record<SceneKind, AnomalyEvent['severity']> = {
  lens_covered: 'critical',
  camera_moved: 'critical',
  frozen: 'critical',
  too_dark: 'warning',
  overexposed: 'warning',
  blur: 'warning',
  activity_stopped: 'warning',
  object_appeared: 'warning',
};

/**
 * Analysis of one stream's frames against its own learned normal: vision tokens from the encoder feed the
 * stream's SceneAnomalyModel (patch baseline, tampering and health detectors, one event lifecycle per
 * kind), which is learned during a warm-up, restored from vigil.baselines.v1 when one was saved, and
 * saved again periodically. Each stream's sliding windows (length W every stride S, cut early when an
 * anomaly starts or on request) are narrated by the decoder off the frame path and rolled up per minute
 * and per hour; the decoder's findings open or confirm events.
 */
@Injectable()
export class FrameAnalysisService {
  private readonly streams = new Map<string, StreamState>();
  private readonly grids = new Map<string, PatchGrid>();
  private readonly log: Logger;
  private context: AnalysisContext = {
    settings: () => undefined,
    baseline: () => undefined,
    eventState: () => undefined,
    eventStates: () => [],
  };
  /** This analyzer instance, as EventState owner. */
  readonly owner = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly scheduler: DecodeScheduler<WindowContext>;
  private sink: (out: NarrationOutput) => void | Promise<void> = () => undefined;

  constructor(
    @Inject(ANALYZER_CONFIG) private readonly config: AnalyzerConfig,
    @Inject(DECODER) private readonly decoder: Decoder,
    @Inject(ROOT_LOGGER) root: Logger,
    private readonly encoder: VisionEncoderService,
  ) {
    this.log = root.child('analysis');
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
      (r) => this.summarize(r),
    );
  }

  /** Where narrated windows, rollups and model-flagged events go (the analyzer publishes them). */
  onNarration(sink: (out: NarrationOutput) => void | Promise<void>): void {
    this.sink = sink;
  }

  /** Narrates the stream's latest window now; false when this analyzer has not seen the stream. */
  requestSummary(streamId: string): boolean {
    const st = this.streams.get(streamId);
    const cut = st?.window.cut(st.lastAt, 'request');
    if (!st || !cut) return false;
    this.submitWindow(streamId, st, cut);
    return true;
  }

  /** Loads the decoder backend (a resident model); a backend that cannot run stops the analyzer at boot. */
  async startDecoder(): Promise<void> {
    try {
      await this.decoder.start?.();
    } catch (e) {
      throw new Error(`the ${this.decoder.type} decoder cannot start: ${(e as Error).message}`);
    }
    this.log.info('decoder ready', { decoder: this.decoder.type });
  }

  async closeDecoder(): Promise<void> {
    await this.decoder
      .close?.()
      .catch((e: unknown) => this.log.warn(`decoder did not close cleanly: ${(e as Error).message}`));
  }

  /** Stopping: waiting windows are narrated by grounded now; calls in flight get `timeoutMs`. */
  async closeSummaries(timeoutMs: number): Promise<void> {
    if (!(await this.scheduler.close(timeoutMs)))
      this.log.warn(
        `the decoder did not finish its windows within ${timeoutMs} ms of stopping; those are not narrated`,
      );
  }

  private submitWindow(streamId: string, st: StreamState, w: ClosedWindow): void {
    const settings = this.context.settings(streamId);
    const eventIds = new Set(w.anomalies.flatMap((a) => (a.eventId ? [a.eventId] : [])));
    for (const o of st.open.values()) if (o.startedAt < w.end) eventIds.add(o.eventId);
    for (const f of st.flagged.values()) if (f.startedAt < w.end) eventIds.add(f.eventId);
    if (w.trigger === 'cadence') st.rollups.expect(w.end);
    this.scheduler.submit(
      {
        streamId,
        ...(settings?.name ? { streamName: settings.name } : {}),
        ...(settings?.context ? { context: settings.context } : {}),
        window: w,
      },
      { eventIds: [...eventIds], strideMs: st.window.strideMs },
    );
  }

  private async summarize(r: ScheduledResult<WindowContext>): Promise<void> {
    const { request, result, skipped, context } = r;
    const w = request.window;
    const streamId = request.streamId;
    if (skipped) this.log.debug(`window narrated by grounded: ${skipped}`, { streamId });
    const id =
      w.trigger === 'cadence'
        ? summaryId(streamId, 'window', iso(w.start))
        : summaryId(streamId, `window/${w.trigger}`, iso(w.end));
    const out: NarrationOutput = {
      summaries: [
        SummarySchema.parse({
          summaryId: id,
          streamId,
          level: 'window',
          trigger: w.trigger,
          windowStart: iso(w.start),
          windowEnd: iso(w.end),
          text: result.summary,
          findings: result.findings.slice(0, 20),
          eventIds: context.eventIds.slice(0, 200),
          decoder: {
            ...result.decoder,
            latencyMs: Math.round(r.latencyMs * 10) / 10,
            ...(result.tokens ? { tokens: result.tokens } : {}),
          },
          stats: {
            frames: w.samples.length,
            meanChange: w.samples.reduce((a, s) => a + s.change, 0) / Math.max(1, w.samples.length),
            maxChange: Math.max(0, ...w.samples.map((s) => s.change)),
            anomalies: w.anomalies.length,
          },
          createdAt: new Date().toISOString(),
        }),
      ],
      anomalies: [],
    };
    const st = this.streams.get(streamId);
    if (st) {
      out.anomalies.push(...this.applyFindings(streamId, st, w, result, id));
      if (w.trigger === 'cadence') {
        const who = request.streamName ? `${request.streamName} (${streamId})` : streamId;
        for (const rollup of st.rollups.deliver(this.rollupChild(w, result, context)))
          out.summaries.push(rollupSummary(streamId, who, rollup));
      }
    }
    try {
      await this.sink(out);
    } catch (err) {
      this.log.error(`could not pass a summary on: ${(err as Error).message}`, { streamId });
    }
  }

  /** What a cadence window adds to its minute: only its last stride, so overlapping windows count once. */
  private rollupChild(w: ClosedWindow, result: DecodeResult, context: WindowContext): RollupChild {
    const from = w.end - context.strideMs;
    const samples = w.samples.filter((s) => s.at >= from);
    const model = result.decoder.type !== 'grounded' && !result.decoder.fallback;
    return {
      start: from,
      end: w.end,
      frames: samples.length,
      sumChange: samples.reduce((a, s) => a + s.change, 0),
      maxChange: Math.max(0, ...samples.map((s) => s.change)),
      anomalies: w.anomalies.filter((a) => a.at >= from),
      eventIds: context.eventIds,
      findings: model ? result.findings.map((f) => ({ kind: f.kind, severity: f.severity })) : [],
      windows: 1,
      fallbacks: result.decoder.fallback ? 1 : 0,
    };
  }

  /**
   * A model's findings (warning or critical, confidence ≥ 0.5): one naming a detector's open event confirms
   * it (an update carrying the finding, once) and one naming a detector's event that has ended since is
   * already covered; another opens a model.flagged event, which stays open while
   * the following windows report it and ends at the first that does not. Grounded findings are the
   * detectors' own events and change nothing.
   */
  private applyFindings(
    streamId: string,
    st: StreamState,
    w: ClosedWindow,
    result: DecodeResult,
    fromSummary: string,
  ): AnomalyEvent[] {
    if (result.decoder.type === 'grounded' || result.decoder.fallback) return [];
    const out: AnomalyEvent[] = [];
    const seen = new Set<string>();
    const observedAt = iso(w.end);
    const finding = (kind: string, confidence: number) => ({
      kind,
      confidence,
      decoder: result.decoder.type,
      ...(result.decoder.model ? { model: result.decoder.model } : {}),
      summaryId: fromSummary,
    });
    for (const f of result.findings) {
      if (f.severity === 'info' || f.confidence < 0.5) continue;
      const kind = f.kind
        .trim()
        .toLowerCase()
        .replace(/[\s-]+/g, '_')
        .slice(0, 100);
      seen.add(kind);
      const detected = st.open.get(kind as SceneKind);
      // the detector's own event ended since the window: it covers this, nothing to open
      if (!detected && (st.endedAt.get(kind as SceneKind) ?? -Infinity) >= w.start) continue;
      if (detected) {
        if (detected.confirmed) continue;
        detected.confirmed = true;
        out.push(
          AnomalyEventSchema.parse({
            eventId: detected.eventId,
            streamId,
            phase: 'update',
            kind,
            severity: SEVERITY[kind as SceneKind],
            score: detected.peak,
            peakScore: detected.peak,
            startedAt: iso(detected.startedAt),
            observedAt,
            ...(detected.region ? { region: detected.region } : {}),
            description: `${LABEL[kind as SceneKind]} confirmed by the model: ${f.description}`.slice(
              0,
              1000,
            ),
            finding: finding(f.kind, f.confidence),
          }),
        );
        continue;
      }
      const open = st.flagged.get(kind);
      if (open) {
        open.peak = Math.max(open.peak, f.confidence);
        continue;
      }
      const flagged: FlaggedEvent = {
        eventId: anomalyEventId(streamId, `model.flagged/${kind}`, observedAt),
        startedAt: w.end,
        severity: f.severity,
        peak: f.confidence,
        description: f.description,
      };
      st.flagged.set(kind, flagged);
      out.push(this.flaggedEvent(streamId, flagged, 'start', w.end, finding(f.kind, f.confidence)));
    }
    // only a newer cadence window can say a finding is gone (results may come back out of order)
    if (w.trigger === 'cadence' && w.end > st.flagsUntil) {
      st.flagsUntil = w.end;
      for (const [kind, flagged] of st.flagged) {
        if (seen.has(kind)) continue;
        st.flagged.delete(kind);
        out.push(this.flaggedEvent(streamId, flagged, 'end', w.end, finding(kind, flagged.peak)));
      }
    }
    return out;
  }

  private flaggedEvent(
    streamId: string,
    e: FlaggedEvent,
    phase: 'start' | 'end',
    at: number,
    finding: AnomalyEvent['finding'],
  ): AnomalyEvent {
    return AnomalyEventSchema.parse({
      eventId: e.eventId,
      streamId,
      phase,
      kind: 'model.flagged',
      severity: e.severity,
      score: phase === 'start' ? e.peak : 0,
      peakScore: e.peak,
      startedAt: iso(e.startedAt),
      observedAt: iso(at),
      ...(phase === 'end'
        ? {
            endedAt: iso(at),
            endReason: 'the model no longer reports it',
            description: `Model no longer reports: ${e.description}`.slice(0, 1000),
          }
        : { description: `Model flagged: ${e.description}`.slice(0, 1000) }),
      finding,
    });
  }

  attach(context: AnalysisContext): void {
    this.context = context;
  }

  private get sceneOptions(): SceneOptions {
    const c = this.config;
    return {
      ...DEFAULT_SCENE_OPTIONS,
      warmupSamples: c.warmupSamples,
      sensitivity: c.sensitivity,
      tracker: {
        ...DEFAULT_SCENE_OPTIONS.tracker,
        minDurationMs: c.eventMinDurationMs,
        exitHoldMs: c.eventExitHoldMs,
        cooldownMs: c.eventCooldownS * 1000,
        updateEveryMs: c.eventUpdateS * 1000,
      },
      minDurationMs: DEFAULT_SCENE_OPTIONS.minDurationMs,
    };
  }

  async analyze(meta: FrameMeta, jpeg: Buffer): Promise<AnalysisOutput> {
    const st = this.state(meta.streamId);
    if (meta.runId === st.runId && meta.seq <= st.lastSeq) {
      return { anomalies: [], bursts: [], baselines: [], duplicate: true };
    }
    // decoding a small thumbnail first rejects corrupt JPEGs before they reach the encoder, and feeds the gate
    const thumb = await grayThumbnail(jpeg, 32, 18);
    const at = Date.parse(meta.capturedAt);
    st.lastSeenWall = Date.now();
    const out: { -readonly [K in keyof AnalysisOutput]: AnalysisOutput[K] } = {
      anomalies: [],
      bursts: [],
      baselines: [],
    };
    if (st.inherited) {
      out.anomalies.push(...this.takeOver(meta, st, at));
      out.tookOver = true;
    }
    // a scene with parts that always move (a belt) is encoded every time: stillness there is news
    const { tokens } = await this.encoder.tokens(meta.streamId, jpeg, thumb, at, !st.scene.hasBusyParts);
    const m = this.encoder.manifest;
    const settings = this.context.settings(meta.streamId);
    const grid = this.grid(meta.width, meta.height, settings?.ignore ?? []);
    st.scene.sensitivity = settings?.sensitivity ?? this.config.sensitivity;

    // activity for the summaries: the share of patches that changed since the previous sample of this run
    const comparable = st.prev !== null && st.runId === meta.runId && st.prev.length === tokens.length;
    const change = comparable
      ? patchChange(
          st.prev!,
          tokens,
          m.output.tokenGrid,
          m.output.tokenDims,
          this.config.patchThreshold,
          letterboxContent(meta.width, meta.height, m.input.width, m.input.height),
          m.input.width,
          m.input.height,
        ).fraction
      : 0;
    st.prev = tokens;
    st.runId = meta.runId;
    st.lastSeq = meta.seq;

    const r = st.scene.observe(tokens, m.output.tokenDims, thumb.pixels, at, grid);
    for (const e of r.events) out.anomalies.push(await this.message(meta, st, e, r, jpeg));
    const started = r.events.some((e) => e.phase === 'start');
    const top = (Object.entries(r.scores) as [SceneKind, number][]).sort((a, b) => b[1] - a[1])[0]!;
    out.score = {
      streamId: meta.streamId,
      capturedAt: meta.capturedAt,
      learning: r.learning,
      score: Math.round(r.frameScore * 1000) / 1000,
      ...(r.learning || top[1] <= 0 ? {} : { kind: top[0] }),
      novelFraction: Math.round(r.novelFraction * 1000) / 1000,
    };
    if (r.rising && at - st.lastBurstAt >= 5_000) {
      st.lastBurstAt = at;
      const reason =
        top[1] >= 0.6 ? `${top[0]} score rising (${top[1].toFixed(2)})` : 'something new in view';
      out.bursts.push({ streamId: meta.streamId, reason });
    }
    if (st.wasLearning && !r.learning) {
      this.log.info('baseline learned; scoring starts', {
        streamId: meta.streamId,
        samples: st.scene.samplesLearned,
      });
    }
    const saveDue =
      (st.wasLearning && !r.learning) ||
      (!r.learning && at - st.lastSavedAt >= this.config.baselineSaveS * 1000);
    st.wasLearning = r.learning;
    if (saveDue) {
      const rec = this.baselineRecord(meta.streamId, at);
      if (rec) {
        st.lastSavedAt = at;
        out.baselines.push(rec);
      }
    }

    // the stream's sliding windows: what the decoder looks at comes along (frames, tokens, or neither)
    const window = this.windowFor(meta, st, settings);
    const inputs = this.decoder.inputs;
    const payload = inputs && {
      // a copy: the frame is a slice of its Kafka fetch (up to VIGIL_ANALYZER_FETCH_MAX_MB), which a
      // window holding the slice for its length would keep whole
      ...(inputs.jpeg ? { jpeg: Buffer.from(jpeg) } : {}),
      ...(inputs.tokens ? { tokens } : {}),
    };
    for (const closed of window.add({ at, change }, payload)) this.submitWindow(meta.streamId, st, closed);
    st.lastAt = Math.max(st.lastAt, at);
    // an anomaly's start is narrated at once, with the window that led up to it
    if (started) {
      const cut = window.cut(at, 'anomaly');
      if (cut) this.submitWindow(meta.streamId, st, cut);
    }
    return out;
  }

  /** Per stream: still learning its normal? */
  learningStates(): [string, boolean][] {
    return [...this.streams].map(([id, st]) => [id, st.scene.learning]);
  }

  /** Every stream's learned normal now (at shutdown, so a successor resumes from the latest). */
  baselinesNow(): BaselineRecord[] {
    return [...this.streams.keys()].flatMap((id) => {
      const rec = this.baselineRecord(id, Date.now());
      return rec ? [rec] : [];
    });
  }

  private baselineRecord(streamId: string, at: number): BaselineRecord | null {
    const st = this.streams.get(streamId);
    if (!st || st.scene.learning) return null;
    const snapshot = st.scene.snapshot();
    if (!snapshot) return null;
    const m = this.encoder.manifest;
    return {
      streamId,
      model: m.name,
      tokenGrid: m.output.tokenGrid,
      tokenDims: m.output.tokenDims,
      samples: st.scene.samplesLearned,
      savedAt: iso(at),
      snapshot: snapshot as unknown as BaselineRecord['snapshot'],
    };
  }

  private async message(
    meta: FrameMeta,
    st: StreamState,
    e: SceneEvent,
    r: SceneResult,
    jpeg: Buffer,
  ): Promise<AnomalyEvent> {
    const eventId = anomalyEventId(meta.streamId, e.kind, iso(e.startedAt));
    if (e.phase === 'start') {
      st.open.set(e.kind, {
        eventId,
        startedAt: e.startedAt,
        region: e.region,
        peak: e.peak,
        confirmed: false,
      });
      st.window.noteAnomaly({ at: e.startedAt, kind: e.kind, score: e.peak, eventId });
    }
    const open = st.open.get(e.kind);
    if (open) open.peak = Math.max(open.peak, e.peak);
    if (e.region && open) open.region = e.region;
    if (e.phase === 'end') {
      st.open.delete(e.kind);
      st.endedAt.set(e.kind, e.endedAt ?? Date.parse(meta.capturedAt));
    }
    const lasted = ((e.endedAt ?? Date.parse(meta.capturedAt)) - e.startedAt) / 1000;
    const description =
      e.phase === 'start'
        ? describe(e.kind, r)
        : e.phase === 'update'
          ? `${LABEL[e.kind]} continues after ${lasted.toFixed(0)} s (peak score ${e.peak.toFixed(2)}).`
          : `${LABEL[e.kind]} ended after ${lasted.toFixed(1)} s (peak score ${e.peak.toFixed(2)}).`;
    const evidence = e.phase === 'start' ? await evidenceThumbnail(jpeg) : undefined;
    return AnomalyEventSchema.parse({
      eventId,
      streamId: meta.streamId,
      phase: e.phase,
      kind: e.kind,
      severity: e.kind === 'object_appeared' && e.peak >= 2 ? 'critical' : SEVERITY[e.kind],
      score: e.score,
      peakScore: e.peak,
      startedAt: iso(e.startedAt),
      observedAt: meta.capturedAt,
      ...(e.phase === 'end' ? { endedAt: iso(e.endedAt!), endReason: 'condition cleared' } : {}),
      ...(open?.region ? { region: open.region } : {}),
      description,
      ...(evidence ? { evidence } : {}),
    });
  }

  /**
   * The events another analyzer had open on this stream, at its first frame here: a detector's event is
   * resumed (same eventId, an update saying so; it ends here when the condition clears) when this
   * analyzer scores the stream from its restored normal; otherwise (still learning it, or a model-flagged
   * event) it is closed with the reason.
   */
  private takeOver(meta: FrameMeta, st: StreamState, at: number): AnomalyEvent[] {
    const rec = st.inherited!;
    st.inherited = undefined;
    const out: AnomalyEvent[] = [];
    for (const e of rec.open) {
      const kind = e.kind as SceneKind;
      const detector = (SCENE_KINDS as readonly string[]).includes(e.kind);
      const base = {
        eventId: e.eventId,
        streamId: meta.streamId,
        kind: e.kind,
        severity: e.severity,
        peakScore: e.peakScore,
        startedAt: e.startedAt,
        observedAt: meta.capturedAt,
        ...(e.region ? { region: e.region } : {}),
      };
      if (detector && !st.scene.learning && !st.open.has(kind)) {
        const startedAt = Date.parse(e.startedAt);
        st.scene.resumeEvent(kind, startedAt, e.peakScore, at, e.region);
        st.open.set(kind, {
          eventId: e.eventId,
          startedAt,
          region: e.region,
          peak: e.peakScore,
          confirmed: false,
        });
        out.push(
          AnomalyEventSchema.parse({
            ...base,
            phase: 'update',
            score: e.peakScore,
            description: `${LABEL[kind]} continues: this camera moved to another analyzer, which resumed the event.`,
          }),
        );
      } else {
        const why = detector
          ? 'handed over to an analyzer that is learning this camera’s normal again'
          : 'handed over to another analyzer; the next narrated window raises it again if it persists';
        out.push(
          AnomalyEventSchema.parse({
            ...base,
            phase: 'end',
            score: 0,
            endedAt: meta.capturedAt,
            endReason: why,
            description: `${detector ? LABEL[kind] : e.description} closed: ${why}.`.slice(0, 1000),
          }),
        );
      }
    }
    this.log.info('took over open events', {
      streamId: meta.streamId,
      from: rec.owner,
      events: rec.open.length,
    });
    return out;
  }

  /** The stream's open events as this analyzer holds them, to publish on vigil.event-state.v1. */
  eventStateOf(streamId: string, now = Date.now()): EventState | undefined {
    const st = this.streams.get(streamId);
    if (!st) return undefined;
    return {
      streamId,
      owner: this.owner,
      heartbeatAt: iso(now),
      open: [
        ...[...st.open].map(([kind, o]) => ({
          eventId: o.eventId,
          kind,
          severity: kind === 'object_appeared' && o.peak >= 2 ? ('critical' as const) : SEVERITY[kind],
          startedAt: iso(o.startedAt),
          peakScore: o.peak,
          ...(o.region ? { region: o.region } : {}),
          description: LABEL[kind],
        })),
        ...[...st.flagged.values()].map((f) => ({
          eventId: f.eventId,
          kind: 'model.flagged' as const,
          severity: f.severity,
          startedAt: iso(f.startedAt),
          peakScore: f.peak,
          description: f.description.slice(0, 1000),
        })),
      ],
    };
  }

  /**
   * Every few seconds. For each stream held here: one another analyzer has taken over (its EventState is
   * newer than our last frame and not ours) is forgotten; one with open events gets a heartbeat while its
   * frames come, and its events closed once none came for VIGIL_EVENT_STALE_S. For streams held nowhere:
   * open events nobody vouched for within that time are closed (every analyzer does this, with the same
   * message, so repeats are plain duplicates).
   */
  tick(now = Date.now()): EventHousekeeping {
    const staleMs = this.config.eventStaleS * 1000;
    const out = {
      heartbeat: [] as string[],
      closed: [] as AnomalyEvent[],
      states: [] as EventState[],
      forgotten: [] as string[],
    };
    for (const [id, st] of this.streams) {
      const rec = this.context.eventState(id);
      if (rec && rec.owner !== this.owner && Date.parse(rec.heartbeatAt) > st.lastSeenWall && !st.inherited) {
        this.streams.delete(id);
        out.forgotten.push(id);
        continue;
      }
      if (!st.open.size && !st.flagged.size) continue;
      const idle = now - st.lastSeenWall;
      if (idle < staleMs) {
        out.heartbeat.push(id);
        continue;
      }
      const why = `no frames for ${Math.round(idle / 1000)} s`;
      for (const e of st.scene.closeAll(now)) {
        const open = st.open.get(e.kind);
        st.open.delete(e.kind);
        st.endedAt.set(e.kind, now);
        if (!open) continue;
        out.closed.push(
          this.endMessage(id, e.kind, open.eventId, open.startedAt, open.peak, open.region, now, now, why),
        );
      }
      st.open.clear();
      for (const [k, f] of st.flagged) {
        st.flagged.delete(k);
        out.closed.push(
          this.endMessage(
            id,
            'model.flagged',
            f.eventId,
            f.startedAt,
            f.peak,
            undefined,
            now,
            now,
            why,
            f.severity,
            f.description,
          ),
        );
      }
      out.states.push(this.eventStateOf(id, now)!);
    }
    for (const rec of this.context.eventStates()) {
      if (!rec.open.length || this.streams.has(rec.streamId)) continue;
      const beat = Date.parse(rec.heartbeatAt);
      if (now - beat < staleMs) continue;
      // the same message from every analyzer: ended when last vouched for, observed one stale period later
      const observed = beat + staleMs;
      const why = `no analyzer has vouched for it since ${rec.heartbeatAt}`;
      for (const e of rec.open)
        out.closed.push(
          this.endMessage(
            rec.streamId,
            e.kind,
            e.eventId,
            Date.parse(e.startedAt),
            e.peakScore,
            e.region,
            beat,
            observed,
            why,
            e.severity,
            e.description,
          ),
        );
      out.states.push({ streamId: rec.streamId, owner: 'janitor', heartbeatAt: iso(observed), open: [] });
    }
    return out;
  }

  private endMessage(
    streamId: string,
    kind: AnomalyEvent['kind'],
    eventId: string,
    startedAt: number,
    peak: number,
    region: AnomalyEvent['region'],
    endedAt: number,
    observedAt: number,
    why: string,
    severity?: AnomalyEvent['severity'],
    description?: string,
  ): AnomalyEvent {
    const label = kind in LABEL ? LABEL[kind as SceneKind] : (description ?? kind);
    return AnomalyEventSchema.parse({
      eventId,
      streamId,
      phase: 'end',
      kind,
      severity: severity ?? SEVERITY[kind as SceneKind],
      score: 0,
      peakScore: peak,
      startedAt: iso(startedAt),
      observedAt: iso(observedAt),
      endedAt: iso(endedAt),
      endReason: why,
      ...(region ? { region } : {}),
      description: `${label} closed: ${why}.`.slice(0, 1000),
    });
  }

  private grid(width: number, height: number, ignore: Analysis['ignore']): PatchGrid {
    const key = `${width}x${height}:${JSON.stringify(ignore)}`;
    let g = this.grids.get(key);
    if (!g) {
      const m = this.encoder.manifest;
      g = new PatchGrid(
        m.output.tokenGrid,
        letterboxContent(width, height, m.input.width, m.input.height),
        m.input.width,
        m.input.height,
        ignore,
      );
      if (this.grids.size > 256) this.grids.clear();
      this.grids.set(key, g);
    }
    return g;
  }

  private state(streamId: string): StreamState {
    let st = this.streams.get(streamId);
    if (!st) {
      const scene = this.sceneFor(streamId);
      st = {
        runId: '',
        lastSeq: -1,
        prev: null,
        scene,
        // replaced by windowFor() at the first frame, when the frame size (and so its token cost) is known
        window: new SlidingWindow({ lengthMs: 1, strideMs: 1 }),
        windowKey: '',
        rollups: new Rollups([
          { name: 'minute', ms: this.config.rollupMinuteS * 1000 },
          { name: 'hour', ms: this.config.rollupHourS * 1000 },
        ]),
        open: new Map(),
        endedAt: new Map(),
        flagged: new Map(),
        flagsUntil: -Infinity,
        lastAt: -Infinity,
        lastBurstAt: -Infinity,
        lastSavedAt: Date.now(),
        // a restored normal is saved again only after baselineSaveS
        wasLearning: scene.learning,
        lastSeenWall: Date.now(),
      };
      const held = this.context.eventState(streamId);
      if (held && held.owner !== this.owner && held.open.length) st.inherited = held;
      this.streams.set(streamId, st);
    }
    return st;
  }

  /**
   * The stream's sliding window: length W and stride S from its settings (else the analyzer's; W defaults
   * to 2 S), near-duplicate merging, and the token budget at what a frame of this size costs the decoder.
   * New settings make a new window (the old one's samples are let go).
   */
  private windowFor(meta: FrameMeta, st: StreamState, settings: Analysis | undefined): SlidingWindow {
    const c = this.config;
    const strideS = settings?.summaryIntervalS ?? c.summaryIntervalS;
    const lengthS =
      settings?.windowS ?? (settings?.summaryIntervalS ? 2 * strideS : c.windowS || 2 * strideS);
    const m = this.encoder.manifest;
    const perFrame = this.decoder.inputs?.tokensPerFrame(meta.width, meta.height, m.output.tokenGrid) ?? 1;
    const key = `${lengthS}/${strideS}/${perFrame}`;
    if (key !== st.windowKey) {
      if (st.windowKey)
        this.log.info('window settings changed', { streamId: meta.streamId, windowS: lengthS, strideS });
      st.windowKey = key;
      st.window = new SlidingWindow({
        lengthMs: Math.max(lengthS, strideS) * 1000,
        strideMs: strideS * 1000,
        mergeBelow: c.windowMergeBelow,
        tokenBudget: c.windowTokenBudget,
        tokensPerFrame: perFrame,
      });
    }
    return st.window;
  }

  /** The stream's saved normal when it fits this encoder; otherwise a fresh one that warms up. */
  private sceneFor(streamId: string): SceneAnomalyModel {
    const rec = this.context.baseline(streamId);
    const m = this.encoder.manifest;
    if (rec) {
      const fits =
        rec.model === m.name &&
        rec.tokenGrid[0] === m.output.tokenGrid[0] &&
        rec.tokenGrid[1] === m.output.tokenGrid[1] &&
        rec.tokenDims === m.output.tokenDims;
      if (!fits) {
        this.log.warn('saved baseline is for another encoder; learning afresh', {
          streamId,
          model: rec.model,
        });
      } else {
        try {
          const scene = SceneAnomalyModel.restore(
            rec.snapshot as unknown as SceneSnapshot,
            this.sceneOptions,
          );
          this.log.info('baseline restored', { streamId, samples: rec.samples, savedAt: rec.savedAt });
          return scene;
        } catch (e) {
          this.log.warn(`saved baseline unusable (${(e as Error).message}); learning afresh`, { streamId });
        }
      }
    }
    return SceneAnomalyModel.fresh(this.sceneOptions);
  }
}

const LABEL: Record<SceneKind, string> = {
  lens_covered: 'Lens covered',
  too_dark: 'Picture too dark',
  overexposed: 'Picture overexposed',
  blur: 'Picture out of focus',
  frozen: 'Picture frozen',
  camera_moved: 'Camera moved',
  activity_stopped: 'Activity stopped',
  object_appeared: 'Something new in view',
};

/** One grounded sentence from what was measured. */
function describe(kind: SceneKind, r: SceneResult): string {
  const h = r.health;
  switch (kind) {
    case 'lens_covered':
      return `Lens covered or blocked: ${pct(h.flat)} of the picture shows no structure at all.`;
    case 'too_dark':
      return `Picture too dark: mean brightness ${pct(h.luma)}, under half of what is usual here.`;
    case 'overexposed':
      return `Picture overexposed: ${pct(h.bright)} of it is blown out to white.`;
    case 'blur':
      return `Picture out of focus: fine detail fell to a fraction of what is usual while the scene is still there.`;
    case 'frozen':
      return `Picture frozen: consecutive samples are identical although this camera normally shows motion or noise.`;
    case 'camera_moved':
      return `Camera moved or turned: ${pct(r.novelFraction)} of the view no longer matches its usual scene.`;
    case 'activity_stopped':
      return `Activity stopped: the parts of the scene that normally move have stood still for several samples.`;
    case 'object_appeared':
      return `Something new in view: ${pct(r.novelFraction)} of the picture departs from its usual look (score ${r.scores.object_appeared.toFixed(2)}).`;
  }
}

/** A closed minute or hour as a summary: grounded narration over the summaries below it. */
function rollupSummary(streamId: string, who: string, r: ClosedRollup): Summary {
  const m = mergeChildren(r.start, r.end, r.children);
  return SummarySchema.parse({
    summaryId: summaryId(streamId, r.level, iso(r.start)),
    streamId,
    level: r.level,
    trigger: 'cadence',
    windowStart: iso(r.start),
    windowEnd: iso(r.end),
    text: narrateRollup(r.level, who, m).slice(0, 4000),
    eventIds: m.eventIds.slice(0, 200),
    decoder: { type: 'grounded', fallback: false },
    stats: {
      frames: m.frames,
      meanChange: m.frames > 0 ? m.sumChange / m.frames : 0,
      maxChange: m.maxChange,
      anomalies: m.anomalies.length,
      windows: m.windows,
    },
    createdAt: new Date().toISOString(),
  });
}

/** Evidence is capped: the schema allows 64 000 base64 characters, and a busy frame must still fit. */
const EVIDENCE_MAX_BASE64 = 48_000;

/** A small JPEG of the frame (160 px wide, ~5 KB) carried in the start event as evidence; smaller if need be. */
async function evidenceThumbnail(jpeg: Buffer): Promise<AnomalyEvent['evidence']> {
  for (const [width, quality] of [
    [160, 70],
    [120, 50],
    [80, 40],
  ] as const) {
    const small = await sharp(jpeg).resize({ width }).jpeg({ quality }).toBuffer();
    const base64 = small.toString('base64');
    if (base64.length <= EVIDENCE_MAX_BASE64) return { mime: 'image/jpeg', base64 };
  }
  return undefined;
}
