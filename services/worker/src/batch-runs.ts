/**
 * Batched runs. Every job is its own BullMQ job, with its own status, retries and result; but one
 * optimisation step costs nearly the same for 1 image as for many (the model's weights are read once
 * per pass), so running one-image jobs one by one wastes most of the machine.
 *
 * When a worker takes a job that may share a run, it becomes the leader of a batch: it claims
 * companions that are already waiting (a Redis key per job, renewed while it runs) and optimises them
 * all in one run, each batch item with its own objective. Companions are found in two ways: a sweep
 * unit's are the sweep's next units; a single job's are the waiting jobs with its compatibility key
 * (packages/queue batch-key.ts: same model, size, steps, method and every other setting). No job waits
 * for companions: only what is already queued is grouped.
 *
 * Each job's images and metadata are written under its own keys, and its outcome is left in Redis
 * (unless it was canceled meanwhile). When a worker later takes a claimed job, it returns that outcome
 * instead of computing again (or waits for the leader, or runs the job itself if the leader failed
 * and gave its claims back, or died and let them expire). A worker also claims the job BullMQ hands
 * it, so a leader never claims a job that another worker has started. BullMQ's own guarantees (one
 * active holder per job, retries, stalled checks) stay as they are: the batching lives only in the
 * processor.
 *
 * Each item of a batched run draws its random numbers (initial noise, transform offsets and angles)
 * from its own job's seed (the engine's `itemSeeds`), so a job's images are those of a run of its own
 * with its seed, byte for byte on one backend, whatever it was grouped with; a sweep's units all use
 * the sweep's seed, so a unit is reproducible alone. Only a run with a `scale` transform draws from the
 * leader's seed for the whole batch (batch-key.ts drawsPerItem; its jobs group only when unseeded).
 */
import { drawsPerItem, isBatchable, type JobOutcome, type JobSpec, type JobStore, type QueuedJobData } from '@featurevis/queue';
import type { Storage } from '@featurevis/storage';

export interface BatchLimits {
  /** Most jobs in one run (1 disables batching). */
  maxUnits: number;
  /** Memory budget in image pixels: jobs × size². */
  pixelBudget: number;
}

/** How many jobs (the leader included) one batched run of images of `sizePx` may hold. */
export function batchCapacity(limits: BatchLimits, sizePx: number): number {
  return Math.max(1, Math.min(limits.maxUnits, Math.floor(limits.pixelBudget / (sizePx * sizePx))));
}

/** The spec a batched run gives the engine: the leader's settings, and each item's seed where the items can draw apart. */
export type BatchedSpec = JobSpec & { itemSeeds?: number[] };

/**
 * The leader's spec for the whole batch: one objective per item, the leader's settings and seed, and
 * each job's own seed as its item's (`itemSeeds`) unless a scale transform makes the batch draw as one.
 */
export function batchedSpec(spec: JobSpec, items: Array<{ spec: JobSpec }>): BatchedSpec {
  return {
    ...spec,
    objective: items.map((item) => item.spec.objective),
    image: { ...spec.image, batch: items.length },
    ...(drawsPerItem(spec) ? { itemSeeds: items.map((item) => item.spec.seed) } : {}),
  } as BatchedSpec;
}

export const CLAIM_TTL_S = 30;
const RENEW_EVERY_MS = 10_000;
const POLL_MS = 100;

/**
 * Claims the jobs that will share the leader's run: for a sweep unit, the sweep's next waiting units;
 * for a single job, the waiting jobs with its compatibility key. At most `capacity - 1`.
 */
export async function claimCompanions(store: JobStore, leader: { id: string; data: QueuedJobData }, capacity: number): Promise<Array<{ id: string; spec: JobSpec }>> {
  const { spec, sweepId, batchKey } = leader.data;
  if (capacity <= 1 || !isBatchable(spec)) return [];
  if (sweepId) {
    const { channel, layer } = spec.objective as { channel: number; layer: string };
    const sweep = await store.getSweep(sweepId);
    const units = await store.claimSweepUnits(sweepId, channel, sweep.end, capacity - 1, leader.id, CLAIM_TTL_S);
    return units.map((unit) => ({ id: unit.id, spec: { ...spec, objective: { type: 'channel', layer, channel: unit.channel } } as JobSpec }));
  }
  if (batchKey) return store.claimCompatibleJobs(batchKey, capacity - 1, leader.id, CLAIM_TTL_S);
  return [];
}

/** Keeps claims alive while the run goes (ids pushed later are renewed too); returns the function that stops. */
export function renewWhileRunning(store: JobStore, ids: string[]): () => void {
  const timer = setInterval(() => { store.renewClaims(ids, CLAIM_TTL_S).catch(() => {}); }, RENEW_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * What the worker BullMQ handed job `id` to does with it, once it has read that no outcome is stored for
 * it yet (JobStore.onTaking): stop because it was canceled while a batched run held it, return the
 * outcome that run leaves for it, or run it here (`'run'`: its own claim is set, so no leader takes it
 * from now on). Waits while another worker's batched run holds it.
 */
export async function takeJob(store: JobStore, id: string, canceled: () => Promise<boolean>): Promise<JobOutcome | 'canceled' | 'run'> {
  for (;;) {
    if ((await store.claimOwn(id, CLAIM_TTL_S)) === id) {
      // A leader stores the outcome before it releases its claim: look once more now that ours is set.
      const late = await store.batchedOutcome(id);
      if (!late) return 'run';
      await store.releaseClaims([id]);
      return late;
    }
    if (await canceled()) return 'canceled';
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    const outcome = await store.batchedOutcome(id);
    if (outcome) return outcome;
  }
}

/** Deletes what a batched run stored for a job that was canceled before it could return it. */
export async function discardOutcome(storage: Storage, outcome: JobOutcome): Promise<void> {
  const stored = [...outcome.images, ...(outcome.attributions ?? []), ...(outcome.examples ?? []), ...outcome.snapshots, outcome.metadata];
  await Promise.all(stored.map(({ key }) => storage.delete(key).catch(() => {})));
}
