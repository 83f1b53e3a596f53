export * from './repo-root.js';
export * from './child-processes.js';
export * from './free-port.js';
export * from './local-kafka.js';
export * from './rtsp-server.js';
export * from './synthetic-clips.js';
export * from './test-kafka.js';
export * from './wait-for.js';
