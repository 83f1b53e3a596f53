import { Controller, Get, Req, Res } from '@nestjs/common';
import { type FastifyReply, type FastifyRequest } from 'fastify';
import { type z } from 'zod';
import { EventHub } from './event-hub.js';
import { GatewayMetrics } from './gateway-metrics.js';
import { EventsQuerySchema } from './query-schemas.js';
import { Route, ValidQuery } from './route-meta.js';

/** A client this far behind (bytes queued) is cut off; EventSource reconnects and the page reloads lists. */
const MAX_BUFFERED = 1 << 20;

/** GET /events: Server-Sent Events of new anomalies (latest phase), summaries, statuses and camera changes. */
@Controller()
export class EventsController {
  constructor(
    private readonly hub: EventHub,
    private readonly metrics: GatewayMetrics,
  ) {}

  @Get('events')
  @Route({
    summary: 'Server-Sent Events: anomaly, summary, status and stream events as they are stored',
    responses: { '200': { description: 'text/event-stream', media: 'text/event-stream' } },
  })
  events(
    @ValidQuery(EventsQuerySchema) q: z.output<typeof EventsQuerySchema>,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    const types = new Set(q.types ?? ['anomaly', 'summary', 'status', 'stream']);
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    raw.write('retry: 3000\n: connected\n\n');
    this.metrics.sseClients.inc();
    const unsubscribe = this.hub.subscribe((e) => {
      if (!types.has(e.type) || (q.streamId && e.streamId !== q.streamId)) return;
      raw.write(
        `event: ${e.type}\ndata: ${JSON.stringify(e.data ?? { streamId: e.streamId, deleted: true })}\n\n`,
      );
      if (raw.writableLength > MAX_BUFFERED) raw.destroy();
    });
    const ping = setInterval(() => raw.write(': ping\n\n'), 15_000);
    let open = true;
    const close = () => {
      if (!open) return;
      open = false;
      clearInterval(ping);
      unsubscribe();
      this.metrics.sseClients.dec();
    };
    req.raw.on('close', close);
    raw.on('close', close);
  }
}
