export { buildApp, type AppDeps } from './app.ts';
export { observeJobEvents } from './job-events.ts';
export { startApi } from './server.ts';
