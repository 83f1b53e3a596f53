export * from './frame-change.js';
export * from './change-detector.js';
export * from './patch-change.js';
