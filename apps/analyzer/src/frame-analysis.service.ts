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
import { ChangeDetector, changedRegion, meanAbsDiff } from '@vigil/anomaly';
import { type Decoder } from '@vigil/decoders';
import { type GrayThumbnail, grayThumbnail } from '@vigil/vision';
import { TumblingWindow } from '@vigil/windows';
import { ANALYZER_CONFIG, DECODER } from './analyzer.tokens.js';

interface StreamState {
  runId: string;
  prev: GrayThumbnail | null;
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
 * Thin-path analysis of one stream's frames: a luma-thumbnail change signal, a hysteresis detector that
 * turns jumps into scene_change events (start / update / end, one eventId), and a window per
 * summaryIntervalS narrated by the decoder. Later issues swap in vision tokens and learned baselines.
 */
@Injectable()
export class FrameAnalysisService {
  private readonly streams = new Map<string, StreamState>();

  constructor(
    @Inject(ANALYZER_CONFIG) private readonly config: AnalyzerConfig,
    @Inject(DECODER) private readonly decoder: Decoder,
  ) {}

  async analyze(meta: FrameMeta, jpeg: Buffer): Promise<AnalysisOutput> {
    const thumb = await grayThumbnail(jpeg);
    const at = Date.parse(meta.capturedAt);
    const st = this.state(meta.streamId);
    const out: AnalysisOutput = { anomalies: [], summaries: [] };

    // A new ffmpeg run (restart, burst switch) starts a new baseline image; a restart is not a scene change.
    const comparable =
      st.prev !== null && st.runId === meta.runId && st.prev.pixels.length === thumb.pixels.length;
    const change = comparable ? meanAbsDiff(st.prev!.pixels, thumb.pixels) : 0;
    const prev = st.prev;
    st.prev = thumb;
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
        const region = changedRegion(prev!.pixels, thumb.pixels, thumb.width, thumb.height);
        st.open = { startedAt: decision.startedAt, region };
        st.window.noteAnomaly(at, 'scene_change', change);
        out.anomalies.push(
          this.event(meta, 'start', decision.startedAt, at, change, change, region, {
            description: `Sudden scene change: ${pct(change)} of the image changed between two samples (usual ${pct(usual)}).`,
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
