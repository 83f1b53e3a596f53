/**
 * CloudEvents 1.0 Kafka protocol binding, binary mode: attributes travel as `ce_*` headers and the data is
 * the message value. https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/kafka-protocol-binding.md
 */
export const CE_TYPES = {
  frame: 'dev.vigil.frame.v1',
  streamStatus: 'dev.vigil.stream-status.v1',
  anomaly: 'dev.vigil.anomaly.v1',
  summary: 'dev.vigil.summary.v1',
  streamSpec: 'dev.vigil.stream-spec.v1',
  control: 'dev.vigil.control.v1',
  baseline: 'dev.vigil.baseline.v1',
  score: 'dev.vigil.score.v1',
  eventState: 'dev.vigil.event-state.v1',
} as const;

export interface CloudEventAttributes {
  readonly id: string;
  readonly source: string;
  readonly type: string;
  readonly time: string;
  readonly subject?: string;
  readonly contentType: string;
}

export type KafkaHeaders = Record<string, string>;

export function toCloudEventHeaders(ce: CloudEventAttributes, extra: KafkaHeaders = {}): KafkaHeaders {
  const headers: KafkaHeaders = {
    ce_specversion: '1.0',
    ce_id: ce.id,
    ce_source: ce.source,
    ce_type: ce.type,
    ce_time: ce.time,
    'content-type': ce.contentType,
    ...extra,
  };
  if (ce.subject !== undefined) headers.ce_subject = ce.subject;
  return headers;
}

export type RawHeaders = Record<string, Buffer | string | (Buffer | string)[] | undefined> | undefined;

/** Kafka header values arrive as Buffers (or arrays when repeated); the last value wins. */
export function headerValue(headers: RawHeaders, name: string): string | undefined {
  const v = headers?.[name];
  if (v === undefined) return undefined;
  const last = Array.isArray(v) ? v[v.length - 1] : v;
  return last === undefined ? undefined : last.toString();
}

/** Reads the CloudEvents attributes back, or returns the list of missing ones. */
export function fromCloudEventHeaders(
  headers: RawHeaders,
): { ok: true; value: CloudEventAttributes } | { ok: false; missing: string[] } {
  const required = ['ce_id', 'ce_source', 'ce_type', 'ce_time', 'content-type'] as const;
  const missing = required.filter((k) => headerValue(headers, k) === undefined);
  if (missing.length > 0) return { ok: false, missing };
  const subject = headerValue(headers, 'ce_subject');
  return {
    ok: true,
    value: {
      id: headerValue(headers, 'ce_id')!,
      source: headerValue(headers, 'ce_source')!,
      type: headerValue(headers, 'ce_type')!,
      time: headerValue(headers, 'ce_time')!,
      contentType: headerValue(headers, 'content-type')!,
      ...(subject !== undefined ? { subject } : {}),
    },
  };
}
