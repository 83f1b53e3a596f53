// The gateway's public entry: what other apps and tools may use (nothing else of apps/gateway/src).
export { type RunningGateway, startGateway } from './main.js';
export { ApiKeysError } from './api-keys.js';
export { GatewayMetrics } from './gateway-metrics.js';
export { BinaryIndex, binaryCode } from './binary-index.js';
export { GatewayRepository } from './repository.js';
export { nearestDocs, packVector } from './search-docs.js';
