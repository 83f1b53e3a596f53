import { type ClosedWindow } from '@vigil/windows';

export interface DecodeRequest {
  readonly streamId: string;
  readonly streamName?: string;
  readonly window: ClosedWindow;
  /** A few frames of the window (JPEG), for backends that look at pictures. */
  readonly frames?: readonly { readonly at: number; readonly jpeg: Buffer }[];
  /** Per-camera context: what is normal here ("a loading dock; forklifts move all day"). */
  readonly context?: string;
}

/** Why a backend could not narrate a window; `retriable` errors are worth another try. */
export class DecoderError extends Error {
  constructor(
    message: string,
    readonly retriable: boolean,
    /** The server asked to wait this long before the next try (429 Retry-After). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'DecoderError';
  }
}

export interface Finding {
  readonly kind: string;
  readonly description: string;
  readonly severity: 'info' | 'warning' | 'critical';
  readonly confidence: number;
}

export interface DecodeResult {
  readonly summary: string;
  readonly findings: readonly Finding[];
  readonly decoder: { readonly type: string; readonly model?: string; readonly fallback: boolean };
}

/** A backend that narrates a window. `grounded` is the default and the fallback of every other backend. */
export interface Decoder {
  readonly type: string;
  /** `signal` aborts a call that has run past its time (the caller falls back). */
  decode(request: DecodeRequest, signal?: AbortSignal): Promise<DecodeResult>;
}

/** A narration made in another backend's place: the summary says so (`decoder.fallback: true`). */
export function asFallback(r: DecodeResult): DecodeResult {
  return { ...r, decoder: { type: r.decoder.type, fallback: true } };
}
