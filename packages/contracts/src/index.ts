export * from './common.ts';
export * from './engine-spec.ts';
export * from './api.ts';
export * from './facets.ts';
