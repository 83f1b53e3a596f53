export * from './sliding-window.js';
export * from './rollup.js';
