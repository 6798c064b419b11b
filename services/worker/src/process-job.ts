/**
 * The worker's processor: a plain async function of a job. Take the job, run the engine, store the
 * result, report. Keys are deterministic (jobs/{id}/...), so a retried job overwrites, never duplicates.
 */
import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { ModelCatalog } from '@featurevis/catalog';
import { ModelNotFoundError } from '@featurevis/catalog';
import { CANCELED_BEFORE_START_REASON, CANCELED_REASON, type JobOutcome, type JobStore, type QueuedJobData } from '@featurevis/queue';
import type { Storage } from '@featurevis/storage';
import { EngineRunError, type EnginePool } from './engine-pool.ts';

export const jobKeys = {
  image: (id: string, index: number) => `jobs/${id}/image-${index}.png`,
  snapshot: (id: string, step: number, index: number) => `jobs/${id}/snapshots/step-${String(step).padStart(5, '0')}-image-${index}.png`,
  metadata: (id: string) => `jobs/${id}/metadata.json`,
};

export interface ProcessorDeps {
  store: JobStore;
  storage: Storage;
  catalog: ModelCatalog;
  engine: EnginePool;
  logger: Logger;
  progressEverySteps: number;
  /** Running jobs' cancel handles, for the cancel channel. */
  running: Map<string, () => void>;
}

export function createProcessor(deps: ProcessorDeps) {
  const { store, storage, catalog, engine, running } = deps;

  return async function processJob(job: Job<QueuedJobData, JobOutcome>): Promise<JobOutcome> {
    const id = job.id!;
    const { spec, sweepId } = job.data;
    const log = deps.logger.child({ jobId: id, ...(sweepId ? { sweepId } : {}) });
    const attempts = job.opts.attempts ?? 1;
    const isLastAttempt = job.attemptsMade + 1 >= attempts;
    const finish = async (status: 'succeeded' | 'failed' | 'canceled') => {
      // The sweep's manifest follows from the worker's completion events (worker.ts).
      await store.recordFinal(id, sweepId, status);
    };

    if (await store.isCancelRequested(id)) {
      log.info('canceled before it started; not run');
      await finish('canceled');
      throw new UnrecoverableError(CANCELED_BEFORE_START_REASON);
    }
    if (sweepId) await store.markSweepRunning(sweepId, 1);
    const startedAt = Date.now();
    try {
      let view;
      try { view = await catalog.get(spec.model); } catch (err) {
        if (err instanceof ModelNotFoundError) throw new EngineRunError('invalid', `model: ${err.message}`, 'model');
        throw err;
      }
      log.info({ model: spec.model, steps: spec.steps, attempt: job.attemptsMade + 1 }, 'job started');
      const handle = engine.run(view, spec, {
        progressEverySteps: deps.progressEverySteps,
        onProgress: (p) => { job.updateProgress(p).catch((err) => log.warn({ err }, 'progress update failed')); },
      });
      running.set(id, handle.cancel);
      // A cancel that arrived between the check above and registering the handle.
      if (await store.isCancelRequested(id)) handle.cancel();
      const output = await handle.promise.finally(() => running.delete(id));
      if (output.leakedTensors > 0) log.warn({ leakedTensors: output.leakedTensors }, 'engine left tensors behind');

      const images = [];
      for (const image of output.images) {
        const key = jobKeys.image(id, image.index);
        await storage.put(key, image.png, { contentType: 'image/png' });
        images.push({ key, width: image.width, height: image.height, index: image.index });
      }
      const snapshots = [];
      for (const snap of output.snapshots) {
        const key = jobKeys.snapshot(id, snap.step, snap.index);
        await storage.put(key, snap.png, { contentType: 'image/png' });
        snapshots.push({ key, width: snap.width, height: snap.height, index: snap.index, step: snap.step });
      }
      const finishedAt = Date.now();
      const metrics = { ...output.metrics, stepsPerSecond: output.timings.stepsPerSecond, durationMs: finishedAt - startedAt };
      const metadataKey = jobKeys.metadata(id);
      // Written last: a reader who finds metadata.json finds every image it names.
      await storage.put(metadataKey, JSON.stringify({
        jobId: id,
        sweepId,
        spec,
        settings: output.settings,
        model: { id: view.id, name: view.name, hash: view.hash, format: view.format },
        seed: spec.seed,
        backend: output.backend,
        attempt: job.attemptsMade + 1,
        trace: output.trace,
        metrics,
        timings: { ...output.timings, queuedMs: startedAt - job.data.createdAt, wallMs: finishedAt - startedAt },
        images,
        snapshots,
        createdAt: new Date(job.data.createdAt).toISOString(),
        startedAt: new Date(startedAt).toISOString(),
        finishedAt: new Date(finishedAt).toISOString(),
      }, null, 2), { contentType: 'application/json' });
      log.info({ durationMs: finishedAt - startedAt, objective: output.metrics.objective, backend: output.backend }, 'job succeeded');
      const outcome: JobOutcome = { images, snapshots, metadata: { key: metadataKey }, metrics };
      await finish('succeeded');
      return outcome;
    } catch (err) {
      if (err instanceof EngineRunError && err.kind === 'canceled') {
        log.info('canceled while running');
        await finish('canceled');
        throw new UnrecoverableError(CANCELED_REASON);
      }
      if (err instanceof EngineRunError && err.kind === 'invalid') {
        log.warn({ err: err.message }, 'job can never succeed; not retried');
        await finish('failed');
        throw new UnrecoverableError(err.message);
      }
      log.error({ err, attempt: job.attemptsMade + 1, of: attempts }, isLastAttempt ? 'job failed' : 'job attempt failed; will retry');
      if (isLastAttempt) await finish('failed');
      throw err;
    } finally {
      running.delete(id);
      if (sweepId) await store.markSweepRunning(sweepId, -1);
    }
  };
}
