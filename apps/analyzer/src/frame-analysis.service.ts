import { Inject, Injectable } from '@nestjs/common';
import sharp from 'sharp';
import {
  type AnomalyEvent,
  AnomalyEventSchema,
  type FrameMeta,
  type Summary,
  SummarySchema,
  anomalyEventId,
  summaryId,
} from '@vigil/contracts';
import { type AnalyzerConfig } from '@vigil/config';
import { ChangeDetector, letterboxContent, patchChange } from '@vigil/anomaly';
import { type Decoder } from '@vigil/decoders';
import { grayThumbnail } from '@vigil/vision';
import { TumblingWindow } from '@vigil/windows';
import { ANALYZER_CONFIG, DECODER } from './analyzer.tokens.js';
import { VisionEncoderService } from './vision-encoder.service.js';

interface StreamState {
  runId: string;
  /** The previous frame's vision tokens [T × D]. */
  prev: Float32Array | null;
  detector: ChangeDetector;
  window: TumblingWindow;
  /** The open event's last region and start, for update/end messages. */
  open: { startedAt: number; region: AnomalyEvent['region'] } | null;
}

export interface AnalysisOutput {
  readonly anomalies: AnomalyEvent[];
  readonly summaries: Summary[];
}

const iso = (ms: number) => new Date(ms).toISOString();
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/**
 * Analysis of one stream's frames on vision tokens: the change signal is the fraction of the picture's
 * patches whose token features changed since the previous frame; a hysteresis detector turns jumps into
 * scene_change events (start / update / end, one eventId) located by the changed patches; a window per
 * summaryIntervalS is narrated by the decoder. Learned baselines and tampering detectors come next.
 */
@Injectable()
export class FrameAnalysisService {
  private readonly streams = new Map<string, StreamState>();

  constructor(
    @Inject(ANALYZER_CONFIG) private readonly config: AnalyzerConfig,
    @Inject(DECODER) private readonly decoder: Decoder,
    private readonly encoder: VisionEncoderService,
  ) {}

  async analyze(meta: FrameMeta, jpeg: Buffer): Promise<AnalysisOutput> {
    // decoding a small thumbnail first rejects corrupt JPEGs before they reach the encoder, and feeds the gate
    const thumb = await grayThumbnail(jpeg, 32, 18);
    const at = Date.parse(meta.capturedAt);
    const st = this.state(meta.streamId);
    const out: AnalysisOutput = { anomalies: [], summaries: [] };
    const { tokens } = await this.encoder.tokens(meta.streamId, jpeg, thumb, at);

    // A new ffmpeg run (restart, burst switch) starts afresh; a restart is not a scene change.
    const comparable = st.prev !== null && st.runId === meta.runId && st.prev.length === tokens.length;
    const m = this.encoder.manifest;
    const pc = comparable
      ? patchChange(
          st.prev!,
          tokens,
          m.output.tokenGrid,
          m.output.tokenDims,
          this.config.patchThreshold,
          letterboxContent(meta.width, meta.height, m.input.width, m.input.height),
          m.input.width,
          m.input.height,
        )
      : { fraction: 0 };
    const change = pc.fraction;
    st.prev = tokens;
    st.runId = meta.runId;

    const closed = st.window.add({ at, change });
    if (closed) {
      const result = await this.decoder.decode({ streamId: meta.streamId, window: closed });
      out.summaries.push(
        SummarySchema.parse({
          summaryId: summaryId(meta.streamId, 'window', iso(closed.start)),
          streamId: meta.streamId,
          level: 'window',
          windowStart: iso(closed.start),
          windowEnd: iso(closed.end),
          text: result.summary,
          decoder: result.decoder,
          stats: {
            frames: closed.samples.length,
            meanChange: closed.samples.reduce((a, s) => a + s.change, 0) / Math.max(1, closed.samples.length),
            maxChange: Math.max(0, ...closed.samples.map((s) => s.change)),
            anomalies: closed.anomalies.length,
          },
          createdAt: new Date().toISOString(),
        }),
      );
    }

    if (!comparable) return out;
    const decision = st.detector.observe(change, at);
    const usual = st.detector.usualChange;
    switch (decision.kind) {
      case 'none':
        break;
      case 'start': {
        const region = pc.region;
        st.open = { startedAt: decision.startedAt, region };
        st.window.noteAnomaly(at, 'scene_change', change);
        out.anomalies.push(
          this.event(meta, 'start', decision.startedAt, at, change, change, region, {
            description: `Sudden scene change: ${pct(change)} of the picture changed between two samples (usual ${pct(usual)}).`,
            evidence: await evidenceThumbnail(jpeg),
          }),
        );
        break;
      }
      case 'update':
        out.anomalies.push(
          this.event(meta, 'update', decision.startedAt, at, change, decision.peak, st.open?.region, {
            description: `Scene still changing: ${pct(change)} between samples, the largest so far.`,
          }),
        );
        break;
      case 'end':
        out.anomalies.push(
          this.event(meta, 'end', decision.startedAt, at, change, decision.peak, st.open?.region, {
            description: `Scene settled after ${((decision.endedAt - decision.startedAt) / 1000).toFixed(1)} s (peak change ${pct(decision.peak)}).`,
            endedAt: iso(decision.endedAt),
            endReason: 'scene settled',
          }),
        );
        st.open = null;
        break;
    }
    return out;
  }

  private event(
    meta: FrameMeta,
    phase: AnomalyEvent['phase'],
    startedAt: number,
    observedAt: number,
    score: number,
    peak: number,
    region: AnomalyEvent['region'],
    extra: Pick<AnomalyEvent, 'description'> &
      Partial<Pick<AnomalyEvent, 'endedAt' | 'endReason' | 'evidence'>>,
  ): AnomalyEvent {
    return AnomalyEventSchema.parse({
      eventId: anomalyEventId(meta.streamId, 'scene_change', iso(startedAt)),
      streamId: meta.streamId,
      phase,
      kind: 'scene_change',
      severity: peak >= 0.15 ? 'critical' : 'warning',
      score,
      peakScore: peak,
      startedAt: iso(startedAt),
      observedAt: iso(observedAt),
      ...(region ? { region } : {}),
      ...extra,
    });
  }

  private state(streamId: string): StreamState {
    let st = this.streams.get(streamId);
    if (!st) {
      st = {
        runId: '',
        prev: null,
        detector: new ChangeDetector({
          enter: this.config.changeEnter,
          exit: this.config.changeExit,
          calmSamples: this.config.calmSamples,
          warmupSamples: this.config.warmupSamples,
        }),
        window: new TumblingWindow(this.config.summaryIntervalS * 1000),
        open: null,
      };
      this.streams.set(streamId, st);
    }
    return st;
  }
}

/** A small JPEG of the frame (160 px wide, ~5 KB) carried in the start event as evidence. */
async function evidenceThumbnail(jpeg: Buffer): Promise<AnomalyEvent['evidence']> {
  const small = await sharp(jpeg).resize({ width: 160 }).jpeg({ quality: 70 }).toBuffer();
  return { mime: 'image/jpeg', base64: small.toString('base64') };
}
