/**
 * The worker's processor: a plain async function of a job. Take the job, run the engine, store the
 * result, report. Keys are deterministic (jobs/{id}/...), so a retried job overwrites, never duplicates.
 * A job with `compare` runs on each of its models in turn (compare-job.ts).
 */
import { UnrecoverableError, type Job } from 'bullmq';
import pMap from 'p-map';
import type { Logger } from 'pino';
import type { ModelCatalog } from '@featurevis/catalog';
import { ModelNotFoundError } from '@featurevis/catalog';
import { CANCELED_BEFORE_START_REASON, CANCELED_REASON, type JobOutcome, type JobSpec, type JobStore, type QueuedJobData } from '@featurevis/queue';
import type { Storage } from '@featurevis/storage';
import { runComparison } from './compare-job.ts';
import { EngineRunError, type EnginePool } from './engine-pool.ts';
import { batchCapacity, batchedSpec, type BatchedSpec, claimCompanions, discardOutcome, renewWhileRunning, takeJob, type BatchLimits } from './batch-runs.ts';

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
  /** Sweep units and compatible jobs optimised together (batch-runs.ts). */
  batch: BatchLimits;
  /** Counters the worker exposes: engine runs started, tensors the engine left behind. */
  stats: WorkerStats;
  /** Running jobs' cancel handles, for the cancel channel. */
  running: Map<string, () => void>;
  /** Units of a batched run whose files are written at once (STORE_CONCURRENCY). */
  storeConcurrency: number;
}

export interface WorkerStats { engineRuns: number; leakedTensors: number }

