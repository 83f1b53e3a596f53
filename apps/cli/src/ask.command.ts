import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Env } from '@vigil/config';
import { GatewayCallError, UsageError } from './errors.js';

export interface AskOptions {
  readonly gateway?: string | undefined;
  readonly streams?: string | undefined;
  readonly from?: string | undefined;
  readonly to?: string | undefined;
  readonly limit?: string | undefined;
  readonly json: boolean;
}

interface Hit {
  id: string;
  type: 'summary' | 'event';
  streamId: string;
  at: string;
  text: string;
  score: number;
  level?: string;
  kind?: string;
}

interface Answer {
  answer: string;
  cited: string[];
  hits: Hit[];
  answeredBy: 'model' | 'hits';
  model?: string;
  fallback?: string;
}

/**
 * The API key `vigil ask` sends: VIGIL_API_KEY, else the key `vigil up` made for this data directory (so
 * the demo needs none). Never taken from the command line, where other users' `ps` would show it.
 */
function apiKey(env: Env): string {
  if (env.VIGIL_API_KEY) return env.VIGIL_API_KEY;
  const file = join(env.VIGIL_DATA_DIR ?? '.cache/vigil', 'gateway-keys');
  const key = existsSync(file) ? /^(?:read|write) (\S+)$/m.exec(readFileSync(file, 'utf8'))?.[1] : undefined;
  if (!key)
    throw new UsageError(
      `vigil ask needs an API key of the gateway: set VIGIL_API_KEY to a read key (no ${file} from vigil up here)`,
    );
  return key;
}

/** `vigil ask "<question>"`: POST /api/ask on the gateway; the answer, then the records it rests on. */
export async function runAsk(
  env: Env,
  question: string | undefined,
  opts: AskOptions,
  write: (line: string) => void,
): Promise<void> {
  if (!question?.trim())
    throw new UsageError('vigil ask needs a question, e.g. vigil ask "when was a truck at dock 3?"');
  const base =
    opts.gateway ?? env.VIGIL_GATEWAY_URL ?? `http://127.0.0.1:${env.VIGIL_GATEWAY_PORT ?? '8080'}`;
  let url: URL;
  try {
    url = new URL('/api/ask', base);
  } catch {
    throw new UsageError(`--gateway "${base}" is not a URL; give e.g. http://vigil-gateway:8080`);
  }
  const limit = opts.limit === undefined ? undefined : Number(opts.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= 20))
    throw new UsageError('--limit must be a whole number of records from 1 to 20');
  const body = {
    question,
    ...(opts.streams ? { streams: opts.streams.split(',').filter(Boolean) } : {}),
    ...(opts.from ? { from: opts.from } : {}),
    ...(opts.to ? { to: opts.to } : {}),
    ...(limit ? { limit } : {}),
  };
  const key = apiKey(env);
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(120_000),
    });
  } catch (e) {
    const c = (e as { cause?: { code?: string; message?: string } }).cause;
    const cause = c?.code ?? c?.message ?? (e as Error).message;
    throw new GatewayCallError(
      `cannot reach the gateway at ${url.origin} (${cause}); is it running? set --gateway or VIGIL_GATEWAY_URL`,
    );
  }
  const text = await res.text();
  if (!res.ok) {
    let message = text.slice(0, 300);
    try {
      const m = (JSON.parse(text) as { message?: unknown }).message;
      if (typeof m === 'string') message = m;
    } catch {
      // not JSON: the text as it came
    }
    if (res.status === 400) throw new UsageError(`the gateway refused the question: ${message}`);
    if (res.status === 401 || res.status === 403)
      throw new UsageError(`the gateway refused the key (${message}); set VIGIL_API_KEY to a read key`);
    throw new GatewayCallError(`the gateway answered HTTP ${res.status}: ${message}`);
  }
  if (opts.json) {
    write(text);
    return;
  }
  const a = JSON.parse(text) as Answer;
  if (a.answeredBy === 'model') {
    write(a.answer);
    write('');
    write(`(answered by ${a.model ?? 'the model'} from these records)`);
  } else if (a.fallback) write(`(the answer model failed: ${a.fallback}; the closest records instead)`);
  const cited = new Set(a.cited);
  for (const h of a.hits.filter((x) => cited.has(x.id))) {
    const what = h.type === 'summary' ? `${h.level} summary` : `${h.kind} event`;
    write(`${h.at.slice(0, 16).replace('T', ' ')}  ${h.streamId}  ${what}  ${h.score.toFixed(2)}  ${h.text}`);
  }
  if (!a.hits.length) write(`Nothing stored matches "${question}".`);
}
