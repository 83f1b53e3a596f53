export * from './thumbnail.js';
export * from './vision-model.js';
export * from './preprocess.js';
export * from './dynamic-batcher.js';
export * from './near-duplicate-gate.js';
export * from './encode-path.js';
export * from './ort-session.js';
export * from './object-detector.js';
