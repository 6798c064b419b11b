/** Every Redis key the service writes beside BullMQ's own, in one place. */
export const QUEUE_NAME = 'visualize';

export function keys(prefix: string) {
  return {
    /** All jobs, newest last, as lexicographic members `<createdAt padded>:<id>` (stable cursors, see JobStore.list). */
    jobIndex: `${prefix}:index:jobs`,
    cancel: (id: string) => `${prefix}:cancel:${id}`,
    cancelChannel: `${prefix}:cancel`,
    /**
     * Published with the id of a job once BullMQ holds it finished (or an attempt failed), and of a sweep
     * once its manifest is written: the API's long polls wait for these (services/api/src/finish-waiters.ts).
     */
    finishedChannel: `${prefix}:finished`,
    /** Set once, by whoever records a job's final outcome first (worker or canceler), so sweep counts never double. */
    final: (id: string) => `${prefix}:final:${id}`,
    idempotency: (key: string) => `${prefix}:idempotency:${key}`,
    sweep: (id: string) => `${prefix}:sweep:${id}`,
    sweepCounts: (id: string) => `${prefix}:sweep:${id}:counts`,
    /**
     * Who runs a job: the job itself (its worker took it) or the leader of the batched run that holds it.
     * Set only if absent, expires unless renewed.
     */
    batchClaim: (id: string) => `${prefix}:batch:claim:${id}`,
    /** A unit's result, computed in another unit's batched run, for the unit's own job to return. */
    batchOutcome: (id: string) => `${prefix}:batch:outcome:${id}`,
    /** Waiting jobs that may share a run, by compatibility key (batch-key.ts): member job id, score createdAt. */
    batchWaiting: (batchKey: string) => `${prefix}:batch:waiting:${batchKey}`,
  };
}
export type Keys = ReturnType<typeof keys>;

/** Sweep jobs have derived ids, so a sweep needs no list of its jobs. */
export const sweepJobId = (sweepId: string, channel: number) => `${sweepId}-c${channel}`;

/** The sweep a job id belongs to (the inverse of sweepJobId: sweep ids start `s-`), or null for a job of its own. */
export function sweepIdOfJob(jobId: string): string | null {
  return /^(s-.+)-c\d+$/.exec(jobId)?.[1] ?? null;
}
