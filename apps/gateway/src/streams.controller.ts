import { Controller, Delete, Get, HttpCode, Post, Put, Res } from '@nestjs/common';
import { type FastifyReply } from 'fastify';
import { StreamIdSchema, StreamSpecSchema, type StreamSpec } from '@vigil/contracts';
import { type z } from 'zod';
import { FrameQuerySchema, ScoresQuerySchema, SummarizeBodySchema } from './query-schemas.js';
import { RawBody, RawQuery, Route, ValidBody, ValidParam, ValidQuery } from './route-meta.js';
import { StreamsService } from './streams.service.js';
import { parseInput } from './validation.js';

const noCamera = { description: 'No such camera' };

/** Cameras: StreamSpecs on the compacted vigil.streams.v1, with their live status. */
@Controller('api/streams')
export class StreamsController {
  constructor(private readonly streams: StreamsService) {}

  @Get()
  @Route({
    summary: 'List cameras with their live status',
    responses: { '200': { description: 'Cameras', ref: 'StreamList' } },
  })
  list() {
    return this.streams.list();
  }

  @Get(':id')
  @Route({
    summary: 'One camera',
    responses: { '200': { description: 'The camera', ref: 'Stream' }, '404': noCamera },
  })
  get(@ValidParam('id', StreamIdSchema) id: string) {
    return this.streams.get(id);
  }

  @Post()
  @HttpCode(201)
  @Route({
    summary: 'Add a camera (write key)',
    access: 'write',
    responses: {
      '201': { description: 'Added', ref: 'Stream' },
      '409': { description: 'A camera with this id exists' },
      '413': { description: 'Body over the limit' },
    },
  })
  create(@ValidBody(StreamSpecSchema) spec: StreamSpec) {
    return this.streams.create(spec);
  }

  @Put(':id')
  @Route({
    summary: 'Replace a camera’s spec (write key)',
    access: 'write',
    responses: { '200': { description: 'Changed', ref: 'Stream' }, '404': noCamera },
  })
  update(@ValidParam('id', StreamIdSchema) id: string, @RawBody(StreamSpecSchema) body: unknown) {
    // a camera as GET shows it may come back as it is: its read-only parts (status, analyzed) are dropped
    const obj =
      body && typeof body === 'object' && !Array.isArray(body)
        ? Object.fromEntries(Object.entries(body).filter(([k]) => k !== 'status' && k !== 'analyzed'))
        : null;
    // the id in the URL names the camera; one in the body may only repeat it
    if (obj && 'id' in obj && obj.id !== id)
      parseInput(
        StreamIdSchema.refine((v) => v === id, `must be "${id}", the id in the URL`),
        obj.id,
        'body.id',
      );
    return this.streams.replace(parseInput(StreamSpecSchema, obj ? { ...obj, id } : body, 'body'));
  }

  @Delete(':id')
  @HttpCode(204)
  @Route({
    summary: 'Remove a camera (write key)',
    access: 'write',
    responses: { '204': { description: 'Removed' }, '404': noCamera },
  })
  async remove(@ValidParam('id', StreamIdSchema) id: string) {
    await this.streams.remove(id);
  }

  /** Asks the analyzer to narrate the camera's latest window now (a summary with trigger "request"). */
  @Post(':id/summarize')
  @HttpCode(202)
  @Route({
    summary: 'Ask for a summary of the camera’s latest window now (write key)',
    access: 'write',
    responses: { '202': { description: 'Requested', ref: 'ControlMessage' }, '404': noCamera },
  })
  summarize(
    @ValidParam('id', StreamIdSchema) id: string,
    @RawBody(SummarizeBodySchema, { required: false }) body: unknown,
  ) {
    this.streams.existing(id); // an unknown camera is a 404 whatever the body says
    const { reason } = parseInput(SummarizeBodySchema, body ?? undefined, 'body');
    return this.streams.summarize(id, reason);
  }

  /** The latest sampled frame (JPEG at the analyzer's input size), as read from vigil.frames.v1. */
  @Get(':id/frame.jpg')
  @Route({
    summary:
      'The latest sampled frame, or with `at` the one captured then (the frame /objects’ boxes belong to)',
    responses: {
      '200': { description: 'JPEG; x-captured-at says when it was captured', media: 'image/jpeg' },
      '404': { description: 'No such camera, no frame yet, or none captured at `at` kept' },
    },
  })
  frame(
    @ValidParam('id', StreamIdSchema) id: string,
    @ValidQuery(FrameQuerySchema) q: z.output<typeof FrameQuerySchema>,
    @Res() reply: FastifyReply,
  ) {
    const f = this.streams.frame(id, q.at); // a JPEG: the feed keeps no frame that does not start like one
    return reply
      .type('image/jpeg')
      .header('cache-control', 'no-store')
      .header('x-captured-at', f.capturedAt)
      .send(f.jpeg);
  }

  /** What the analyzer's detector and tracker saw in the latest scored sample (boxes over the frame). */
  @Get(':id/objects')
  @Route({
    summary: 'The tracked objects of the latest scored sample: track id, class, score, box, dwell',
    responses: { '200': { description: 'Objects', ref: 'Objects' }, '404': noCamera },
  })
  objects(@ValidParam('id', StreamIdSchema) id: string) {
    return this.streams.objects(id);
  }

  /** A ticket for the camera's live view: open a WebSocket to `path` within 30 s (JSMpeg plays it). */
  @Get(':id/live')
  @Route({
    summary: 'A ticket for the live view: open a WebSocket to `path` within 30 s',
    responses: {
      '200': { description: 'The ticket', ref: 'LiveTicket' },
      '404': noCamera,
      '409': { description: 'The camera is disabled' },
      '503': { description: 'Live view is off' },
    },
  })
  liveTicket(@ValidParam('id', StreamIdSchema) id: string) {
    return this.streams.liveTicket(id);
  }

  /** Anomaly scores over time (the sparkline), oldest first; since defaults to 10 minutes ago. */
  @Get(':id/scores')
  @Route({
    summary: 'Anomaly scores over time (1 is the alarm threshold), oldest first',
    responses: { '200': { description: 'Scores', ref: 'Scores' }, '404': noCamera },
  })
  scores(@ValidParam('id', StreamIdSchema) id: string, @RawQuery(ScoresQuerySchema) query: unknown) {
    this.streams.existing(id); // an unknown camera is a 404 whatever the query says
    return this.streams.scores(id, parseInput(ScoresQuerySchema, query, 'query').since);
  }
}
