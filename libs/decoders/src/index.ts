export * from './decoder.js';
export * from './grounded-decoder.js';
export * from './circuit-breaker.js';
export * from './resilient-decoder.js';
export * from './openai-decoder.js';
export * from './decode-scheduler.js';
export * from './registry.js';
