import { Inject, Injectable } from '@nestjs/common';
import sharp from 'sharp';
import {
  type AnomalyEvent,
  AnomalyEventSchema,
  type BaselineRecord,
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
  SceneAnomalyModel,
  type SceneEvent,
  type SceneKind,
  type SceneOptions,
  type SceneResult,
  type SceneSnapshot,
  letterboxContent,
  patchChange,
} from '@vigil/anomaly';
import { DecodeScheduler, type Decoder, GroundedDecoder, type ScheduledResult } from '@vigil/decoders';
import { grayThumbnail } from '@vigil/vision';
import { TumblingWindow } from '@vigil/windows';
import { Logger } from '@vigil/observability';
import { ANALYZER_CONFIG, DECODER, ROOT_LOGGER } from './analyzer.tokens.js';
import { VisionEncoderService } from './vision-encoder.service.js';

type Analysis = StreamSpec['analysis'] & { readonly name?: string };

const FRAMES_PER_WINDOW = 4;

interface OpenEvent {
  readonly startedAt: number;
  region: AnomalyEvent['region'];
  /** The scores that opened it, for the update and end descriptions. */
  readonly detail: string;
}

interface StreamState {
  runId: string;
  lastSeq: number;
  /** The previous frame's vision tokens [T × D], for the window's activity figure. */
  prev: Float32Array | null;
  scene: SceneAnomalyModel;
  window: TumblingWindow;
  open: Map<SceneKind, OpenEvent>;
  /** Frames kept for the window being filled (decoders that look at pictures), by quarter. */
  frames: Map<number, { at: number; jpeg: Buffer }>;
  lastBurstAt: number;
  lastSavedAt: number;
  wasLearning: boolean;
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
}

/** What the analysis needs from outside: each stream's settings and its saved baseline, if any. */
export interface AnalysisContext {
  settings(streamId: string): Analysis | undefined;
  baseline(streamId: string): BaselineRecord | undefined;
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
 * saved again periodically. A window per summaryIntervalS is narrated by the decoder.
 */
@Injectable()
export class FrameAnalysisService {
  private readonly streams = new Map<string, StreamState>();
  private readonly grids = new Map<string, PatchGrid>();
  private readonly log: Logger;
  private context: AnalysisContext = { settings: () => undefined, baseline: () => undefined };
  private readonly scheduler: DecodeScheduler<null>;
  private sink: (summary: Summary) => void | Promise<void> = () => undefined;

  constructor(
    @Inject(ANALYZER_CONFIG) private readonly config: AnalyzerConfig,
    @Inject(DECODER) private readonly decoder: Decoder,
    @Inject(ROOT_LOGGER) root: Logger,
    private readonly encoder: VisionEncoderService,
  ) {
    this.log = root.child('analysis');
    this.scheduler = new DecodeScheduler<null>(
      decoder,
      new GroundedDecoder(),
      { concurrency: config.decoderConcurrency, maxQueue: config.decoderQueue },
      (r) => this.summarize(r),
    );
  }

  /** Where narrated windows go (the analyzer publishes them); summaries arrive off the frame path. */
  onSummary(sink: (summary: Summary) => void | Promise<void>): void {
    this.sink = sink;
  }

  /** Stopping: waiting windows are narrated by grounded now; calls in flight get `timeoutMs`. */
  async closeSummaries(timeoutMs: number): Promise<void> {
    if (!(await this.scheduler.close(timeoutMs)))
      this.log.warn(
        `the decoder did not finish its windows within ${timeoutMs} ms of stopping; those are not narrated`,
      );
  }

  private async summarize({ request, result, skipped }: ScheduledResult<null>): Promise<void> {
    const w = request.window;
    if (skipped) this.log.debug(`window narrated by grounded: ${skipped}`, { streamId: request.streamId });
    const summary = SummarySchema.parse({
      summaryId: summaryId(request.streamId, 'window', iso(w.start)),
      streamId: request.streamId,
      level: 'window',
      windowStart: iso(w.start),
      windowEnd: iso(w.end),
      text: result.summary,
      decoder: result.decoder,
      stats: {
        frames: w.samples.length,
        meanChange: w.samples.reduce((a, s) => a + s.change, 0) / Math.max(1, w.samples.length),
        maxChange: Math.max(0, ...w.samples.map((s) => s.change)),
        anomalies: w.anomalies.length,
      },
      createdAt: new Date().toISOString(),
    });
    try {
      await this.sink(summary);
    } catch (err) {
      this.log.error(`could not pass a summary on: ${(err as Error).message}`, {
        streamId: request.streamId,
      });
    }
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
    const out: { -readonly [K in keyof AnalysisOutput]: AnalysisOutput[K] } = {
      anomalies: [],
      bursts: [],
      baselines: [],
    };
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

    // a few frames per window for decoders that look at pictures: the latest of each quarter
    if (this.decoder.type !== 'grounded') {
      const len = this.config.summaryIntervalS * 1000;
      st.frames.set(Math.floor((at % len) / (len / FRAMES_PER_WINDOW)), { at, jpeg });
    }
    const closed = st.window.add({ at, change });
    if (closed) {
      const frames = [...st.frames.values()].filter((f) => f.at < closed.end).sort((x, y) => x.at - y.at);
      for (const [k, f] of st.frames) if (f.at < closed.end) st.frames.delete(k);
      this.scheduler.submit(
        {
          streamId: meta.streamId,
          ...(settings?.name ? { streamName: settings.name } : {}),
          ...(settings?.context ? { context: settings.context } : {}),
          window: closed,
          ...(frames.length ? { frames } : {}),
        },
        null,
      );
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
    if (e.phase === 'start') {
      st.open.set(e.kind, { startedAt: e.startedAt, region: e.region, detail: describe(e.kind, r) });
      st.window.noteAnomaly(e.startedAt, e.kind, e.peak);
    }
    const open = st.open.get(e.kind);
    if (e.region && open) open.region = e.region;
    if (e.phase === 'end') st.open.delete(e.kind);
    const lasted = ((e.endedAt ?? Date.parse(meta.capturedAt)) - e.startedAt) / 1000;
    const description =
      e.phase === 'start'
        ? describe(e.kind, r)
        : e.phase === 'update'
          ? `${LABEL[e.kind]} continues after ${lasted.toFixed(0)} s (peak score ${e.peak.toFixed(2)}).`
          : `${LABEL[e.kind]} ended after ${lasted.toFixed(1)} s (peak score ${e.peak.toFixed(2)}).`;
    const evidence = e.phase === 'start' ? await evidenceThumbnail(jpeg) : undefined;
    return AnomalyEventSchema.parse({
      eventId: anomalyEventId(meta.streamId, e.kind, iso(e.startedAt)),
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
        window: new TumblingWindow(this.config.summaryIntervalS * 1000),
        open: new Map(),
        frames: new Map(),
        lastBurstAt: -Infinity,
        lastSavedAt: Date.now(),
        // a restored normal is saved again only after baselineSaveS
        wasLearning: scene.learning,
      };
      this.streams.set(streamId, st);
    }
    return st;
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
