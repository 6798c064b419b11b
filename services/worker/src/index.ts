export { startWorker, type RunningWorker, type WorkerDeps } from './worker.ts';
export { createProcessor, jobKeys } from './process-job.ts';
export { EnginePool, EngineRunError } from './engine-pool.ts';
