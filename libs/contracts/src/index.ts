export * from './topics.js';
export * from './ids.js';
export * from './stream-url.js';
export * from './schemas.js';
export * from './cloudevents.js';
export * from './json-schema.js';
export * from './validation.js';
export * from './random.js';
