import { type ClosedWindow } from '@vigil/windows';

export interface DecodeRequest {
  readonly streamId: string;
  readonly streamName?: string;
  readonly window: ClosedWindow;
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
  decode(request: DecodeRequest): Promise<DecodeResult>;
}
