import { type RollupChild } from '@vigil/windows';
import { type DecodeRequest, type DecodeResult, type Decoder } from './decoder.js';
import { objectStory } from './object-story.js';

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
 * Narration built only from measured signals: how many samples arrived, how much the scene changed, what
 * the tracker followed (who moved which way, what stayed where) and which anomalies fired when. It never claims what it did not measure. Pure apart from being async to fit
 * the Decoder interface.
 */
export class GroundedDecoder implements Decoder {
  readonly type = 'grounded';

  decode({ streamId, streamName, window, ongoing = [] }: DecodeRequest): Promise<DecodeResult> {
    const n = window.samples.length;
    const changes = window.samples.map((s) => s.change);
    const mean = n > 0 ? changes.reduce((a, b) => a + b, 0) / n : 0;
    const peak = n > 0 ? Math.max(...changes) : 0;
    const seconds = (window.end - window.start) / 1000;
    const who = streamName ? `${streamName} (${streamId})` : streamId;
    const why =
      window.trigger === 'anomaly'
        ? ' (narrated as an anomaly started)'
        : window.trigger === 'request'
          ? ' (narrated on request)'
          : '';
    const parts = [
      `${who}, ${hms(window.start)}–${hms(window.end)} UTC${why}: ${n} frame${n === 1 ? '' : 's'} sampled (${(n / seconds).toFixed(1)} fps).`,
      `Scene activity ${activityLevel(mean)} (on average ${pct(mean)} of the picture changing between samples, peak ${pct(peak)}).`,
    ];
    const story = objectStory(window.samples, window.start);
    if (story) parts.push(story);
    const anomalies = window.anomalies;
    const still = stillOpen(ongoing);
    if (anomalies.length === 0) {
      parts.push(still ? `No new anomalies; ${still}` : 'No anomalies.');
    } else {
      const list = anomalies.map(
        (a) => `${a.kind.replaceAll('_', ' ')} at ${hms(a.at)} (score ${a.score.toFixed(2)})`,
      );
      parts.push(`${anomalies.length} anomal${anomalies.length === 1 ? 'y' : 'ies'}: ${list.join('; ')}.`);
      if (still) parts.push(`${still.charAt(0).toUpperCase()}${still.slice(1)}`);
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

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** "still open: zone entered (since 10:00:02), lens covered (since 09:58:40)." for events open from before. */
function stillOpen(ongoing: readonly { kind: string; at: number }[]): string {
  if (ongoing.length === 0) return '';
  const list = ongoing.map((a) => `${a.kind.replaceAll('_', ' ')} (since ${hms(a.at)})`);
  return `still open: ${list.join(', ')}.`;
}

/**
 * A minute or hour rolled up from the summaries below it, from what they measured and reported: frames,
 * activity, each kind of anomaly with its count and first time, what the model found, and how many windows
 * the fallback narrated. Deterministic and time-anchored, like every grounded narration.
 */
export function narrateRollup(
  level: string,
  who: string,
  r: Pick<
    RollupChild,
    | 'start'
    | 'end'
    | 'frames'
    | 'sumChange'
    | 'maxChange'
    | 'anomalies'
    | 'findings'
    | 'windows'
    | 'fallbacks'
    | 'ongoing'
  >,
): string {
  const mean = r.frames > 0 ? r.sumChange / r.frames : 0;
  const parts = [
    `${who}, ${level} ${hms(r.start)}–${hms(r.end)} UTC: ${plural(r.frames, 'frame')} in ${plural(r.windows, 'narrated window')}.`,
    r.frames > 0
      ? `Scene activity ${activityLevel(mean)} (on average ${pct(mean)} of the picture changing between samples, peak ${pct(r.maxChange)}).`
      : 'No frames arrived.',
  ];
  const still = stillOpen(r.ongoing ?? []);
  if (r.anomalies.length === 0) parts.push(still ? `No new anomalies; ${still}` : 'No anomalies.');
  else {
    const kinds = new Map<string, { n: number; first: number }>();
    for (const a of r.anomalies) {
      const k = kinds.get(a.kind) ?? { n: 0, first: a.at };
      k.n++;
      k.first = Math.min(k.first, a.at);
      kinds.set(a.kind, k);
    }
    const list = [...kinds].map(([kind, k]) =>
      k.n === 1
        ? `${kind.replaceAll('_', ' ')} at ${hms(k.first)}`
        : `${kind.replaceAll('_', ' ')} ×${k.n} (first at ${hms(k.first)})`,
    );
    parts.push(`${plural(r.anomalies.length, 'anomaly', 'anomalies')}: ${list.join('; ')}.`);
    if (still) parts.push(`${still.charAt(0).toUpperCase()}${still.slice(1)}`);
  }
  if (r.findings.length > 0) {
    const kinds = new Map<string, number>();
    for (const f of r.findings) {
      const key = `${f.kind} (${f.severity})`;
      kinds.set(key, (kinds.get(key) ?? 0) + 1);
    }
    parts.push(`The model reported ${[...kinds].map(([k, n]) => (n === 1 ? k : `${k} ×${n}`)).join(', ')}.`);
  }
  if (r.fallbacks > 0)
    parts.push(`${r.fallbacks} of ${r.windows} windows were narrated by grounded in place of the model.`);
  return parts.join(' ');
}
