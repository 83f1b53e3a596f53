import {
  Body,
  ConflictException,
  Controller,
  Delete,
  Get,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  Put,
  Query,
  Res,
  ServiceUnavailableException,
} from '@nestjs/common';
import { type FastifyReply } from 'fastify';
import { StreamIdSchema, StreamSpecSchema, type StreamSpec } from '@vigil/contracts';
import { FeedService, publicSpec } from './feed.service.js';
import { LiveViewHub } from './live-view.js';
import { ScoresQuerySchema, SummarizeBodySchema } from './query-schemas.js';
import { parseInput } from './validation.js';

/** Cameras: StreamSpecs on the compacted vigil.streams.v1, with their live status. */
@Controller('api/streams')
export class StreamsController {
  constructor(
    private readonly feed: FeedService,
    private readonly live: LiveViewHub,
  ) {}

  private view(spec: StreamSpec) {
    return { ...publicSpec(spec), status: this.feed.store.status(spec.id) };
  }

  private existing(rawId: string): StreamSpec {
    const id = parseInput(StreamIdSchema, rawId, 'id');
    const spec = this.feed.spec(id);
    if (!spec)
      throw new NotFoundException(
        `no stream "${id}"; GET /api/streams lists them, POST /api/streams adds one`,
      );
    return spec;
  }

  @Get()
  list() {
    return { items: this.feed.allSpecs().map((s) => this.view(s)) };
  }

  @Get(':id')
  get(@Param('id') id: string) {
    return this.view(this.existing(id));
  }

  @Post()
  @HttpCode(201)
  async create(@Body() body: unknown) {
    const spec = parseInput(StreamSpecSchema, body, 'body');
    if (this.feed.spec(spec.id))
      throw new ConflictException(`stream "${spec.id}" exists; PUT /api/streams/${spec.id} changes it`);
    await this.feed.putSpec(spec);
    return this.view(spec);
  }

  @Put(':id')
  async update(@Param('id') rawId: string, @Body() body: unknown) {
    const id = parseInput(StreamIdSchema, rawId, 'id');
    if (body && typeof body === 'object' && !Array.isArray(body) && 'id' in body && body.id !== id)
      parseInput(
        StreamIdSchema.refine((v) => v === id, `must be "${id}", the id in the URL`),
        body.id,
        'body.id',
      );
    const spec = parseInput(
      StreamSpecSchema,
      body && typeof body === 'object' && !Array.isArray(body) ? { ...body, id } : body,
      'body',
    );
    this.existing(id);
    await this.feed.putSpec(spec);
    return this.view(spec);
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(@Param('id') id: string) {
    await this.feed.removeSpec(this.existing(id).id);
  }

  /** Asks the analyzer to narrate the camera's latest window now (a summary with trigger "request"). */
  @Post(':id/summarize')
  @HttpCode(202)
  async summarize(@Param('id') id: string, @Body() body: unknown) {
    const spec = this.existing(id);
    const { reason } = parseInput(SummarizeBodySchema, body ?? undefined, 'body');
    return this.feed.requestSummary(spec.id, reason);
  }

  /** The latest sampled frame (JPEG at the analyzer's input size), as read from vigil.frames.v1. */
  @Get(':id/frame.jpg')
  frame(@Param('id') id: string, @Res() reply: FastifyReply) {
    const spec = this.existing(id);
    const f = this.feed.latestFrame(spec.id);
    if (!f) throw new NotFoundException(`no frame of "${spec.id}" seen yet; is the camera running?`);
    return reply
      .type('image/jpeg')
      .header('cache-control', 'no-store')
      .header('x-captured-at', f.capturedAt)
      .send(f.jpeg);
  }

  /** A ticket for the camera's live view: open a WebSocket to `path` within 30 s (JSMpeg plays it). */
  @Get(':id/live')
  liveTicket(@Param('id') id: string) {
    const spec = this.existing(id);
    if (!this.live.enabled)
      throw new ServiceUnavailableException('live view is off (VIGIL_GATEWAY_LIVE_MAX_VIEWERS=0)');
    return this.live.ticket(spec.id);
  }

  /** Anomaly scores over time (the sparkline), oldest first; since defaults to 10 minutes ago. */
  @Get(':id/scores')
  scores(@Param('id') id: string, @Query() query: unknown) {
    const spec = this.existing(id);
    const q = parseInput(ScoresQuerySchema, query, 'query');
    return { streamId: spec.id, items: this.feed.store.scores(spec.id, q.since ?? Date.now() - 600_000) };
  }
}
