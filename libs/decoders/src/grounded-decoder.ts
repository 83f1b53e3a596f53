import { type DecodeRequest, type DecodeResult, type Decoder } from './decoder.js';

function hms(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

/** Words for the mean fraction of the picture changing between samples in a window. */
export function activityLevel(meanChange: number): 'still' | 'low' | 'moderate' | 'high' {
  if (meanChange < 0.005) return 'still';
  if (meanChange < 0.02) return 'low';
  if (meanChange < 0.06) return 'moderate';
  return 'high';
}

/**
 * Narration built only from measured signals: how many samples arrived, how much the scene changed, and
 * which anomalies fired when. It never claims what it did not measure. Pure apart from being async to fit
 * the Decoder interface.
 */
export class GroundedDecoder implements Decoder {
  readonly type = 'grounded';

  decode({ streamId, streamName, window }: DecodeRequest): Promise<DecodeResult> {
    const n = window.samples.length;
    const changes = window.samples.map((s) => s.change);
    const mean = n > 0 ? changes.reduce((a, b) => a + b, 0) / n : 0;
    const peak = n > 0 ? Math.max(...changes) : 0;
    const seconds = (window.end - window.start) / 1000;
    const who = streamName ? `${streamName} (${streamId})` : streamId;
    const parts = [
      `${who}, ${hms(window.start)}–${hms(window.end)} UTC: ${n} frame${n === 1 ? '' : 's'} sampled (${(n / seconds).toFixed(1)} fps).`,
      `Scene activity ${activityLevel(mean)} (on average ${pct(mean)} of the picture changing between samples, peak ${pct(peak)}).`,
    ];
    const anomalies = window.anomalies;
    if (anomalies.length === 0) {
      parts.push('No anomalies.');
    } else {
      const list = anomalies.map(
        (a) => `${a.kind.replaceAll('_', ' ')} at ${hms(a.at)} (score ${a.score.toFixed(2)})`,
      );
      parts.push(`${anomalies.length} anomal${anomalies.length === 1 ? 'y' : 'ies'}: ${list.join('; ')}.`);
    }
    return Promise.resolve({
      summary: parts.join(' '),
      findings: anomalies.map((a) => ({
        kind: a.kind,
        description: `${a.kind.replaceAll('_', ' ')} at ${hms(a.at)}`,
        severity: 'warning' as const,
        confidence: Math.min(1, a.score * 5),
      })),
      decoder: { type: this.type, fallback: false },
    });
  }
}
