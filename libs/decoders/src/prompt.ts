import { z } from 'zod';
import { type DecodeRequest } from './decoder.js';
import { objectList, objectStory } from './object-story.js';

/** What a model must answer: the JSON schema (sent as response_format where the server takes one), and its checker. */
export const DECODER_ANSWER_SCHEMA = z
  .object({
    summary: z.string().min(1).max(4000),
    findings: z
      .array(
        z
          .object({
            kind: z.string().min(1).max(100),
            description: z.string().min(1).max(1000),
            severity: z.enum(['info', 'warning', 'critical']),
            confidence: z.number().min(0).max(1),
          })
          .strict(),
      )
      .max(20),
  })
  .strict();

export const SYSTEM_PROMPT = [
  'You watch one industrial or security camera and narrate a short time window for operators.',
  'Say only what the frames and the measured signals show; if unsure, say so. One to three sentences.',
  'List findings only for things that look wrong for this place (safety, tampering, stopped equipment,',
  'something that does not belong). Answer with JSON:',
  '{"summary": string, "findings": [{"kind", "description", "severity": "info"|"warning"|"critical", "confidence": 0..1}]}.',
].join(' ');

const hms = (ms: number) => new Date(ms).toISOString().slice(11, 19);

/** The window's measured signals as the prompt states them (every model backend sends the same facts). */
export function windowText(request: DecodeRequest, frames: number, withCamera = true): string {
  const { window } = request;
  const sent = frames > 0 ? window.frames.slice(-frames) : [];
  const frameTimes = sent.map((f) => hms(f.at));
  const story = objectStory(window.samples, window.start);
  const anomalies = window.anomalies.map((a) => `${a.kind} at ${hms(a.at)} (score ${a.score.toFixed(2)})`);
  const mean = window.samples.reduce((s, x) => s + x.change, 0) / Math.max(1, window.samples.length);
  return [
    withCamera
      ? `Camera ${request.streamName ? `${request.streamName} (${request.streamId})` : request.streamId}.`
      : '',
    withCamera && request.context ? `What is normal here: ${request.context}` : '',
    `Window ${hms(window.start)}–${hms(window.end)} UTC, ${window.samples.length} samples, mean share of the picture changing between samples ${(mean * 100).toFixed(1)} %.`,
    anomalies.length ? `Detectors fired: ${anomalies.join('; ')}.` : 'No detector fired.',
    window.trigger === 'anomaly'
      ? 'This window is narrated now because an anomaly just started.'
      : window.trigger === 'request'
        ? 'An operator asked for this window now.'
        : '',
    story ? `Tracked objects in the window: ${story}` : '',
    frames > 0 ? `${frames} frames follow, oldest first, at ${frameTimes.join(', ')}.` : '',
    ...(story
      ? sent.map((f) => {
          const objects = window.samples.find((x) => x.at === f.at)?.objects;
          return objects
            ? `Objects at ${hms(f.at)} (track id, class, box [x, y, width, height] as fractions of the picture): ${objectList(objects)}.`
            : '';
        })
      : []),
  ]
    .filter(Boolean)
    .join('\n');
}
