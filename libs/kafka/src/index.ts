export * from './kafka-errors.js';
export * from './kafka-client.js';
export * from './topic-admin.js';
export * from './message-bus.js';
export * from './stream-registry.js';
export * from './table-reader.js';
export * from './dead-letters.js';
export * from './outbox.js';
