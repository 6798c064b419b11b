/**
 * The API's job metrics feed (job-events.ts) closes at once even with Redis unreachable: the API's
 * shutdown waits for it (server.ts). With BullMQ's QueueEvents, which it used before, the close stayed
 * pending (the test's timeout fails a hang). That it observes finished jobs is checked end to end in
 * test/jobs.test.ts (the duration histogram has samples after a job ran).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '@featurevis/config';
import { createRedis, freePort, JobStore } from '@featurevis/queue';
import { observeJobEvents } from '../src/job-events.ts';
import { createMetrics } from '../src/metrics.ts';

test('closing the metrics feed does not wait for an unreachable Redis', { timeout: 10_000 }, async () => {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const redis = createRedis(url, 'api');
  redis.on('error', () => {});
  const store = new JobStore({ redis, prefix: 'metrics-feed', attempts: 1, backoffMs: 10, retentionS: 3600, idempotencyTtlS: 3600 });
  const feed = observeJobEvents(loadConfig({}, { redisUrl: url, logLevel: 'silent' }), store, createMetrics(store));
  await new Promise((resolve) => setTimeout(resolve, 300)); // connecting, failing, retrying
  // A close that waited for the connection would never settle: the test's timeout fails it.
  await assert.doesNotReject(feed.close());
  redis.disconnect();
});
