import { z } from 'zod';
import { type DecodeRequest, type DecodeResult, type Decoder, DecoderError } from './decoder.js';

export interface OpenAiDecoderOptions {
  /** The server's base URL, e.g. http://vllm:8000 (the path /v1/chat/completions is appended). */
  readonly baseUrl: string;
  /** The served model name, e.g. Qwen/Qwen3-VL-30B-A3B-Instruct. */
  readonly model: string;
  readonly apiKey?: string;
  /** Frames of a window sent as image parts (the most a server accepts per request varies). */
  readonly maxImages?: number;
  readonly maxTokens?: number;
  readonly temperature?: number;
  /** Ask for a streamed answer (server-sent events) and assemble it. */
  readonly stream?: boolean;
}

/** What the model must answer: the JSON schema sent as response_format, and its checker. */
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

const SYSTEM = [
  'You watch one industrial or security camera and narrate a short time window for operators.',
  'Say only what the frames and the measured signals show; if unsure, say so. One to three sentences.',
  'List findings only for things that look wrong for this place (safety, tampering, stopped equipment,',
  'something that does not belong). Answer with JSON that matches the given schema.',
].join(' ');

const hms = (ms: number) => new Date(ms).toISOString().slice(11, 19);

/**
 * A vision-language model served behind an OpenAI-compatible chat-completions API (vLLM, SGLang, …), for
 * example Qwen3-VL-30B-A3B or Qwen3.5-397B-A17B. The window's frames go as image parts, the measured
 * signals and the camera's context as text, and `response_format` carries the JSON schema of the answer.
 * 429 and 5xx answers and network errors are retriable DecoderErrors (429 with its Retry-After); other
 * 4xx, and answers that are not the requested JSON, are not.
 */
export class OpenAiDecoder implements Decoder {
  readonly type = 'openai';
  private readonly url: string;

  constructor(private readonly opts: OpenAiDecoderOptions) {
    let base: URL;
    try {
      base = new URL(opts.baseUrl);
    } catch {
      throw new RangeError(`decoder URL "${opts.baseUrl}" is not a URL; give e.g. http://vllm:8000`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:')
      throw new RangeError(`decoder URL must be http or https, not ${base.protocol}`);
    this.url = new URL('v1/chat/completions', base.href.endsWith('/') ? base.href : `${base.href}/`).href;
  }

  /** The request body for a window (exported for tests and for logging its shape). */
  body(request: DecodeRequest): Record<string, unknown> {
    const { window } = request;
    const frames = (request.frames ?? []).slice(-(this.opts.maxImages ?? 4));
    const anomalies = window.anomalies.map((a) => `${a.kind} at ${hms(a.at)} (score ${a.score.toFixed(2)})`);
    const mean = window.samples.reduce((s, x) => s + x.change, 0) / Math.max(1, window.samples.length);
    const text = [
      `Camera ${request.streamName ? `${request.streamName} (${request.streamId})` : request.streamId}.`,
      request.context ? `What is normal here: ${request.context}` : '',
      `Window ${hms(window.start)}–${hms(window.end)} UTC, ${window.samples.length} samples, mean share of the picture changing between samples ${(mean * 100).toFixed(1)} %.`,
      anomalies.length ? `Detectors fired: ${anomalies.join('; ')}.` : 'No detector fired.',
      frames.length
        ? `${frames.length} frames follow, oldest first, at ${frames.map((f) => hms(f.at)).join(', ')}.`
        : '',
    ]
      .filter(Boolean)
      .join('\n');
    return {
      model: this.opts.model,
      messages: [
        { role: 'system', content: SYSTEM },
        {
          role: 'user',
          content: [
            { type: 'text', text },
            ...frames.map((f) => ({
              type: 'image_url',
              image_url: { url: `data:image/jpeg;base64,${f.jpeg.toString('base64')}` },
            })),
          ],
        },
      ],
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'window_narration',
          strict: true,
          schema: z.toJSONSchema(DECODER_ANSWER_SCHEMA),
        },
      },
      max_tokens: this.opts.maxTokens ?? 400,
      temperature: this.opts.temperature ?? 0.2,
      stream: this.opts.stream ?? false,
    };
  }

  async decode(request: DecodeRequest, signal?: AbortSignal): Promise<DecodeResult> {
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(this.opts.apiKey ? { authorization: `Bearer ${this.opts.apiKey}` } : {}),
        },
        body: JSON.stringify(this.body(request)),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new DecoderError(
        `cannot reach the decoder at ${this.url} (${cause?.code ?? cause?.message ?? (err as Error).message})`,
        true,
      );
    }
    if (!res.ok) {
      const detail = (await res.text().catch(() => '')).slice(0, 200).replace(/\s+/g, ' ');
      const retryAfter = Number(res.headers.get('retry-after'));
      const retriable = res.status === 429 || res.status >= 500;
      throw new DecoderError(
        `decoder answered HTTP ${res.status}${detail ? `: ${detail}` : ''}`,
        retriable,
        res.status === 429 && Number.isFinite(retryAfter) ? retryAfter * 1000 : undefined,
      );
    }
    const content = this.opts.stream ? await streamedContent(res) : await messageContent(res);
    let json: unknown;
    try {
      json = JSON.parse(content);
    } catch {
      throw new DecoderError(`decoder answer is not JSON: ${content.slice(0, 80)}`, false);
    }
    const answer = DECODER_ANSWER_SCHEMA.safeParse(json);
    if (!answer.success)
      throw new DecoderError(
        `decoder answer does not match its schema: ${answer.error.issues[0]?.message}`,
        false,
      );
    return {
      summary: answer.data.summary,
      findings: answer.data.findings,
      decoder: { type: this.type, model: this.opts.model, fallback: false },
    };
  }
}

async function messageContent(res: Response): Promise<string> {
  const body = (await res.json().catch(() => null)) as {
    choices?: { message?: { content?: unknown } }[];
  } | null;
  const content = body?.choices?.[0]?.message?.content;
  if (typeof content !== 'string')
    throw new DecoderError('decoder answer has no choices[0].message.content', false);
  return content;
}

/** Assembles a streamed chat completion: `data: {choices:[{delta:{content}}]}` lines up to `data: [DONE]`. */
async function streamedContent(res: Response): Promise<string> {
  if (!res.body) throw new DecoderError('decoder sent an empty stream', false);
  const decoder = new TextDecoder();
  let buffered = '';
  let content = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (!line.startsWith('data:')) continue;
      const data = line.slice(5).trim();
      if (data === '[DONE]') return content;
      try {
        const event = JSON.parse(data) as { choices?: { delta?: { content?: string } }[] };
        content += event.choices?.[0]?.delta?.content ?? '';
      } catch {
        throw new DecoderError(`decoder stream sent a line that is not JSON: ${data.slice(0, 80)}`, false);
      }
    }
  }
  throw new DecoderError('decoder stream ended without [DONE]', true);
}
