export * from './frame-change.js';
export * from './change-detector.js';
