import { type z } from 'zod';

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
