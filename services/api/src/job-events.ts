/**
 * Job metrics (the API's /metrics): durations and steps/s of finished jobs, from the announcements the
 * workers publish once BullMQ holds a job finished (keys.finishedChannel, services/worker/src/worker.ts).
 *
 * Why not BullMQ's QueueEvents, which this read before: its close waits for a connection an
 * unreachable Redis never gives, so the API could not shut down while Redis was down (measured: close
 * still pending after 5 s against a closed port); a pub/sub subscriber disconnects at once.
 */
import type { Config } from '@featurevis/config';
import { createRedis, statusFromState, type JobOutcome, type JobStore } from '@featurevis/queue';
import type { ApiMetrics } from './metrics.ts';

/** Feeds job durations and steps/s into the metrics as workers announce finished jobs. */
export function observeJobEvents(config: Config, store: JobStore, metrics: ApiMetrics): { close(): Promise<void> } {
  const subscriber = createRedis(config.redisUrl!, 'subscriber');
  // Connection errors (Redis restarting): ioredis reconnects and subscribes again; metrics miss the
  // jobs announced meanwhile.
  subscriber.on('error', () => {});
  const observe = async (id: string) => {
    const [job, run] = await Promise.all([store.queue.getJob(id), store.runTimes(id)]);
    // Only a job's last attempt sets finishedOn (a failed attempt that will be retried is announced too;
    // so is a batched run's unit when its result is stored, before BullMQ has it: observed when it
    // does); sweeps are announced by their id, which is no job's.
    if (!job?.processedOn || !job.finishedOn) return;
    const status = statusFromState(await store.jobState(id), job.failedReason, false);
    const outcome = job.returnvalue as JobOutcome | undefined;
    // The run's own times where they were kept with its result: a handed-over unit's BullMQ times are
    // the hand-over's (milliseconds), not its run's.
    const durationMs = run?.startedAt != null ? run.finishedAt - run.startedAt : job.finishedOn - job.processedOn;
    metrics.observeJob({ durationS: durationMs / 1000, stepsPerSecond: outcome?.metrics?.stepsPerSecond as number | undefined, status });
  };
  subscriber.on('message', (_channel: string, id: string) => { observe(id).catch(() => {}); });
  subscriber.subscribe(store.keys.finishedChannel).catch(() => {});
  return { close: async () => { subscriber.disconnect(); } };
}
