import {
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  Inject,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { type FastifyReply, type FastifyRequest } from 'fastify';
import { ApiKeys, type KeyHolder } from './api-keys.js';
import { type Access, routeMeta } from './route-meta.js';
import { API_KEYS } from './gateway.tokens.js';

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * The key a request presented, looked up once per request: the rate limiter (which runs first, so
 * guessing keys is limited too) and the guard both ask.
 */
@Injectable()
export class KeyCheck {
  private readonly holders = new WeakMap<object, KeyHolder | null>();
  constructor(@Inject(API_KEYS) private readonly keys: ApiKeys) {}

  holderOf(req: FastifyRequest): KeyHolder | undefined {
    let h = this.holders.get(req);
    if (h === undefined) {
      h = this.keys.holder(ApiKeys.presented(req.headers)) ?? null;
      this.holders.set(req, h);
    }
    return h ?? undefined;
  }
}

/**
 * Every Nest route needs a valid API key unless it is marked `access: 'public'` (health); routes marked
 * `write`, and any POST/PUT/PATCH/DELETE not marked otherwise, need a write key. Runs before the pipes,
 * so a request without a key learns nothing about what its body should have been.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(private readonly check: KeyCheck) {}

  canActivate(ctx: ExecutionContext): boolean {
    const http = ctx.switchToHttp();
    const req = http.getRequest<FastifyRequest>();
    const declared = routeMeta(ctx.getClass().prototype as object, ctx.getHandler().name)?.doc?.access;
    const access: Access = declared ?? (WRITE_METHODS.has(req.method) ? 'write' : 'read');
    if (access === 'public') return true;
    const holder = this.check.holderOf(req);
    if (!holder) {
      http.getResponse<FastifyReply>().header('www-authenticate', 'ApiKey header="x-api-key"');
      throw new UnauthorizedException({
        statusCode: 401,
        error: 'Unauthorized',
        message:
          ApiKeys.presented(req.headers) !== undefined
            ? 'the API key is not valid'
            : 'send an API key in the x-api-key header',
      });
    }
    if (access === 'write' && holder.role !== 'write')
      throw new ForbiddenException({
        statusCode: 403,
        error: 'Forbidden',
        message: 'this API key may only read; use a write key',
      });
    return true;
  }
}
