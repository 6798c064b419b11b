/**
 * Batched sweep units. A layer sweep is one BullMQ job per unit, so that each unit has its own status,
 * retries and result; but one optimisation step costs nearly the same for 1 image as for many (the
 * model's weights are read once per pass), so running the units one by one wastes most of the machine.
 *
 * When a worker takes a sweep unit, it becomes the leader of a batch: it claims the sweep's next units
 * that are still waiting (a Redis key per unit, renewed while it runs) and optimises them all in one run,
 * each batch item with its own channel objective. Each unit's images and metadata are written under the
 * unit's own keys, and its outcome is left in Redis. When a worker later takes a claimed unit, it returns
 * that outcome instead of computing again (or waits for the leader, or runs the unit itself if the
 * leader failed and gave its claims back, or died and let them expire). BullMQ's own guarantees (one
 * active holder per job, retries, stalled checks) stay as they are: the batching lives only in the
 * processor.
 */
import type { JobOutcome, JobSpec, JobStore } from '@featurevis/queue';

export interface BatchLimits {
  /** Most units in one run (1 disables batching). */
  maxUnits: number;
  /** Memory budget in image pixels: units × size². */
  pixelBudget: number;
}

/** How many units (the leader included) one batched run of images of `sizePx` may hold. */
export function batchCapacity(limits: BatchLimits, sizePx: number): number {
  return Math.max(1, Math.min(limits.maxUnits, Math.floor(limits.pixelBudget / (sizePx * sizePx))));
}

/** Units of a sweep qualify when each is one image of one channel objective (the sweep's default). */
export function isBatchableUnit(spec: JobSpec): boolean {
  const objective = spec.objective as { type?: string } | unknown[];
  return !Array.isArray(objective) && objective.type === 'channel' && (spec.image?.batch ?? 1) === 1;
}

/** The leader's spec for the whole batch: one channel objective per item. */
export function batchedSpec(spec: JobSpec, units: Array<{ channel: number }>): JobSpec {
  const { layer } = spec.objective as { layer: string };
  return {
    ...spec,
    objective: units.map(({ channel }) => ({ type: 'channel' as const, layer, channel })),
    image: { ...spec.image, batch: units.length },
  } as JobSpec;
}

export const CLAIM_TTL_S = 30;
const RENEW_EVERY_MS = 10_000;
const POLL_MS = 100;

/** Keeps the leader's claims alive while it runs; returns the function that stops renewing. */
export function renewWhileRunning(store: JobStore, ids: string[]): () => void {
  if (ids.length === 0) return () => {};
  const timer = setInterval(() => { store.renewClaims(ids, CLAIM_TTL_S).catch(() => {}); }, RENEW_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * For a unit another run has claimed: its outcome once the leader stored it, or null when the claim is
 * gone without one (the leader failed or died: run the unit here). Stops early when `canceled()`.
 */
export async function awaitBatchedOutcome(store: JobStore, id: string, canceled: () => Promise<boolean>): Promise<JobOutcome | 'canceled' | null> {
  for (;;) {
    const outcome = await store.batchedOutcome(id);
    if (outcome) return outcome;
    if (await canceled()) return 'canceled';
    if (!(await store.claimOf(id))) return (await store.batchedOutcome(id)) ?? null;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
