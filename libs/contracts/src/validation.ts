import { type z } from 'zod';
import { type RawHeaders, headerValue } from './cloudevents.js';
import { type FrameMeta, FrameMetaSchema } from './schemas.js';

/** One readable line per issue: `path: message`. */
export function formatIssues(error: z.ZodError, prefix = ''): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    const where = [prefix, path].filter(Boolean).join('.');
    return `${where || '(root)'}: ${issue.message}`;
  });
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; errors: string[] };

/** Validates without throwing: an invalid message is an expected outcome, not a fault. */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown, prefix = ''): Parsed<z.output<S>> {
  const result = schema.safeParse(input);
  return result.success
    ? { ok: true, value: result.data }
    : { ok: false, errors: formatIssues(result.error, prefix) };
}

/** A Kafka value (JSON bytes) → the schema's output, or the problem in one line (for skip logs, DLQs). */
export function jsonRow<S extends z.ZodType>(schema: S) {
  return (value: Buffer): { ok: true; value: z.output<S> } | { ok: false; error: string } => {
    let json: unknown;
    try {
      json = JSON.parse(value.toString('utf8'));
    } catch {
      return { ok: false, error: 'not JSON' };
    }
    const r = parseWith(schema, json);
    return r.ok ? { ok: true, value: r.value } : { ok: false, error: r.errors.join('; ') };
  };
}

/** A vigil.frames.v1 message's `vigil_meta` header, checked against its schema and the message key. */
export function frameMetaOf(headers: RawHeaders, key: string | null): Parsed<FrameMeta> {
  let json: unknown;
  try {
    json = JSON.parse(headerValue(headers, 'vigil_meta') ?? '');
  } catch {
    return { ok: false, errors: ['header vigil_meta is missing or not JSON'] };
  }
  const meta = parseWith(FrameMetaSchema, json, 'vigil_meta');
  if (meta.ok && meta.value.streamId !== key)
    return { ok: false, errors: ['vigil_meta.streamId differs from the message key'] };
  return meta;
}
