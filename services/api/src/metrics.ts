/**
 * Prometheus metrics (prom-client). Queue depth is read from Redis at scrape time; job durations and
 * optimisation speed are observed from the workers' announcements of finished jobs (job-events.ts), so
 * every API replica reports the whole cluster's jobs whichever worker ran them; long polls waiting are
 * this replica's own.
 */
import { Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { JobStore } from '@featurevis/queue';

export interface ApiMetrics {
  contentType: string;
  render(): Promise<string>;
  observeJob(outcome: { durationS: number; stepsPerSecond?: number; status: string }): void;
}

/** `longPollsWaiting`: how many requests of this replica wait in a long poll now (finish-waiters.ts). */
export function createMetrics(store: JobStore, longPollsWaiting: () => number = () => 0): ApiMetrics {
  const registry = new Registry();
  new Gauge({
    name: 'featurevis_api_long_polls_waiting',
    help: 'Requests of this API process waiting in a long poll (?wait=) now',
    registers: [registry],
    collect() { this.set(longPollsWaiting()); },
  });
  collectDefaultMetrics({ register: registry, prefix: 'featurevis_api_' });
  new Gauge({
    name: 'featurevis_queue_jobs',
    help: 'Jobs in the queue by BullMQ state',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const counts = await store.counts();
      for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
    },
  });
  const duration = new Histogram({
    name: 'featurevis_job_duration_seconds',
    help: 'Wall time of finished jobs from start to finish, by final status',
    labelNames: ['status'],
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600],
    registers: [registry],
  });
  const speed = new Histogram({
    name: 'featurevis_optimisation_steps_per_second',
    help: 'Optimisation steps per second of succeeded jobs',
    buckets: [0.1, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
    registers: [registry],
  });
  return {
    contentType: registry.contentType,
    render: () => registry.metrics(),
    observeJob({ durationS, stepsPerSecond, status }) {
      duration.observe({ status }, durationS);
      if (stepsPerSecond !== undefined && Number.isFinite(stepsPerSecond)) speed.observe(stepsPerSecond);
    },
  };
}
