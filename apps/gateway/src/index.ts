// The gateway's public entry: what other apps and tools may use (nothing else of apps/gateway/src).
export { type RunningGateway, startGateway } from './main.js';
export { ApiKeysError } from './api-keys.js';
export { GatewayMetrics } from './gateway-metrics.js';
