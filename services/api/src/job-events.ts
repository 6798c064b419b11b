/** Job metrics from BullMQ's events (the API's /metrics). */
import { QueueEvents } from 'bullmq';
import type { Config } from '@featurevis/config';
import { createRedis, isCanceledReason, QUEUE_NAME, type JobOutcome, type JobStore } from '@featurevis/queue';
import type { ApiMetrics } from './metrics.ts';

/** Feeds job durations and steps/s into the metrics from BullMQ's completion events. */
export function observeJobEvents(config: Config, store: JobStore, metrics: ApiMetrics): { close(): Promise<void> } {
  const connection = createRedis(config.redisUrl!, 'subscriber');
  const events = new QueueEvents(QUEUE_NAME, { connection, prefix: config.queuePrefix });
  const observe = async (jobId: string, status: string) => {
    const job = await store.queue.getJob(jobId);
    if (!job?.processedOn || !job.finishedOn) return;
    const outcome = job.returnvalue as JobOutcome | undefined;
    metrics.observeJob({ durationS: (job.finishedOn - job.processedOn) / 1000, stepsPerSecond: outcome?.metrics?.stepsPerSecond as number | undefined, status });
  };
  events.on('completed', ({ jobId }) => { observe(jobId, 'succeeded').catch(() => {}); });
  events.on('failed', ({ jobId, failedReason }) => { observe(jobId, isCanceledReason(failedReason) ? 'canceled' : 'failed').catch(() => {}); });
  // A connection handed to BullMQ stays the caller's to close.
  return { close: async () => { await events.close(); connection.disconnect(); } };
}
