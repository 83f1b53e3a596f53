import { Controller, Get, Res } from '@nestjs/common';
import { type FastifyReply } from 'fastify';
import { FeedService } from './feed.service.js';
import { Route } from './route-meta.js';

/** Unauthenticated: the process is up (live) and reads Kafka (ready). Says nothing about cameras. */
@Controller('health')
export class HealthController {
  constructor(private readonly feed: FeedService) {}

  @Get('live')
  @Route({
    summary: 'The process is up',
    access: 'public',
    responses: { '200': { description: 'ok', ref: 'Health' } },
  })
  live() {
    return { status: 'ok' };
  }

  @Get('ready')
  @Route({
    summary: 'Reading Kafka (in its consumer group)',
    access: 'public',
    responses: {
      '200': { description: 'ready', ref: 'Health' },
      '503': { description: 'not ready: detail says why', ref: 'Health' },
    },
  })
  ready(@Res() reply: FastifyReply) {
    const r = this.feed.ready();
    return reply.code(r.ok ? 200 : 503).send({ status: r.ok ? 'ok' : 'unavailable', detail: r.detail });
  }
}
