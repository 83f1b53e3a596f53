import { BadRequestException, Controller, Get, NotFoundException, Param, Query, Res } from '@nestjs/common';
import { type FastifyReply } from 'fastify';
import { FeedService } from './feed.service.js';
import { AnomalyQuerySchema, EventIdSchema, SummaryQuerySchema } from './query-schemas.js';
import { BadCursorError } from './store.js';
import { parseInput } from './validation.js';

const paged = <T>(fn: () => T): T => {
  try {
    return fn();
  } catch (err) {
    if (err instanceof BadCursorError) throw new BadRequestException(err.message);
    throw err;
  }
};

/** Anomaly events (latest phase of each) and summaries, newest first, from the gateway's store. */
@Controller('api')
export class RecordsController {
  constructor(private readonly feed: FeedService) {}

  @Get('anomalies')
  anomalies(@Query() query: unknown) {
    const q = parseInput(AnomalyQuerySchema, query, 'query');
    return paged(() => this.feed.store.anomalies(q));
  }

  @Get('anomalies/:eventId')
  anomaly(@Param('eventId') raw: string) {
    const id = parseInput(EventIdSchema, raw, 'eventId');
    const a = this.feed.store.anomaly(id);
    if (!a) throw new NotFoundException(`no anomaly event ${id}`);
    return a;
  }

  @Get('anomalies/:eventId/evidence.jpg')
  evidence(@Param('eventId') raw: string, @Res() reply: FastifyReply) {
    const id = parseInput(EventIdSchema, raw, 'eventId');
    const jpeg = this.feed.store.evidence(id);
    if (!jpeg) throw new NotFoundException(`no evidence image for anomaly event ${id}`);
    return reply.type('image/jpeg').header('cache-control', 'private, max-age=86400').send(jpeg);
  }

  @Get('summaries')
  summaries(@Query() query: unknown) {
    const q = parseInput(SummaryQuerySchema, query, 'query');
    return paged(() => this.feed.store.summaries(q));
  }
}
