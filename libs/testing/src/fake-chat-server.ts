import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { type AddressInfo } from 'node:net';

/** How the fake server answers: a JSON answer, streamed, a 429 first, 500s, no answer at all, or prose. */
export type ChatMode = 'ok' | 'stream' | '429-once' | '500' | 'hang' | 'garbage' | 'schema';

export interface ChatRequestSeen {
  readonly at: number;
  readonly path: string;
  readonly auth: string | undefined;
  readonly body: Record<string, unknown>;
}

/**
 * A local server speaking the OpenAI chat-completions protocol (plain JSON and server-sent-event
 * streaming), standing in for vLLM / SGLang, which cannot run here. It records every request for shape
 * checks and misbehaves on demand.
 */
export class FakeChatServer {
  mode: ChatMode = 'ok';
  /** How long each answer takes (a model's latency). */
  delayMs = 0;
  readonly requests: ChatRequestSeen[] = [];
  private rateLimited = 0;
  private readonly server: Server;
  private port = 0;

  /** The answer, or a function of the request's user text (to answer per window). */
  constructor(
    public answer: object | ((userText: string) => object) = {
      summary: 'A quiet scene; nothing unusual.',
      findings: [],
    },
  ) {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  resetRateLimit(): void {
    this.rateLimited = 0;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => void this.later(() => this.answerRequest(req, res, raw)));
  }

  private async later(f: () => void): Promise<void> {
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    f();
  }

  private answerRequest(req: IncomingMessage, res: ServerResponse, raw: string): void {
    {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        return this.json(res, { error: { message: 'request body is not JSON' } }, 400);
      }
      this.requests.push({ at: Date.now(), path: req.url ?? '', auth: req.headers.authorization, body });
      const prompt = JSON.stringify(body.messages ?? []).length;
      const completion = (content: string) => ({
        id: `chatcmpl-${this.requests.length}`,
        object: 'chat.completion',
        model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
        // a stand-in count, like a server's: about four characters a token
        usage: {
          prompt_tokens: Math.ceil(prompt / 4),
          completion_tokens: Math.ceil(content.length / 4),
          total_tokens: Math.ceil(prompt / 4) + Math.ceil(content.length / 4),
        },
      });
      const text = JSON.stringify(
        typeof this.answer === 'function'
          ? (this.answer as (t: string) => unknown)(userText(body))
          : this.answer,
      );
      switch (this.mode) {
        case 'ok':
          return this.json(res, completion(text));
        case 'schema':
          return this.json(res, completion(JSON.stringify({ summary: '', findings: 'none' })));
        case 'garbage':
          return this.json(res, completion('The scene looks fine to me!'));
        case '429-once':
          if (this.rateLimited++ === 0)
            return this.json(res, { error: 'slow down' }, 429, { 'retry-after': '1' });
          return this.json(res, completion(text));
        case '500':
          return this.json(res, { error: 'model crashed' }, 500);
        case 'hang':
          return;
        case 'stream':
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          for (let i = 0; i < text.length; i += 7)
            res.write(
              `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: text.slice(i, i + 7) } }] })}\n\n`,
            );
          // with stream_options.include_usage, a last chunk carries the counts (choices empty), as OpenAI and vLLM send
          if ((body.stream_options as { include_usage?: boolean } | undefined)?.include_usage)
            res.write(`data: ${JSON.stringify({ choices: [], usage: completion(text).usage })}\n\n`);
          res.end('data: [DONE]\n\n');
          return;
      }
    }
  }

  private json(res: ServerResponse, body: unknown, status = 200, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }
}

/** The text parts of a chat request's user message. */
function userText(body: Record<string, unknown>): string {
  const messages = Array.isArray(body.messages)
    ? (body.messages as { role?: string; content?: unknown }[])
    : [];
  const content = messages.find((m) => m.role === 'user')?.content;
  if (typeof content === 'string') return content;
  return Array.isArray(content)
    ? (content as { type?: string; text?: string }[])
        .filter((p) => p.type === 'text')
        .map((p) => p.text ?? '')
        .join('\n')
    : '';
}
