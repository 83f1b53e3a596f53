import 'reflect-metadata';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HttpException } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { type GatewayConfig } from '@vigil/config';
import { type Logger, OpsEndpoint, nestLoggerAdapter } from '@vigil/observability';
import { KeyCheck } from './api-key.guard.js';
import { ApiKeys } from './api-keys.js';
import { FeedService } from './feed.service.js';
import { GatewayMetrics } from './gateway-metrics.js';
import { API_CONTROLLERS, GatewayModule } from './gateway.module.js';
import { LiveViewHub } from './live-view.js';
import { openApiDocument } from './openapi.js';

export interface RunningGateway {
  readonly app: NestFastifyApplication;
  /** The API and dashboard port, and the unauthenticated /metrics and /health port. */
  readonly port: number;
  readonly opsPort: number;
  close(): Promise<void>;
}

/** The dashboard's files (apps/gateway/public), from dist/apps/gateway/src or apps/gateway/src. */
function publicDir(): string {
  for (const rel of ['../../../../apps/gateway/public', '../public']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(dir)) return dir;
  }
  throw new Error('the dashboard files (apps/gateway/public) are missing from this installation');
}

/**
 * Boots the gateway: the REST API (/api), Server-Sent Events (/events), the dashboard (/), OpenAPI (/docs)
 * and health on one port, Prometheus /metrics and health on the ops port. The caller owns close().
 */
export async function startGateway(config: GatewayConfig, logger: Logger): Promise<RunningGateway> {
  const keys = ApiKeys.fromFile(config.apiKeysFile);
  const log = logger.child('gateway');
  const app = await NestFactory.create<NestFastifyApplication>(
    GatewayModule.register(config, logger, keys),
    new FastifyAdapter({ bodyLimit: config.bodyLimitBytes, trustProxy: false }),
    { logger: nestLoggerAdapter(logger), abortOnError: false },
  );
  try {
    const fastify = app.getHttpAdapter().getInstance();
    const keyCheck = app.get(KeyCheck);
    // Rate limiting first (an onRequest hook), so guessing keys is limited too: per key, or per address
    // without a valid one. The keys themselves are checked by ApiKeyGuard on each route.
    await app.register(rateLimit, {
      global: true,
      max: config.rateLimitPerMin,
      timeWindow: 60_000,
      keyGenerator: (req) => keyCheck.holderOf(req)?.id ?? `ip:${req.ip}`,
      allowList: (req) => req.url.startsWith('/health'),
      // an HttpException, so Nest answers it as it is instead of logging an unexpected error
      errorResponseBuilder: (_req, ctx) =>
        new HttpException(
          {
            statusCode: 429,
            error: 'Too Many Requests',
            message: `over ${ctx.max} requests a minute for this key; retry in ${ctx.after}`,
          },
          429,
        ) as never,
    });
    // Answers are what they say they are (no sniffing), and what /api serves (JSON, camera pictures) is
    // never a document: a picture someone crafted cannot run script or be framed from the API's origin.
    fastify.addHook('onSend', async (req, reply, payload) => {
      reply.header('x-content-type-options', 'nosniff');
      if (req.url.startsWith('/api/') || req.url.startsWith('/events'))
        reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'none'; sandbox");
      return payload;
    });
    const metrics = app.get(GatewayMetrics);
    fastify.addHook('onResponse', async (req, reply) => {
      metrics.requests.inc({
        method: req.method,
        route: req.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      });
    });
    await app.register(swagger, {
      mode: 'static',
      specification: { document: openApiDocument(API_CONTROLLERS) as never },
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
    const jsmpeg = readFileSync(
      join(
        dirname(createRequire(import.meta.url).resolve('@cycjimmy/jsmpeg-player')),
        'jsmpeg-player.umd.min.js',
      ),
    );
    fastify.get('/vendor/jsmpeg.min.js', (_req, reply) =>
      reply.type('text/javascript').header('cache-control', 'public, max-age=86400').send(jsmpeg),
    );
    app.useStaticAssets({ root: publicDir(), prefix: '/', index: ['index.html'] });
    await app.listen(config.httpPort, config.host);
    const addr = fastify.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : config.httpPort;
    app.get(LiveViewHub).attach(fastify.server);
    const feed = app.get(FeedService);
    const ops = new OpsEndpoint(metrics.registry, { ready: () => feed.ready() });
    const opsPort = await ops.listen(config.opsPort, config.host, 'VIGIL_GATEWAY_HTTP_PORT');
    log.info(`gateway listening`, { port, opsPort, keys: 'from ' + config.apiKeysFile });
    return {
      app,
      port,
      opsPort,
      close: async () => {
        await ops.close();
        await app.close();
      },
    };
  } catch (err) {
    await app.close().catch(() => undefined);
    throw err;
  }
}
