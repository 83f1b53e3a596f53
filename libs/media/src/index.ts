export * from './ffmpeg-args.js';
export * from './jpeg-splitter.js';
export * from './ffmpeg-process.js';
export * from './child-guard.js';
export * from './backoff.js';
export * from './stream-supervisor.js';
export * from './raw-frame-splitter.js';
export * from './failure.js';
