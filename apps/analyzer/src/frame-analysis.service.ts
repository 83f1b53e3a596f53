import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Inject, Injectable } from '@nestjs/common';
import { type AnomalyEvent, type BaselineRecord, type EventState, type FrameMeta } from '@vigil/contracts';
import { type AnalyzerConfig } from '@vigil/config';
import {
  type EncoderIdentity,
  PatchGridCache,
  type SceneKind,
  type SceneOptions,
  baselineRecord,
  closeUnvouched,
  eventStateOf,
  heldElsewhere,
  letterboxContent,
  patchChange,
  restoreScene,
  takeOver,
} from '@vigil/anomaly';
import { type Decoder } from '@vigil/decoders';
import { evidenceThumbnail, grayThumbnail } from '@vigil/vision';
import { type ClosedWindow } from '@vigil/windows';
import { Logger } from '@vigil/observability';
import { ANALYZER_CONFIG, DECODER, ROOT_LOGGER } from './analyzer.tokens.js';
import { type NarrationOutput, Narrator } from './narrator.js';
import { type StreamState, newStreamState, sceneOptionsFrom } from './stream-state.js';
import type { Analysis, AnalysisContext, AnalysisOutput, EventHousekeeping } from './analysis.types.js';
import { VisionEncoderService } from './vision-encoder.service.js';
import { ObjectDetectorService } from './object-detector.service.js';
import { ObjectStage } from './object-stage.js';

export type { NarrationOutput } from './narrator.js';
export type { Analysis, AnalysisContext, AnalysisOutput, EventHousekeeping } from './analysis.types.js';

/** A sample's score rising asks ingest for full-rate sampling at most this often per stream. */
const BURST_EVERY_MS = 5_000;

/**
 * The frame path of one analyzer: each frame's vision tokens feed its stream's learned normal
 * (SceneAnomalyModel: patch baseline, tampering and health detectors, one lifecycle per kind), whose
 * events become messages (OpenEvents), whose normal is saved on a cadence (BaselineCadence), and whose
 * samples fill the sliding windows the Narrator hands the decoder off the frame path (StreamNarration).
 * Open events change hands with their stream (event-handover). Each stage keeps its own part of the
 * per-stream state (StreamState); this service only wires a frame through them.
 */
@Injectable()
export class FrameAnalysisService {
  private readonly streams = new Map<string, StreamState>();
  private readonly log: Logger;
  private context: AnalysisContext = {
    settings: () => undefined,
    baseline: () => undefined,
    eventState: () => undefined,
    eventStates: () => [],
  };
  /** This analyzer instance, as EventState owner. */
  readonly owner = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly narrator: Narrator;
  private readonly objects: ObjectStage;
  private readonly sceneOptions: SceneOptions;
  /** Built at the first frame: the encoder's manifest is known once it started. */
  private grids?: PatchGridCache;

  constructor(
    @Inject(ANALYZER_CONFIG) private readonly config: AnalyzerConfig,
    @Inject(DECODER) private readonly decoder: Decoder,
    @Inject(ROOT_LOGGER) root: Logger,
    private readonly encoder: VisionEncoderService,
    detector: ObjectDetectorService,
  ) {
    this.log = root.child('analysis');
    this.objects = new ObjectStage(detector, this.log);
    this.sceneOptions = sceneOptionsFrom(config);
    this.narrator = new Narrator(decoder, config, this.log, (id) => this.streams.get(id));
  }

  /** Where narrated windows, rollups and model-flagged events go (the analyzer publishes them). */
  onNarration(sink: (out: NarrationOutput) => void | Promise<void>): void {
    this.narrator.onNarration(sink);
  }

  /** Narrates the stream's latest window now; false when this analyzer has not seen the stream. */
  requestSummary(streamId: string): boolean {
    const st = this.streams.get(streamId);
    const cut = st?.narration.cut('request');
    if (!st || !cut) return false;
    this.submit(streamId, st, cut);
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
    if (!(await this.narrator.close(timeoutMs)))
      this.log.warn(
        `the decoder did not finish its windows within ${timeoutMs} ms of stopping; those are not narrated`,
      );
  }

  attach(context: AnalysisContext): void {
    this.context = context;
  }

