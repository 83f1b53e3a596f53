export * from './tumbling-window.js';
