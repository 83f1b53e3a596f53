export * from './config.js';
export * from './app-configs.js';