  async analyze(meta: FrameMeta, jpeg: Buffer): Promise<AnalysisOutput> {
    const st = this.state(meta.streamId);
    if (st.frames.isRepeat(meta)) return { anomalies: [], bursts: [], baselines: [], duplicate: true };
    // decoding a small thumbnail first rejects corrupt JPEGs before they reach the encoder, and feeds the gate
    const thumb = await grayThumbnail(jpeg, 32, 18);
    const at = Date.parse(meta.capturedAt);
    st.frames.lastSeenWall = Date.now();
    const out: { -readonly [K in keyof AnalysisOutput]: AnalysisOutput[K] } = {
      anomalies: [],
      bursts: [],
      baselines: [],
    };
    if (st.inherited) {
      const rec = st.inherited;
      st.inherited = undefined;
      out.anomalies.push(...takeOver(rec, st.events, st.scene, meta.capturedAt, at));
      out.tookOver = true;
      this.log.info('took over open events', {
        streamId: meta.streamId,
        from: rec.owner,
        events: rec.open.length,
      });
    }
    // a scene with parts that always move (a belt) is encoded every time: stillness there is news; the
    // detector runs beside the encoder (ObjectStage)
    const [{ tokens }, objects] = await Promise.all([
      this.encoder.tokens(meta.streamId, jpeg, thumb, at, !st.scene.hasBusyParts),
      this.objects.track(meta.streamId, st, jpeg, at),
    ]);
    const m = this.encoder.manifest;
    const settings = this.context.settings(meta.streamId);
    this.grids ??= new PatchGridCache(m.output.tokenGrid, m.input.width, m.input.height);
    const grid = this.grids.get(meta.width, meta.height, settings?.ignore ?? []);
    st.scene.sensitivity = settings?.sensitivity ?? this.config.sensitivity;

    // activity for the summaries: the share of patches that changed since the previous sample of this run
    const prev = st.frames.advance(meta, tokens);
    const change = prev
      ? patchChange(
          prev,
          tokens,
          m.output.tokenGrid,
          m.output.tokenDims,
          this.config.patchThreshold,
          letterboxContent(meta.width, meta.height, m.input.width, m.input.height),
          m.input.width,
          m.input.height,
        ).fraction
      : 0;

    // what the tracked objects cover is explained: not something new, not a machine's motion
    const explained = this.objects.explained(grid, objects);
    const r = st.scene.observe(tokens, m.output.tokenDims, thumb.pixels, at, grid, explained);
    for (const e of r.events) {
      const evidence = e.phase === 'start' ? await evidenceThumbnail(jpeg) : undefined;
      const msg = st.events.sceneEvent(e, r, meta.capturedAt, evidence);
      if (e.phase === 'start')
        st.narration.noteAnomaly({ at: e.startedAt, kind: e.kind, score: e.peak, eventId: msg.eventId });
      out.anomalies.push(msg);
    }
    const zoneEvents = this.objects.zoneEvents(st, settings?.zones ?? [], objects, at, meta.capturedAt);
    for (const msg of zoneEvents) {
      if (msg.phase !== 'start') {
        out.anomalies.push(msg);
        continue;
      }
      st.narration.noteAnomaly({
        at: Date.parse(msg.startedAt),
        kind: msg.kind,
        score: msg.peakScore,
        eventId: msg.eventId,
      });
      out.anomalies.push({ ...msg, evidence: await evidenceThumbnail(jpeg) });
    }
    const started = r.events.some((e) => e.phase === 'start') || zoneEvents.some((e) => e.phase === 'start');
    const top = (Object.entries(r.scores) as [SceneKind, number][]).sort((a, b) => b[1] - a[1])[0]!;
    out.score = {
      streamId: meta.streamId,
      capturedAt: meta.capturedAt,
      learning: r.learning,
      score: Math.round(r.frameScore * 1000) / 1000,
      ...(r.learning || top[1] <= 0 ? {} : { kind: top[0] }),
      novelFraction: Math.round(r.novelFraction * 1000) / 1000,
      ...this.objects.scoreObjects(objects, at),
    };
    if (r.rising && at - st.frames.lastBurstAt >= BURST_EVERY_MS) {
      st.frames.lastBurstAt = at;
      const reason =
        top[1] >= 0.6 ? `${top[0]} score rising (${top[1].toFixed(2)})` : 'something new in view';
      out.bursts.push({ streamId: meta.streamId, reason });
    }
    const step = st.baseline.step(at, r.learning);
    if (step.learned)
      this.log.info('baseline learned; scoring starts', {
        streamId: meta.streamId,
        samples: st.scene.samplesLearned,
      });
    if (step.save) {
      const rec = baselineRecord(meta.streamId, st.scene, this.encoderIdentity, at);
      if (rec) {
        st.baseline.saved(at);
        out.baselines.push(rec);
      }
    }

    // the stream's sliding windows: what the decoder looks at comes along (frames, tokens, or neither)
    this.configureWindow(meta, st, settings);
    const inputs = this.decoder.inputs;
    const payload = inputs && {
      // a copy: the frame is a slice of its Kafka fetch (up to VIGIL_ANALYZER_FETCH_MAX_MB), which a
      // window holding the slice for its length would keep whole
      ...(inputs.jpeg ? { jpeg: Buffer.from(jpeg) } : {}),
      ...(inputs.tokens ? { tokens } : {}),
    };
    for (const closed of st.narration.add({ at, change, ...this.objects.windowObjects(objects) }, payload))
      this.submit(meta.streamId, st, closed);
    // an anomaly's start is narrated at once, with the window that led up to it
    if (started) {
      const cut = st.narration.cut('anomaly', at);
      if (cut) this.submit(meta.streamId, st, cut);
    }
    return out;
  }

