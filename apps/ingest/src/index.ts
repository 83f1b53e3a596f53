// Ingest's public entry: what other apps and tools may use (nothing else of apps/ingest/src).
export { startIngest } from './main.js';
export { IngestMetrics } from './ingest-metrics.js';
