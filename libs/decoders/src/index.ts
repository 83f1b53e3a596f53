export * from './decoder.js';
export * from './grounded-decoder.js';
