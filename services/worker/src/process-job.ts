/**
 * The worker's processor: a plain async function of a job. Take the job, run the engine, store the
 * result, report. Keys are deterministic (jobs/{id}/...), so a retried job overwrites, never duplicates.
 * A job with `compare` runs on each of its models in turn (compare-job.ts).
 */
import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { ModelCatalog } from '@featurevis/catalog';
import { ModelNotFoundError } from '@featurevis/catalog';
import { CANCELED_BEFORE_START_REASON, CANCELED_REASON, type JobOutcome, type JobSpec, type JobStore, type QueuedJobData } from '@featurevis/queue';
import type { Storage } from '@featurevis/storage';
import { runComparison } from './compare-job.ts';
import { EngineRunError, type EnginePool } from './engine-pool.ts';
import { awaitBatchedOutcome, batchCapacity, batchedSpec, CLAIM_TTL_S, isBatchableUnit, renewWhileRunning, type BatchLimits } from './sweep-batch.ts';

export const jobKeys = {
  image: (id: string, index: number) => `jobs/${id}/image-${index}.png`,
  attribution: (id: string, index: number) => `jobs/${id}/attribution-${index}.png`,
  example: (id: string, index: number, kind: 'top' | 'bottom', rank: number) => `jobs/${id}/examples/image-${index}-${kind}-${rank}.png`,
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
  /** Sweep units optimised together (sweep-batch.ts). */
  batch: BatchLimits;
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
    if (sweepId && ((await store.claimOf(id)) || (await store.batchedOutcome(id)))) {
      // Another worker's batched run took this unit (sweep-batch.ts): its result comes from there.
      const batched = await awaitBatchedOutcome(store, id, () => store.isCancelRequested(id));
      if (batched === 'canceled') {
        log.info('canceled while its batched run was going');
        await finish('canceled');
        throw new UnrecoverableError(CANCELED_REASON);
      }
      if (batched) {
        log.info('result computed in a batched sweep run');
        await finish('succeeded');
        return batched;
      }
      log.info('its batched run gave it back; running it on its own');
    }
    if (sweepId) await store.markSweepRunning(sweepId, 1);
    const startedAt = Date.now();
    let claimedIds: string[] = [];
    try {
      let view;
      try { view = await catalog.get(spec.model); } catch (err) {
        if (err instanceof ModelNotFoundError) throw new EngineRunError('invalid', `model: ${err.message}`, 'model');
        throw err;
      }
      if (spec.compare) {
        // Features across training / comparing networks: one run per model, then cross-scoring (compare-job.ts).
        const views = await Promise.all(spec.compare.models.map((modelId, k) => modelId === view.id ? view : catalog.get(modelId).catch((err) => {
          if (err instanceof ModelNotFoundError) throw new EngineRunError('invalid', `compare.models[${k}]: ${err.message}`, `compare.models[${k}]`);
          throw err;
        })));
        log.info({ model: spec.model, models: views.length, steps: spec.steps, attempt: job.attemptsMade + 1 }, 'job started');
        const outcome = await runComparison({ job, spec, views, store, storage, engine, log, progressEverySteps: deps.progressEverySteps, running, startedAt });
        log.info({ durationMs: Date.now() - startedAt, objective: outcome.metrics.objective, models: views.length }, 'job succeeded');
        await finish('succeeded');
        return outcome;
      }
      // This unit and, for a sweep, the next waiting units of the same sweep that fit the batch budget.
      const units: Array<{ id: string; spec: JobSpec }> = [{ id, spec }];
      if (sweepId && isBatchableUnit(spec)) {
        const capacity = batchCapacity(deps.batch, spec.image?.size ?? view.input.defaultSizePx);
        if (capacity > 1) {
          const { channel, layer } = spec.objective as { channel: number; layer: string };
          const sweep = await store.getSweep(sweepId);
          const claimed = await store.claimSweepUnits(sweepId, channel, sweep.end, capacity - 1, id, CLAIM_TTL_S);
          claimedIds = claimed.map((unit) => unit.id);
          for (const unit of claimed) units.push({ id: unit.id, spec: { ...spec, objective: { type: 'channel', layer, channel: unit.channel } } as JobSpec });
        }
      }
      const runSpec = units.length > 1 ? batchedSpec(spec, units.map((unit) => unit.spec.objective as { channel: number })) : spec;
      log.info({ model: spec.model, steps: spec.steps, attempt: job.attemptsMade + 1, ...(units.length > 1 ? { batchedUnits: units.length } : {}) }, 'job started');
      const handle = engine.run(view, runSpec, {
        progressEverySteps: deps.progressEverySteps,
        onProgress: (p) => { job.updateProgress(p).catch((err) => log.warn({ err }, 'progress update failed')); },
      });
      running.set(id, handle.cancel);
      // A cancel that arrived between the check above and registering the handle.
      if (await store.isCancelRequested(id)) handle.cancel();
      const stopRenewing = renewWhileRunning(store, claimedIds);
      const output = await handle.promise.finally(() => { running.delete(id); stopRenewing(); });
      if (output.leakedTensors > 0) log.warn({ leakedTensors: output.leakedTensors }, 'engine left tensors behind');

      const finishedAt = Date.now();
      const outcomes: JobOutcome[] = [];
      for (const [item, unit] of units.entries()) {
        // In a batched run each unit owns one batch item, stored as that unit's image 0.
        const own = <T extends { index: number }>(list: T[]) => units.length > 1 ? list.filter((x) => x.index === item).map((x) => ({ ...x, index: 0 })) : list;
        const images = [];
        for (const image of own(output.images)) {
          const key = jobKeys.image(unit.id, image.index);
          await storage.put(key, image.png, { contentType: 'image/png' });
          images.push({ key, width: image.width, height: image.height, index: image.index });
        }
        const examples = [];
        for (const example of own(output.examples ?? [])) {
          const key = jobKeys.example(unit.id, example.index, example.kind, example.rank);
          await storage.put(key, example.png, { contentType: 'image/png' });
          examples.push({ key, width: example.width, height: example.height, index: example.index, kind: example.kind, rank: example.rank, value: example.value, label: example.label, referenceIndex: example.referenceIndex });
        }
        const attributions = [];
        for (const map of own(output.attributions ?? [])) {
          const key = jobKeys.attribution(unit.id, map.index);
          await storage.put(key, map.png, { contentType: 'image/png' });
          attributions.push({ key, width: map.width, height: map.height, index: map.index });
        }
        const snapshots = [];
        for (const snap of own(output.snapshots)) {
          const key = jobKeys.snapshot(unit.id, snap.step, snap.index);
          await storage.put(key, snap.png, { contentType: 'image/png' });
          snapshots.push({ key, width: snap.width, height: snap.height, index: snap.index, step: snap.step });
        }
        const metrics = { ...(units.length > 1 ? metricsOfItem(output.metrics, item) : output.metrics), stepsPerSecond: output.timings.stepsPerSecond, durationMs: finishedAt - startedAt };
        const metadataKey = jobKeys.metadata(unit.id);
        // Written last: a reader who finds metadata.json finds every image it names.
        await storage.put(metadataKey, JSON.stringify({
          jobId: unit.id,
          sweepId,
          spec: unit.spec,
          settings: units.length > 1 ? { ...output.settings, objective: unit.spec.objective, image: unit.spec.image } : output.settings,
          model: { id: view.id, name: view.name, hash: view.hash, format: view.format },
          seed: spec.seed,
          backend: output.backend,
          attempt: job.attemptsMade + 1,
          // In a batched run the trace is the batch's mean objective per step; each unit's final value is in metrics.
          ...(units.length > 1 ? { batch: { leader: id, units: units.length, item, trace: 'batch mean' } } : {}),
          trace: output.trace,
          metrics,
          timings: { ...output.timings, queuedMs: startedAt - job.data.createdAt, wallMs: finishedAt - startedAt },
          images,
          ...(attributions.length ? { attributions } : {}),
          ...(examples.length ? { examples } : {}),
          snapshots,
          createdAt: new Date(job.data.createdAt).toISOString(),
          startedAt: new Date(startedAt).toISOString(),
          finishedAt: new Date(finishedAt).toISOString(),
        }, null, 2), { contentType: 'application/json' });
        outcomes.push({ images, ...(attributions.length ? { attributions } : {}), ...(examples.length ? { examples } : {}), snapshots, metadata: { key: metadataKey }, metrics });
      }
      for (const [item, unit] of units.entries()) if (item > 0) await store.putBatchedOutcome(unit.id, outcomes[item]!);
      await store.releaseClaims(claimedIds);
      log.info({ durationMs: finishedAt - startedAt, objective: output.metrics.objective, backend: output.backend, units: units.length }, 'job succeeded');
      await finish('succeeded');
      return outcomes[0]!;
    } catch (err) {
      // Units this run had claimed run on their own when a worker takes them.
      await store.releaseClaims(claimedIds).catch((e) => log.warn({ err: e }, 'could not release batched units'));
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

/** One batch item's metrics from a batched run: each metric's value for that item. */
function metricsOfItem(metrics: Record<string, unknown>, item: number): Record<string, unknown> {
  const perImage = (metrics.perImage ?? {}) as Record<string, Array<number | null> | null>;
  const out: Record<string, unknown> = {};
  for (const [name, values] of Object.entries(perImage)) out[name] = values ? values[item] ?? null : null;
  out.perImage = Object.fromEntries(Object.entries(perImage).map(([name, values]) => [name, values ? [values[item] ?? null] : null]));
  return out;
}
