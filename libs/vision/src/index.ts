export * from './thumbnail.js';
