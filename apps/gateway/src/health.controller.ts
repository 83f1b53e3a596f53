import { Controller, Get, Res } from '@nestjs/common';
import { type FastifyReply } from 'fastify';
import { FeedService } from './feed.service.js';

/** Unauthenticated: the process is up (live) and reads Kafka (ready). Says nothing about cameras. */
@Controller('health')
export class HealthController {
  constructor(private readonly feed: FeedService) {}

  @Get('live')
  live() {
    return { status: 'ok' };
  }

  @Get('ready')
  ready(@Res() reply: FastifyReply) {
    const r = this.feed.ready();
    return reply.code(r.ok ? 200 : 503).send({ status: r.ok ? 'ok' : 'unavailable', detail: r.detail });
  }
}