  /** Per stream: still learning its normal? */
  learningStates(): [string, boolean][] {
    return [...this.streams].map(([id, st]) => [id, st.scene.learning]);
  }

  /** Every stream's learned normal now (at shutdown, so a successor resumes from the latest). */
  baselinesNow(): BaselineRecord[] {
    const now = Date.now();
    return [...this.streams].flatMap(([id, st]) => {
      const rec = baselineRecord(id, st.scene, this.encoderIdentity, now);
      return rec ? [rec] : [];
    });
  }

  /** The stream's open events as this analyzer holds them, to publish on vigil.event-state.v1. */
  eventStateOf(streamId: string, now = Date.now()): EventState | undefined {
    const st = this.streams.get(streamId);
    return st && eventStateOf(st.events, this.owner, now);
  }

  /**
   * Every few seconds. For each stream held here: one another analyzer has taken over (its EventState is
   * newer than our last frame and not ours) is forgotten; one with open events gets a heartbeat while its
   * frames come, and its events closed once none came for VIGIL_EVENT_STALE_S. For streams held nowhere:
   * open events nobody vouched for within that time are closed (closeUnvouched).
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
      if (heldElsewhere(this.context.eventState(id), this.owner, st.frames.lastSeenWall) && !st.inherited) {
        this.streams.delete(id);
        out.forgotten.push(id);
        continue;
      }
      if (!st.events.size) continue;
      const idle = now - st.frames.lastSeenWall;
      if (idle < staleMs) {
        out.heartbeat.push(id);
        continue;
      }
      const why = `no frames for ${Math.round(idle / 1000)} s`;
      out.closed.push(...st.events.closeAll(st.scene.closeAll(now), now, why));
      out.states.push(eventStateOf(st.events, this.owner, now));
    }
    const janitor = closeUnvouched(this.context.eventStates(), (id) => this.streams.has(id), now, staleMs);
    out.closed.push(...janitor.closed);
    out.states.push(...janitor.states);
    return out;
  }

  private submit(streamId: string, st: StreamState, w: ClosedWindow): void {
    const settings = this.context.settings(streamId);
    this.narrator.submit(
      streamId,
      {
        state: st,
        ...(settings?.name ? { name: settings.name } : {}),
        ...(settings?.context ? { context: settings.context } : {}),
      },
      w,
    );
  }

  /**
   * The stream's sliding window: length W and stride S from its settings (else the analyzer's; W defaults
   * to 2 S), near-duplicate merging, and the token budget at what a frame of this size costs the decoder.
   * New settings make a new window (the old one's samples are let go).
   */
  private configureWindow(meta: FrameMeta, st: StreamState, settings: Analysis | undefined): void {
    const c = this.config;
    const strideS = settings?.summaryIntervalS ?? c.summaryIntervalS;
    const lengthS =
      settings?.windowS ?? (settings?.summaryIntervalS ? 2 * strideS : c.windowS || 2 * strideS);
    const grid = this.encoder.manifest.output.tokenGrid;
    const tokensPerFrame = this.decoder.inputs?.tokensPerFrame(meta.width, meta.height, grid) ?? 1;
    const changed = st.narration.configure({
      strideS,
      lengthS,
      mergeBelow: c.windowMergeBelow,
      tokenBudget: c.windowTokenBudget,
      tokensPerFrame,
    });
    if (changed)
      this.log.info('window settings changed', { streamId: meta.streamId, windowS: lengthS, strideS });
  }

  private get encoderIdentity(): EncoderIdentity {
    const m = this.encoder.manifest;
    return { name: m.name, tokenGrid: m.output.tokenGrid, tokenDims: m.output.tokenDims };
  }

  /**
   * The events as they are published, into each camera's narration ledger: what its window and rollup
   * summaries say about events (counts of starts, what is still open) comes from here.
   */
  noteEvents(events: readonly AnomalyEvent[]): void {
    for (const e of events) {
      const n = this.streams.get(e.streamId)?.narration;
      if (!n) continue;
      if (e.phase === 'start')
        n.noteStart({ eventId: e.eventId, kind: e.kind, at: Date.parse(e.startedAt), score: e.peakScore });
      else if (e.phase === 'end') n.noteEnd(e.eventId, Date.parse(e.endedAt ?? e.observedAt));
    }
  }

  private state(streamId: string): StreamState {
    let st = this.streams.get(streamId);
    if (st) return st;
    const rec = this.context.baseline(streamId);
    const { scene, restored, rejected } = restoreScene(rec, this.encoderIdentity, this.sceneOptions);
    if (restored)
      this.log.info('baseline restored', { streamId, samples: rec!.samples, savedAt: rec!.savedAt });
    else if (rejected)
      this.log.warn(`saved baseline unusable (${rejected}); learning afresh`, {
        streamId,
        model: rec!.model,
      });
    st = newStreamState(streamId, scene, this.config, Date.now());
    const held = this.context.eventState(streamId);
    if (held && held.owner !== this.owner && held.open.length) st.inherited = held;
    this.streams.set(streamId, st);
    return st;
  }
}
