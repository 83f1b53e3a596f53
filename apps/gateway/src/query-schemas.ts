import { z } from 'zod';
import { AnomalyKindSchema, StreamIdSchema } from '@vigil/contracts';

/** A time in a query: RFC 3339 or milliseconds since the epoch → milliseconds. */
const timeParam = z
  .string()
  .max(40)
  .transform((s, ctx) => {
    const t = /^\d{1,15}$/.test(s) ? Number(s) : Date.parse(s);
    if (Number.isNaN(t)) {
      ctx.addIssue({
        code: 'custom',
        message: 'must be an RFC 3339 time (2026-11-29T10:00:00Z) or milliseconds since the epoch',
      });
      return z.NEVER;
    }
    return t;
  });

const limit = z
  .string()
  .regex(/^\d{1,4}$/, 'must be a whole number from 1 to 500')
  .transform(Number)
  .pipe(z.number().int().min(1, 'must be at least 1').max(500, 'must be at most 500'))
  .default(50);

const cursor = z.string().max(200).optional();

export const AnomalyQuerySchema = z
  .object({
    streamId: StreamIdSchema.optional(),
    kind: AnomalyKindSchema.optional(),
    severity: z.enum(['info', 'warning', 'critical']).optional(),
    state: z.enum(['open', 'ended']).optional(),
    since: timeParam.optional(),
    until: timeParam.optional(),
    limit,
    cursor,
  })
  .strict();

export const SummaryQuerySchema = z
  .object({
    streamId: StreamIdSchema.optional(),
    level: z.enum(['window', 'minute', 'hour']).optional(),
    since: timeParam.optional(),
    until: timeParam.optional(),
    limit,
    cursor,
  })
  .strict();

export const ScoresQuerySchema = z.object({ since: timeParam.optional() }).strict();

export const EVENT_TYPES = ['anomaly', 'summary', 'status', 'stream'] as const;

export const EventsQuerySchema = z
  .object({
    types: z
      .string()
      .max(100)
      .transform((s) => s.split(','))
      .pipe(z.array(z.enum(EVENT_TYPES, { message: `each must be one of ${EVENT_TYPES.join(', ')}` })))
      .optional(),
    streamId: StreamIdSchema.optional(),
  })
  .strict();

export const SummarizeBodySchema = z
  .object({ reason: z.string().min(1).max(200).default('asked through the API') })
  .strict()
  .default({ reason: 'asked through the API' });

export const EventIdSchema = z.uuid('must be an event id (a UUID)');
