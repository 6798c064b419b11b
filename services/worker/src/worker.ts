/**
 * A featurevis worker: a BullMQ Worker whose processor runs the engine in a thread pool, a subscription
 * to the cancel channel that reaches the jobs running here, and a bounded graceful shutdown.
 */
import { Worker } from 'bullmq';
import type { Logger } from 'pino';
import type { Config } from '@featurevis/config';
import { ReferenceSetCatalog, type ModelCatalog } from '@featurevis/catalog';
import type { EngineSettingsRequest } from '@featurevis/contracts';
import { createRedis, QUEUE_NAME, writeSweepManifestIfComplete, type JobOutcome, type JobStore, type QueuedJobData } from '@featurevis/queue';
import type { Storage } from '@featurevis/storage';
import { EnginePool } from './engine-pool.ts';
import type { NativeConvStatus } from './engine-protocol.ts';
import { createProcessor, type WorkerStats } from './process-job.ts';
import { ReferenceSetLoader } from './reference-sets.ts';

export interface WorkerDeps {
  config: Config;
  store: JobStore;
  storage: Storage;
  catalog: ModelCatalog;
  logger: Logger;
}

export interface RunningWorker {
  worker: Worker<QueuedJobData, JobOutcome>;
  engine: EnginePool;
  backend: { name: string; package: string; threads?: number; nativeConv?: NativeConvStatus };
  /** Engine runs started (a batched run counts once) and tensors the engine left behind, since start. */
  stats: WorkerStats;
  close(): Promise<void>;
}

export async function startWorker(deps: WorkerDeps): Promise<RunningWorker> {
  const { config, store, storage, catalog, logger } = deps;
  const referenceSets = new ReferenceSetLoader(new ReferenceSetCatalog(storage), config.referenceSetCacheMb * 1024 * 1024);
  const engine = new EnginePool({
    size: config.workerConcurrency,
    backendPreference: config.tfjsBackend,
    wasmThreads: config.wasmThreads,
    wasmThreadsMinPixels: config.wasmThreadsMinPixels,
    nativeConv: config.nativeConv !== 'off',
    modelCacheBytes: config.modelCacheMb * 1024 * 1024,
    loadModelFiles: async (id) => {
      const files = await catalog.files(id);
      const paths = ((files.modelJson as { weightsManifest?: Array<{ paths: string[] }> }).weightsManifest ?? []).flatMap((g) => g.paths);
      const weights = Object.fromEntries(await Promise.all(paths.map(async (p) => [p, await files.readWeights(p)] as const)));
      return { modelJson: files.modelJson, weights };
    },
    loadReferenceSets: (spec, sizePx) => referenceSets.forRun(spec as EngineSettingsRequest, sizePx),
  });
  const backend = await engine.backend();
  logger.info({ backend: backend.name, package: backend.package, ...(backend.threads ? { threads: backend.threads } : {}), ...(backend.nativeConv ? { nativeConv: backend.nativeConv } : {}) }, 'TensorFlow.js backend selected');

  const running = new Map<string, () => void>();
  const stats: WorkerStats = { engineRuns: 0, leakedTensors: 0 };
  const subscriber = createRedis(config.redisUrl!, 'subscriber');
  // Handed to BullMQ, which closes only the connections it made itself: closed below.
  const connection = createRedis(config.redisUrl!, 'worker');
  await subscriber.subscribe(store.keys.cancelChannel);
  subscriber.on('message', (_channel, jobId: string) => {
    const cancel = running.get(jobId);
    if (cancel) { logger.info({ jobId }, 'cancel received; stopping between steps'); cancel(); }
  });

  const worker = new Worker<QueuedJobData, JobOutcome>(QUEUE_NAME, createProcessor({
    store, storage, catalog, engine, logger, progressEverySteps: config.progressEverySteps, running, stats, storeConcurrency: config.storeConcurrency,
    batch: { maxUnits: config.sweepBatchMax, pixelBudget: config.sweepBatchPixels },
  }), {
    connection,
    prefix: config.queuePrefix,
    concurrency: config.workerConcurrency,
    lockDuration: config.lockDurationMs,
    stalledInterval: config.stalledIntervalMs,
    maxStalledCount: 1,
  });
  // A sweep's manifest is written once its last unit is final, from BullMQ's completion events rather
  // than inside the processor: only then is the unit's result (its return value) in Redis for the
  // manifest to list. Every final unit re-checks, so whichever completes last writes the full manifest.
  const writeManifest = (job: { id?: string; data: QueuedJobData } | undefined) => {
    const sweepId = job?.data.sweepId;
    if (!sweepId) return;
    writeSweepManifestIfComplete(store, storage, sweepId, logger.child({ jobId: job.id, sweepId }))
      .catch((err) => logger.error({ err, sweepId }, 'sweep manifest not written'));
  };
  // Clients long-polling the job (the API's finish-waiters.ts) learn at once that BullMQ holds it finished.
  const announce = (job: { id?: string } | undefined) => {
    if (job?.id) store.announceFinished(job.id).catch((err) => logger.warn({ err, jobId: job.id }, 'finish not announced'));
  };
  worker.on('completed', (job) => { announce(job); writeManifest(job); });
  worker.on('failed', (job) => { announce(job); writeManifest(job); });
  worker.on('stalled', (jobId) => logger.warn({ jobId }, 'job stalled; it will be re-run'));
  worker.on('error', (err) => logger.error({ err }, 'worker error'));

  return {
    worker, engine, backend, stats,
    async close() {
      // worker.close() waits for running jobs and can hang while Redis is unreachable: bound it. A job
      // cut off here keeps its state in Redis; its lock lapses and another worker re-runs it as stalled.
      const timeout = new Promise<'timeout'>((resolve) => setTimeout(resolve, config.workerCloseTimeoutMs, 'timeout').unref());
      const closed = worker.close();
      const result = await Promise.race([closed.then(() => 'closed' as const), timeout]);
      if (result === 'timeout') {
        // close(true) would only return the close under way (BullMQ keeps one), and worker.disconnect()
        // waits for an 'end' that a reconnecting client never emits: both hang with Redis down
        // (test/worker-close.test.ts). End BullMQ's own blocking connection without waiting (ours
        // below) and abandon its close.
        logger.warn('worker did not close in time; disconnecting');
        closed.catch(() => {});
        await worker.backend.disconnectBlocking(false).catch(() => {});
      }
      await engine.close();
      subscriber.disconnect();
      connection.disconnect();
    },
  };
}
