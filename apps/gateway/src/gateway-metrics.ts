import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of the gateway; one registry per app instance. */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'vigil_gateway_requests_total',
    help: 'HTTP requests answered, by route and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly materialized = new Counter({
    name: 'vigil_gateway_messages_total',
    help: 'Kafka messages stored in the gateway’s local store, by topic',
    labelNames: ['topic'] as const,
    registers: [this.registry],
  });
  readonly skipped = new Counter({
    name: 'vigil_gateway_messages_skipped_total',
    help: 'Kafka messages that failed their schema and were skipped, by topic',
    labelNames: ['topic'] as const,
    registers: [this.registry],
  });
  readonly sseClients = new Gauge({
    name: 'vigil_gateway_sse_clients',
    help: 'Open GET /events connections',
    registers: [this.registry],
  });
  readonly liveViewers = new Gauge({
    name: 'vigil_gateway_live_viewers',
    help: 'Open live-view connections, all cameras',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'vigil_gateway_' });
  }
}
