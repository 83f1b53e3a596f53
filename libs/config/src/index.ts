export * from './config.js';
export * from './app-configs.js';
export * from './secrets.js';
export * from './kafka-connection.js';
