import { BadRequestException } from '@nestjs/common';
import { type z } from 'zod';
import { formatIssues } from '@vigil/contracts';

/** Validates a request part; a 400 whose message names every wrong field (`body.url: …`). */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, where: string): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issues = formatIssues(r.error, where);
  throw new BadRequestException({
    statusCode: 400,
    error: 'Bad Request',
    message: issues.join('; '),
    issues,
  });
}
