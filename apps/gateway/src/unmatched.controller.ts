import { All, Controller, NotFoundException, Req } from '@nestjs/common';
import { type FastifyRequest } from 'fastify';
import { Route } from './route-meta.js';

/**
 * Any other path under /api or /events: the guard asks for a key first (as on every route there, so a
 * caller without one learns nothing of which paths exist), then a 404 that says where the routes are.
 */
@Controller()
export class UnmatchedController {
  @All(['api', 'api/*', 'events/*'])
  @Route({ summary: 'no such route', access: 'read', responses: {}, hidden: true })
  unmatched(@Req() req: FastifyRequest) {
    throw new NotFoundException(
      `no route ${req.method} ${req.url.split('?')[0]}; the API is listed at /docs`,
    );
  }
}
