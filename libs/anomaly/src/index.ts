export * from './change-detector.js';
export * from './patch-change.js';
export * from './geometry.js';
export * from './event-tracker.js';
export * from './baseline.js';
export * from './health.js';
export * from './scene-scorer.js';
