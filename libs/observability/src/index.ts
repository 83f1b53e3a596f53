export * from './logger.js';
export * from './http-endpoint.js';
