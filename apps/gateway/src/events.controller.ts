import { Controller, Get, HttpException, Inject, type OnModuleDestroy, Req, Res } from '@nestjs/common';
import { type FastifyReply, type FastifyRequest } from 'fastify';
import { type z } from 'zod';
import { type GatewayConfig } from '@vigil/config';
import { KeyCheck } from './api-key.guard.js';
import { EventHub, type HubEvent } from './event-hub.js';
import { GatewayMetrics } from './gateway-metrics.js';
import { GATEWAY_CONFIG } from './gateway.tokens.js';
import { EventsQuerySchema } from './query-schemas.js';
import { GatewayRepository } from './repository.js';
import { Route, ValidQuery } from './route-meta.js';
import { SseJournal, decodePosition } from './sse-journal.js';

/** A client this far behind (bytes queued) is cut off; EventSource reconnects and resumes from its id. */
const MAX_BUFFERED = 1 << 20;

/**
 * GET /events: Server-Sent Events of new anomalies (latest phase), summaries, statuses and camera changes.
 * Every event has an id; a client that reconnects with Last-Event-ID (EventSource does by itself) gets
 * what it missed first, from this replica or any other, or a `reset` event when that is no longer kept.
 * Connections are capped per API key and in all (429).
 */
@Controller()
export class EventsController implements OnModuleDestroy {
  private readonly perKey = new Map<string, number>();
  private open = 0;
  /** Ends every open stream: a gateway that stops lets its clients reconnect (elsewhere) at once. */
  private readonly enders = new Set<() => void>();

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    private readonly hub: EventHub,
    private readonly metrics: GatewayMetrics,
    private readonly store: GatewayRepository,
    private readonly keys: KeyCheck,
  ) {}

  @Get('events')
  @Route({
    summary:
      'Server-Sent Events: anomaly, summary, status and stream events as they are stored, each with an id to resume from (Last-Event-ID)',
    operationId: 'streamEvents',
    responses: {
      '200': {
        description:
          'A stream of events: `event:` anomaly, summary, status, stream or reset, `data:` SseEventData',
        media: 'text/event-stream',
        ref: 'SseEventData',
      },
      '429': { description: 'Too many open event streams for this key, or in all' },
    },
  })
  events(
    @ValidQuery(EventsQuerySchema) q: z.output<typeof EventsQuerySchema>,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    const key = this.keys.holderOf(req)?.id ?? `ip:${req.ip}`;
    const mine = this.perKey.get(key) ?? 0;
    if (mine >= this.config.sseMaxPerKey || this.open >= this.config.sseMax) {
      reply.header('retry-after', '30');
      throw new HttpException(
        {
          statusCode: 429,
          error: 'Too Many Requests',
          message:
            mine >= this.config.sseMaxPerKey
              ? `this API key holds ${mine} open event streams, the most allowed (VIGIL_GATEWAY_SSE_MAX_PER_KEY); close one, or share one stream between views`
              : `the gateway holds ${this.open} open event streams, the most allowed (VIGIL_GATEWAY_SSE_MAX); retry later`,
        },
        429,
      );
    }
    const types = new Set(q.types ?? ['anomaly', 'summary', 'status', 'stream']);
    const wanted = (e: HubEvent) => types.has(e.type) && (!q.streamId || e.streamId === q.streamId);
    const lastId = req.headers['last-event-id'];
    const from = typeof lastId === 'string' && lastId ? lastId : undefined;
    const floor = from ? decodePosition(from) : null;

    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-content-type-options': 'nosniff',
    });
    const send = (e: HubEvent, id: string | undefined) =>
      raw.write(
        `${id ? `id: ${id}\n` : ''}event: ${e.type}\ndata: ${JSON.stringify(e.data ?? { streamId: e.streamId, deleted: true })}\n\n`,
      );
    raw.write('retry: 3000\n: connected\n\n');
    // Synchronous from here to subscribe: nothing is stored (and emitted) in between, so nothing is lost.
    if (from) {
      const missed = this.store.journal.resume(from);
      if (missed.kind === 'reset')
        raw.write(
          `id: ${this.store.journal.currentId()}\nevent: reset\ndata: ${JSON.stringify({ reason: missed.reason })}\n\n`,
        );
      else for (const e of missed.events) if (wanted(e)) send(e, e.id);
    }
    // a client that saw nothing yet can still resume from where it connected
    if (!from) raw.write(`id: ${this.store.journal.currentId()}\n\n`);
    this.open++;
    this.perKey.set(key, mine + 1);
    this.metrics.sseClients.inc();
    const unsubscribe = this.hub.subscribe((e) => {
      if (!wanted(e) || SseJournal.seen(floor, e.at)) return;
      send(e, e.id && SseJournal.atLeast(floor, e.id));
      if (raw.writableLength > MAX_BUFFERED) raw.destroy();
    });
    const ping = setInterval(() => raw.write(': ping\n\n'), 15_000);
    let isOpen = true;
    const close = () => {
      if (!isOpen) return;
      isOpen = false;
      clearInterval(ping);
      unsubscribe();
      this.open--;
      const n = (this.perKey.get(key) ?? 1) - 1;
      if (n > 0) this.perKey.set(key, n);
      else this.perKey.delete(key);
      this.metrics.sseClients.dec();
    };
    const end = () => raw.end();
    this.enders.add(end);
    req.raw.on('close', close);
    raw.on('close', () => {
      this.enders.delete(end);
      close();
    });
  }

  onModuleDestroy(): void {
    for (const end of [...this.enders]) end();
  }
}
