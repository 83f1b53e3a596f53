import { type ClosedWindow } from '@vigil/windows';

export interface DecodeRequest {
  readonly streamId: string;
  readonly streamName?: string;
  /** The window: its samples, anomalies and the frames (JPEG and/or vision tokens) the backend asked for. */
  readonly window: ClosedWindow;
  /** Per-camera context: what is normal here ("a loading dock; forklifts move all day"). */
  readonly context?: string;
  /** Events that started before the window and were still open when it began. */
  readonly ongoing?: readonly { readonly kind: string; readonly at: number; readonly eventId?: string }[];
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
  /** Tokens the model read and wrote, where the backend counts them. */
  readonly tokens?: { readonly prompt: number; readonly completion: number };
}

/** What a backend looks at besides the measured signals, and what a frame costs it in tokens. */
export interface DecoderInputs {
  /** The window's frames as JPEG (image parts). */
  readonly jpeg: boolean;
  /** The window's frames as vision tokens (an in-process decoder projects them). */
  readonly tokens: boolean;
  /** Tokens a frame of `width`×`height` with a vision-token grid of `grid` costs this backend. */
  tokensPerFrame(width: number, height: number, grid: readonly [number, number]): number;
}

/** A backend that narrates a window. `grounded` is the default and the fallback of every other backend. */
export interface Decoder {
  readonly type: string;
  /** What to carry in windows for it; absent: measured signals only. */
  readonly inputs?: DecoderInputs;
  /** `signal` aborts a call that has run past its time (the caller falls back). */
  decode(request: DecodeRequest, signal?: AbortSignal): Promise<DecodeResult>;
  /** Loads what the backend needs; rejects with why it cannot run (the analyzer then stops at boot). */
  start?(): Promise<void>;
  /** Releases the backend (a resident model, a thread). */
  close?(): Promise<void>;
}

/** A narration made in another backend's place: the summary says so (`decoder.fallback: true`). */
export function asFallback(r: DecodeResult): DecodeResult {
  return { summary: r.summary, findings: r.findings, decoder: { type: r.decoder.type, fallback: true } };
}
