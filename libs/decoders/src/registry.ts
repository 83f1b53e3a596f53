import { type Decoder } from './decoder.js';
import { GroundedDecoder } from './grounded-decoder.js';
import { OpenAiDecoder } from './openai-decoder.js';
import { OnnxDecoder } from './onnx/onnx-decoder.js';
import { type FallbackEvent, type ResilienceOptions, ResilientDecoder } from './resilient-decoder.js';

/** A decoder backend's configuration, discriminated on its type. */
export type DecoderConfig =
  | { readonly type: 'grounded' }
  | {
      readonly type: 'openai';
      readonly url: string;
      readonly model: string;
      readonly apiKey?: string;
      readonly resilience: ResilienceOptions;
    }
  | {
      readonly type: 'onnx';
      /** models/<name>/model.json */
      readonly manifestPath: string;
      readonly provider: string;
      readonly threads: number;
      readonly maxBatch: number;
      readonly maxNewTokens: number;
      readonly resilience: ResilienceOptions;
    };

export interface DecoderHooks {
  readonly onFallback?: (e: FallbackEvent) => void;
}

/** The backends by type; every one but `grounded` runs behind the resilience wrapper with `grounded` as fallback. */
export const DECODER_BACKENDS: {
  [T in DecoderConfig['type']]: (config: Extract<DecoderConfig, { type: T }>, hooks: DecoderHooks) => Decoder;
} = {
  grounded: () => new GroundedDecoder(),
  openai: (c, hooks) =>
    new ResilientDecoder(
      new OpenAiDecoder({ baseUrl: c.url, model: c.model, ...(c.apiKey ? { apiKey: c.apiKey } : {}) }),
      new GroundedDecoder(),
      c.resilience,
      hooks.onFallback,
    ),
  onnx: (c, hooks) =>
    new ResilientDecoder(
      new OnnxDecoder({
        manifestPath: c.manifestPath,
        provider: c.provider,
        threads: c.threads,
        maxBatch: c.maxBatch,
        maxNewTokens: c.maxNewTokens,
      }),
      new GroundedDecoder(),
      c.resilience,
      hooks.onFallback,
    ),
};

export function createDecoder(config: DecoderConfig, hooks: DecoderHooks = {}): Decoder {
  const make = DECODER_BACKENDS[config.type] as (c: DecoderConfig, h: DecoderHooks) => Decoder;
  return make(config, hooks);
}
