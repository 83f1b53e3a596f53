import { Controller, Get, Res } from '@nestjs/common';
import { type FastifyReply } from 'fastify';
import { AnomalyQuerySchema, EventIdSchema, SummaryQuerySchema } from './query-schemas.js';
import { RecordsService } from './records.service.js';
import { Route, ValidParam, ValidQuery } from './route-meta.js';
import { type AnomalyQuery, type SummaryQuery } from './repository.js';

/** Anomaly events (latest phase of each) and summaries, newest first, from the gateway's repository. */
@Controller('api')
export class RecordsController {
  constructor(private readonly records: RecordsService) {}

  @Get('anomalies')
  @Route({
    summary: 'Anomaly events, newest first, each at its latest phase',
    responses: { '200': { description: 'A page', ref: 'AnomalyPage' } },
  })
  anomalies(@ValidQuery(AnomalyQuerySchema) q: AnomalyQuery) {
    return this.records.anomalies(q);
  }

  @Get('anomalies/:eventId')
  @Route({
    summary: 'One anomaly event',
    responses: {
      '200': { description: 'The event', ref: 'Anomaly' },
      '404': { description: 'No such event' },
    },
  })
  anomaly(@ValidParam('eventId', EventIdSchema) id: string) {
    return this.records.anomaly(id);
  }

  @Get('anomalies/:eventId/evidence.jpg')
  @Route({
    summary: 'The event’s evidence image',
    responses: {
      '200': { description: 'JPEG', media: 'image/jpeg' },
      '404': { description: 'No image' },
    },
  })
  evidence(@ValidParam('eventId', EventIdSchema) id: string, @Res() reply: FastifyReply) {
    return reply
      .type('image/jpeg')
      .header('cache-control', 'private, max-age=86400')
      .send(this.records.evidence(id));
  }

  @Get('summaries')
  @Route({
    summary: 'Summaries, newest window end first',
    responses: { '200': { description: 'A page', ref: 'SummaryPage' } },
  })
  summaries(@ValidQuery(SummaryQuerySchema) q: SummaryQuery) {
    return this.records.summaries(q);
  }
}
