import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
  readonly trimmed = new Counter({
    name: 'vigil_gateway_store_trimmed_total',
    help: 'Rows deleted from the local store to keep it under VIGIL_GATEWAY_DB_MAX_MB, by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly storeBytes = new Gauge({
    name: 'vigil_gateway_store_bytes',
    help: 'Bytes in use in the local store (SQLite pages less free ones), as of the last check',
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

  readonly searchSeconds = new Histogram({
    name: 'vigil_gateway_search_seconds',
    help: 'Time of one search, from the query text to ranked hits (embedding, index scan, re-rank), by route',
    labelNames: ['route'] as const,
    buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  readonly searchRows = new Gauge({
    name: 'vigil_gateway_search_rows',
    help: 'Summaries and events in the search index, by state (indexed, pending: stored, not yet embedded)',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  readonly askAnswers = new Counter({
    name: 'vigil_gateway_ask_answers_total',
    help: 'POST /api/ask answers, by how they were made (model, hits: no model configured, fallback: the model failed)',
    labelNames: ['by'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'vigil_gateway_' });
  }
}
