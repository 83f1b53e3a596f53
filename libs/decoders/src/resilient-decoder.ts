import { setTimeout as sleep } from 'node:timers/promises';
import { type BreakerOptions, CircuitBreaker } from './circuit-breaker.js';
import {
  type DecodeRequest,
  type DecodeResult,
  type Decoder,
  type DecoderInputs,
  DecoderError,
  asFallback,
} from './decoder.js';

export interface ResilienceOptions {
  /** One call's time limit. */
  readonly timeoutMs: number;
  /** Further tries after a retriable failure (429, 5xx, network), with exponential backoff. */
  readonly retries: number;
  readonly backoffMs: number;
  readonly breaker: BreakerOptions;
}

export interface FallbackEvent {
  readonly streamId: string;
  readonly reason: string;
}

/**
 * A backend behind a time limit, retries with backoff and a circuit breaker, with `grounded` (or any
 * decoder that cannot fail) as the fallback: every window gets exactly one narration, and when the
 * backend failed or its breaker is open the result says so (`decoder.fallback: true`). Never throws for backend trouble.
 */
export class ResilientDecoder implements Decoder {
  readonly breaker: CircuitBreaker;
  fallbacks = 0;

  constructor(
    private readonly primary: Decoder,
    private readonly fallback: Decoder,
    private readonly opts: ResilienceOptions,
    private readonly onFallback: (e: FallbackEvent) => void = () => undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.breaker = new CircuitBreaker(opts.breaker);
  }

  get type(): string {
    return this.primary.type;
  }

  get inputs(): DecoderInputs | undefined {
    return this.primary.inputs;
  }

  async start(): Promise<void> {
    await this.primary.start?.();
  }

  async close(): Promise<void> {
    await this.primary.close?.();
  }

  async decode(request: DecodeRequest): Promise<DecodeResult> {
    let reason = `${this.primary.type} circuit open after repeated failures`;
    if (this.breaker.allow(this.now())) {
      for (let attempt = 0; ; attempt++) {
        try {
          const result = await this.withTimeout(request);
          this.breaker.success();
          return result;
        } catch (err) {
          const e = err instanceof DecoderError ? err : new DecoderError((err as Error).message, true);
          reason = e.message;
          const again = e.retriable && attempt < this.opts.retries;
          if (!again) {
            this.breaker.failure(this.now());
            break;
          }
          await sleep(Math.max(e.retryAfterMs ?? 0, this.opts.backoffMs * 2 ** attempt));
          // the breaker may have opened meanwhile (other streams' failures): stop trying
          if (this.breaker.state(this.now()) === 'open') break;
        }
      }
    }
    this.fallbacks++;
    this.onFallback({ streamId: request.streamId, reason });
    const r = await this.fallback.decode(request);
    return asFallback(r);
  }

  private async withTimeout(request: DecodeRequest): Promise<DecodeResult> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), this.opts.timeoutMs);
    try {
      return await Promise.race([
        this.primary.decode(request, ac.signal),
        new Promise<never>((_, reject) =>
          ac.signal.addEventListener('abort', () =>
            reject(
              new DecoderError(`${this.primary.type} did not answer within ${this.opts.timeoutMs} ms`, true),
            ),
          ),
        ),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}
