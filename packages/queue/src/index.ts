export * from './connection.ts';
export * from './errors.ts';
export * from './keys.ts';
export * from './records.ts';
export * from './job-store.ts';
export * from './batch-key.ts';
export * from './sweep-manifest.ts';
export * from './redis-server.ts';
