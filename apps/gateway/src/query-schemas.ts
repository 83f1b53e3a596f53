import { z } from 'zod';
import { AnomalyKindSchema, StreamIdSchema } from '@vigil/contracts';

const TIME_FORMS = 'must be an RFC 3339 time (2026-11-29T10:00:00Z) or milliseconds since the epoch';

/** RFC 3339 text, digits of epoch ms, or a number of them → milliseconds; an issue when it is neither. */
const toMs = (v: string | number, ctx: z.RefinementCtx): number => {
  const t = typeof v === 'number' ? v : /^\d{1,15}$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isNaN(t)) return t;
  ctx.addIssue({ code: 'custom', message: TIME_FORMS });
  return z.NEVER;
};

/** A time in a query: RFC 3339 or milliseconds since the epoch → milliseconds. */
const timeParam = z.string().max(40).transform(toMs);

const limit = z
  .string()
  .regex(/^\d{1,4}$/, 'must be a whole number from 1 to 500')
  .transform(Number)
  .pipe(z.number().int().min(1, 'must be at least 1').max(500, 'must be at most 500'))
  .default(50);

const cursor = z.string().max(200).optional();

const only = { streamId: StreamIdSchema.optional().describe('Only this camera') };
const paging = {
  since: timeParam.optional().describe('RFC 3339 time or epoch ms (inclusive)'),
  until: timeParam.optional().describe('RFC 3339 time or epoch ms (exclusive)'),
  limit: limit.describe('1-500, default 50'),
  cursor: cursor.describe('nextCursor of the previous page'),
};

export const AnomalyQuerySchema = z
  .object({
    ...only,
    kind: AnomalyKindSchema.optional().describe('Only this kind'),
    severity: z.enum(['info', 'warning', 'critical']).optional().describe('Only this severity'),
    state: z.enum(['open', 'ended']).optional().describe('open: not ended yet; ended: with an end message'),
    ...paging,
  })
  .strict();

export const SummaryQuerySchema = z
  .object({
    ...only,
    level: z.enum(['window', 'minute', 'hour']).optional().describe('Only this level'),
    ...paging,
  })
  .strict();

export const ScoresQuerySchema = z
  .object({ since: timeParam.optional().describe('RFC 3339 time or epoch ms; default 10 minutes ago') })
  .strict();

export const FrameQuerySchema = z
  .object({
    at: z.iso
      .datetime({ offset: true })
      .optional()
      .describe(
        'The capture time of the frame wanted (as /objects gives it): the frame its boxes were found in. Kept for a few seconds',
      ),
  })
  .strict();

export const EVENT_TYPES = ['anomaly', 'summary', 'status', 'stream'] as const;

export const EventsQuerySchema = z
  .object({
    types: z
      .string()
      .max(100)
      .transform((s) => s.split(','))
      .pipe(z.array(z.enum(EVENT_TYPES, { message: `each must be one of ${EVENT_TYPES.join(', ')}` })))
      .optional()
      .describe('Comma-separated: anomaly, summary, status, stream (default all)'),
    ...only,
  })
  .strict();

export const SummarizeBodySchema = z
  .object({ reason: z.string().min(1).max(200).default('asked through the API') })
  .strict()
  .default({ reason: 'asked through the API' });

export const EventIdSchema = z.uuid('must be an event id (a UUID)');

/** A question or search text: something to embed, and no more than a few paragraphs. */
const questionText = z
  .string({ message: 'must be text' })
  .transform((s) => s.trim())
  .pipe(
    z
      .string()
      .min(1, 'must not be empty: say what to look for, e.g. "a truck at dock 3"')
      .max(1000, 'must be at most 1000 characters: ask a shorter question'),
  );

/** Comma-separated camera ids in a query string. */
const streamList = z
  .string()
  .max(2000)
  .transform((s) => s.split(',').filter(Boolean))
  .pipe(z.array(StreamIdSchema).min(1, 'must name at least one camera').max(100, 'at most 100 cameras'));

const hitLimit = z
  .string()
  .regex(/^\d{1,3}$/, 'must be a whole number from 1 to 50')
  .transform(Number)
  .pipe(z.number().int().min(1, 'must be at least 1').max(50, 'must be at most 50'))
  .default(10);

/** `from` before `to`, when both are given. */
const ordered = <T extends { from?: number | undefined; to?: number | undefined }>(
  q: T,
  ctx: z.RefinementCtx,
) => {
  if (q.from !== undefined && q.to !== undefined && q.from >= q.to)
    ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be later than from' });
};

export const SearchQuerySchema = z
  .object({
    q: questionText.describe('What to look for, in words (1-1000 characters)'),
    stream: streamList.optional().describe('Only these cameras (comma-separated ids)'),
    from: timeParam.optional().describe('RFC 3339 time or epoch ms (inclusive)'),
    to: timeParam.optional().describe('RFC 3339 time or epoch ms (exclusive)'),
    limit: hitLimit.describe('1-50, default 10'),
  })
  .strict()
  .superRefine(ordered);

/** A time in a JSON body: RFC 3339 text or epoch milliseconds. */
const bodyTime = z
  .union([z.string().max(40), z.number().int().nonnegative()], { message: TIME_FORMS })
  .transform(toMs);

export const AskBodySchema = z
  .object({
    question: questionText.describe('The question, in words (1-1000 characters)'),
    streams: z.array(StreamIdSchema).min(1).max(100).optional().describe('Only these cameras'),
    from: bodyTime.optional().describe('RFC 3339 time or epoch ms (inclusive)'),
    to: bodyTime.optional().describe('RFC 3339 time or epoch ms (exclusive)'),
    limit: z.number().int().min(1).max(20).default(8).describe('Records retrieved as context, 1-20'),
  })
  .strict()
  .superRefine(ordered);
