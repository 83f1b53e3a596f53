export * from './thumbnail.js';
export * from './vision-model.js';
export * from './preprocess.js';