export function createProcessor(deps: ProcessorDeps) {
  const { store, storage, catalog, engine, running } = deps;

  return async function processJob(job: Job<QueuedJobData, JobOutcome>): Promise<JobOutcome> {
    const id = job.id!;
    const { spec, sweepId } = job.data;
    const log = deps.logger.child({ jobId: id, ...(sweepId ? { sweepId } : {}) });
    const attempts = job.opts.attempts ?? 1;
    const isLastAttempt = job.attemptsMade + 1 >= attempts;
    /**
     * Records the final status; true for the first record (a retried job's second is not counted).
     * `runningDelta`: how a sweep's running count moves with it, in the same atomic step.
     */
    const finish = async (status: 'succeeded' | 'failed' | 'canceled', runningDelta = 0, details: { error?: string } = {}): Promise<boolean> =>
      // The sweep's manifest follows from the worker's completion events (worker.ts). A failure's
      // message goes with the mark: the job shows it at once, as BullMQ's failedReason a moment later.
      store.recordFinal(id, sweepId, status, runningDelta, details);

    // Taken: no batched run may claim it from the index of waiting jobs any more (batch-runs.ts).
    const { cancelRequested, computed } = await store.onTaking(id, job.data);
    if (cancelRequested) {
      log.info('canceled before it started; not run');
      // Canceled after a batched run stored its result: nobody will read what that run wrote for it.
      if (computed) await discardOutcome(storage, computed.outcome);
      // (Only a result stored before results were final when stored can meet a cancel here: its sweep
      // counted it running until handed over.)
      await finish('canceled', computed ? -1 : 0);
      throw new UnrecoverableError(CANCELED_BEFORE_START_REASON);
    }
    // Computed in a batched run: handed over as read above, final already (its run recorded it).
    if (computed?.recorded) {
      log.info('result computed in a batched run');
      return computed.outcome;
    }
    // Else run here, or wait for the run holding it (or hand over a result stored bare, below); onTaking
    // has read that none is stored yet, which takeJob does not read again.
    const taken = computed?.outcome ?? await takeJob(store, id, () => store.isCancelRequested(id));
    if (taken === 'canceled') {
      log.info('canceled while a batched run held it');
      await finish('canceled');
      throw new UnrecoverableError(CANCELED_REASON);
    }
    if (taken !== 'run') {
      log.info('result computed in a batched run');
      // Final already where putResult marked and counted it (a no-op then); a result stored bare,
      // before results were final when stored, counts here and leaves the running count.
      await finish('succeeded', -1);
      return taken;
    }
    if (sweepId) await store.markSweepRunning(sweepId, 1);
    /**
     * This unit, and the sweep's other units this run optimises, counted as running while it does,
     * until the store counts each of them succeeded with its stored result; the rest are counted down
     * when the run ends.
     */
    let ownUnitRunning = sweepId ? 1 : 0;
    let companionUnitsRunning = 0;
    const startedAt = Date.now();
    // This job's own claim and those of the companions it claims, renewed while the run goes.
    const claims = [id];
    const stopRenewing = renewWhileRunning(store, claims);
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
      // This job and the waiting jobs that fit its batch budget: a sweep's next units, or jobs that
      // differ from it only in their objective (batch-runs.ts).
      const capacity = batchCapacity(deps.batch, spec.image?.size ?? view.input.defaultSizePx);
      const companions = await claimCompanions(store, { id, data: job.data }, capacity);
      claims.push(...companions.map((companion) => companion.id));
      if (sweepId && companions.length > 0) {
        companionUnitsRunning = companions.length;
        await store.markSweepRunning(sweepId, companionUnitsRunning);
      }
      const units: Array<{ id: string; spec: JobSpec }> = [{ id, spec }, ...companions];
      const runSpec: BatchedSpec = units.length > 1 ? batchedSpec(spec, units) : spec;
      log.info({ model: spec.model, steps: spec.steps, attempt: job.attemptsMade + 1, ...(units.length > 1 ? { batchedUnits: units.length } : {}) }, 'job started');
      deps.stats.engineRuns += 1;
      const handle = engine.run(view, runSpec, {
        progressEverySteps: deps.progressEverySteps,
        onProgress: (p) => { job.updateProgress(p).catch((err) => log.warn({ err }, 'progress update failed')); },
      });
      running.set(id, handle.cancel);
      // A cancel that arrived between the check above and registering the handle.
      if (await store.isCancelRequested(id)) handle.cancel();
      const output = await handle.promise.finally(() => { running.delete(id); });
      deps.stats.leakedTensors += output.leakedTensors;
      if (output.leakedTensors > 0) log.warn({ leakedTensors: output.leakedTensors }, 'engine left tensors behind');

      const finishedAt = Date.now();
      /** Stores one unit's files (images first, metadata.json last) and returns its outcome; null for a companion canceled meanwhile. */
      const storeUnit = async ([item, unit]: [number, { id: string; spec: JobSpec }]): Promise<JobOutcome | null> => {
        // A companion canceled while the run went gets nothing written; its own job reports the cancel.
        if (item > 0 && await store.isCancelRequested(unit.id)) return null;
        // In a batched run each unit owns one batch item, stored as that unit's image 0.
        const own = <T extends { index: number }>(list: T[]) => units.length > 1 ? list.filter((x) => x.index === item).map((x) => ({ ...x, index: 0 })) : list;
        const put = async <T>(key: string, png: Uint8Array, entry: T): Promise<T> => {
          await storage.put(key, png, { contentType: 'image/png' });
          return entry;
        };
        const [images, examples, attributions, snapshots] = await Promise.all([
          Promise.all(own(output.images).map((image) => {
            const key = jobKeys.image(unit.id, image.index);
            return put(key, image.png, { key, width: image.width, height: image.height, index: image.index });
          })),
          Promise.all(own(output.examples ?? []).map((example) => {
            const key = jobKeys.example(unit.id, example.index, example.kind, example.rank);
            return put(key, example.png, { key, width: example.width, height: example.height, index: example.index, kind: example.kind, rank: example.rank, value: example.value, label: example.label, referenceIndex: example.referenceIndex });
          })),
          Promise.all(own(output.attributions ?? []).map((map) => {
            const key = jobKeys.attribution(unit.id, map.index);
            return put(key, map.png, { key, width: map.width, height: map.height, index: map.index });
          })),
          Promise.all(own(output.snapshots).map((snap) => {
            const key = jobKeys.snapshot(unit.id, snap.step, snap.index);
            return put(key, snap.png, { key, width: snap.width, height: snap.height, index: snap.index, step: snap.step });
          })),
        ]);
        const metrics = { ...(units.length > 1 ? metricsOfItem(output.metrics, item) : output.metrics), stepsPerSecond: output.timings.stepsPerSecond, durationMs: finishedAt - startedAt };
        const metadataKey = jobKeys.metadata(unit.id);
        // Written last: a reader who finds metadata.json finds every image it names.
        await storage.put(metadataKey, JSON.stringify({
          jobId: unit.id,
          sweepId,
          spec: unit.spec,
          settings: units.length > 1 ? { ...output.settings, objective: unit.spec.objective, image: unit.spec.image } : output.settings,
          model: { id: view.id, name: view.name, hash: view.hash, format: view.format },
          // In a batched run each item draws from its own job's seed, so `seed` reproduces the job's
          // images alone (batch-runs.ts); with a scale transform the run drew from the leader's seed
          // (`batch.seed: 'leader'`), and only the same batch reproduces them.
          seed: runSpec.itemSeeds ? runSpec.itemSeeds[item] : spec.seed,
          backend: output.backend,
          ...(output.convolutions ? { convolutions: output.convolutions } : {}),
          attempt: job.attemptsMade + 1,
          // In a batched run the trace is the batch's mean objective per step; each unit's final value is in metrics.
          ...(units.length > 1 ? { batch: { leader: id, units: units.length, item, trace: 'batch mean', seed: runSpec.itemSeeds ? 'own' : 'leader' } } : {}),
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
        const outcome: JobOutcome = { images, ...(attributions.length ? { attributions } : {}), ...(examples.length ? { examples } : {}), snapshots, metadata: { key: metadataKey }, metrics };
        // A companion is done once its result is stored (its sweep counts it succeeded from then on; a
        // worker hands the result over through BullMQ later). Canceled while its files were written:
        // they go again, the cancel stands.
        if (item > 0) {
          const put = await store.putResult(unit.id, outcome, { sweepId, startedAt, finishedAt: Date.now() });
          if (put !== 'canceled') {
            if (sweepId && put === 'counted') companionUnitsRunning -= 1; // counted down by the store with it
            // Long polls of the job answer now, not when BullMQ hands it over.
            store.announceFinished(unit.id).catch((err) => log.warn({ err, jobId: unit.id }, 'finish not announced'));
          } else {
            await discardOutcome(storage, outcome);
          }
        }
        return outcome;
      };
      // Units are stored several at a time (STORE_CONCURRENCY, default 32): one after another, a 64-unit
      // run's writes took about as long as 5 of its 32 optimisation steps; 8 at a time ≈ 85 ms, 32 ≈ 60.
      const [leaderOutcome] = await pMap(units.entries(), storeUnit, { concurrency: deps.storeConcurrency });
      await store.releaseClaims(claims.slice(1));
      // Its own result is stored with its final mark, as its companions' are: it reads succeeded with
      // it (and its sweep counts it) from now, not only once BullMQ has stored the value returned here.
      const put = await store.putResult(id, leaderOutcome!, { sweepId, startedAt, finishedAt: Date.now() });
      if (put === 'canceled') {
        // Canceled while its files were written: they go, the cancel stands (as for its companions).
        await discardOutcome(storage, leaderOutcome!);
        throw new EngineRunError('canceled', 'canceled while its results were stored');
      }
      if (put === 'counted') ownUnitRunning = 0;
      log.info({ durationMs: finishedAt - startedAt, objective: output.metrics.objective, backend: output.backend, units: units.length }, 'job succeeded');
      return leaderOutcome!;
    } catch (err) {
      // Jobs this run had claimed run on their own when a worker takes them.
      await store.releaseClaims(claims.slice(1)).catch((e) => log.warn({ err: e }, 'could not release batched jobs'));
      if (err instanceof EngineRunError && err.kind === 'canceled') {
        log.info('canceled while running');
        await finish('canceled');
        throw new UnrecoverableError(CANCELED_REASON);
      }
      if (err instanceof EngineRunError && err.kind === 'invalid') {
        log.warn({ err: err.message }, 'job can never succeed; not retried');
        await finish('failed', 0, { error: err.message });
        throw new UnrecoverableError(err.message);
      }
      log.error({ err, attempt: job.attemptsMade + 1, of: attempts }, isLastAttempt ? 'job failed' : 'job attempt failed; will retry');
      if (isLastAttempt) await finish('failed', 0, { error: (err as Error).message });
      throw err;
    } finally {
      running.delete(id);
      stopRenewing();
      await store.releaseClaims([id]).catch((e) => log.warn({ err: e }, 'could not release its own claim'));
      if (sweepId && ownUnitRunning + companionUnitsRunning > 0) await store.markSweepRunning(sweepId, -ownUnitRunning - companionUnitsRunning);
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
