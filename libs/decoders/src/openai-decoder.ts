import { z } from 'zod';
import {
  type DecodeRequest,
  type DecodeResult,
  type Decoder,
  type DecoderInputs,
  DecoderError,
} from './decoder.js';
import { DECODER_ANSWER_SCHEMA, SYSTEM_PROMPT, windowText } from './prompt.js';

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

/**
 * A vision-language model served behind an OpenAI-compatible chat-completions API (vLLM, SGLang, …), for
 * example Qwen3-VL-30B-A3B or Qwen3.5-397B-A17B. The window's frames go as image parts, the measured
 * signals and the camera's context as text, and `response_format` carries the JSON schema of the answer.
 * 429 and 5xx answers and network errors are retriable DecoderErrors (429 with its Retry-After); other
 * 4xx, and answers that are not the requested JSON, are not.
 */
export class OpenAiDecoder implements Decoder {
  readonly type = 'openai';
  /** Frames as image parts; a Qwen-VL-class model spends about one token per 32×32 pixels of a frame. */
  readonly inputs: DecoderInputs = {
    jpeg: true,
    tokens: false,
    tokensPerFrame: (w, h) => Math.ceil(w / 32) * Math.ceil(h / 32),
  };
  private readonly url: string;

  constructor(private readonly opts: OpenAiDecoderOptions) {
    this.url = chatCompletionsUrl(opts.baseUrl);
  }

  /** The request body for a window (exported for tests and for logging its shape). */
  body(request: DecodeRequest): Record<string, unknown> {
    const { window } = request;
    const frames = window.frames
      .filter((f): f is typeof f & { jpeg: Buffer } => f.jpeg !== undefined)
      .slice(-(this.opts.maxImages ?? 4));
    const text = windowText(request, frames.length);
    return {
      model: this.opts.model,
      messages: [
        { role: 'system', content: SYSTEM_PROMPT },
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
      ...(this.opts.stream ? { stream_options: { include_usage: true } } : {}),
    };
  }

  async decode(request: DecodeRequest, signal?: AbortSignal): Promise<DecodeResult> {
    const { content, usage } = await chatCompletion(
      this.url,
      this.body(request),
      { apiKey: this.opts.apiKey, stream: this.opts.stream ?? false },
      signal,
    );
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
      ...(usage ? { tokens: usage } : {}),
    };
  }
}

type Usage = { prompt: number; completion: number } | undefined;

/** `<base>/v1/chat/completions` of an OpenAI-compatible server's base URL; a RangeError names what is wrong. */
export function chatCompletionsUrl(baseUrl: string, what = 'decoder'): string {
  let base: URL;
  try {
    base = new URL(baseUrl);
  } catch {
    throw new RangeError(`${what} URL "${baseUrl}" is not a URL; give e.g. http://vllm:8000`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:')
    throw new RangeError(`${what} URL must be http or https, not ${base.protocol}`);
  return new URL('v1/chat/completions', base.href.endsWith('/') ? base.href : `${base.href}/`).href;
}

/**
 * One chat completion: POSTs `body` and returns the answer's text (assembled from server-sent events when
 * `stream`). 429 and 5xx answers and network errors are retriable DecoderErrors (429 with its Retry-After);
 * other 4xx and answers without content are not.
 */
export async function chatCompletion(
  url: string,
  body: Record<string, unknown>,
  opts: { apiKey?: string | undefined; stream?: boolean; what?: string },
  signal?: AbortSignal,
): Promise<{ content: string; usage: Usage }> {
  const what = opts.what ?? 'decoder';
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}),
      },
      body: JSON.stringify(body),
      ...(signal ? { signal } : {}),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new DecoderError(
      `cannot reach the ${what} at ${url} (${cause?.code ?? cause?.message ?? (err as Error).message})`,
      true,
    );
  }
  if (!res.ok) {
    const detail = (await res.text().catch(() => '')).slice(0, 200).replace(/\s+/g, ' ');
    const retryAfter = Number(res.headers.get('retry-after'));
    const retriable = res.status === 429 || res.status >= 500;
    throw new DecoderError(
      `${what} answered HTTP ${res.status}${detail ? `: ${detail}` : ''}`,
      retriable,
      res.status === 429 && Number.isFinite(retryAfter) ? retryAfter * 1000 : undefined,
    );
  }
  return opts.stream ? streamedContent(res) : messageContent(res);
}

/** The `usage` object of an answer (or of a stream's last chunk), when the server sent one. */
function usageOf(body: { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } | null }): Usage {
  const u = body.usage;
  return u && typeof u.prompt_tokens === 'number' && typeof u.completion_tokens === 'number'
    ? { prompt: u.prompt_tokens, completion: u.completion_tokens }
    : undefined;
}

async function messageContent(res: Response): Promise<{ content: string; usage: Usage }> {
  const body = (await res.json().catch(() => null)) as {
    choices?: { message?: { content?: unknown } }[];
    usage?: { prompt_tokens?: unknown; completion_tokens?: unknown };
  } | null;
  const content = body?.choices?.[0]?.message?.content;
  if (typeof content !== 'string')
    throw new DecoderError('decoder answer has no choices[0].message.content', false);
  return { content, usage: usageOf(body!) };
}

/** Assembles a streamed chat completion: `data: {choices:[{delta:{content}}]}` lines up to `data: [DONE]`. */
async function streamedContent(res: Response): Promise<{ content: string; usage: Usage }> {
  if (!res.body) throw new DecoderError('decoder sent an empty stream', false);
  const decoder = new TextDecoder();
  let buffered = '';
  let content = '';
  let usage: Usage;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (!line.startsWith('data:')) continue;
      const data = line.slice(5).trim();
      if (data === '[DONE]') return { content, usage };
      try {
        const event = JSON.parse(data) as {
          choices?: { delta?: { content?: string } }[];
          usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } | null;
        };
        content += event.choices?.[0]?.delta?.content ?? '';
        usage = usageOf(event) ?? usage;
      } catch {
        throw new DecoderError(`decoder stream sent a line that is not JSON: ${data.slice(0, 80)}`, false);
      }
    }
  }
  throw new DecoderError('decoder stream ended without [DONE]', true);
}
