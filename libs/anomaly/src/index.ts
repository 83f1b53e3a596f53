export * from './change-detector.js';
export * from './patch-change.js';
