/**
 * FinishWaiters wakes a waiting read on the events that can finish a job: BullMQ's completion (a real
 * Worker completing a real job), a cancel on the cancel channel, a sweep's unit for the sweep, and the
 * announcement that a sweep's manifest is written. The
 * re-check interval is set beyond the tests' timeout here, so a read that is not woken by its event
 * makes its test time out: each assertion counts the reads (one before the event, one after).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'bullmq';
import { createRedis, JobStore, QUEUE_NAME, startRedisServer, sweepJobId, type RedisServerHandle } from '@featurevis/queue';
import { FinishWaiters } from '../src/finish-waiters.ts';

const PREFIX = 'waiters';
let server: RedisServerHandle;
let redis: ReturnType<typeof createRedis>;
let store: JobStore;
let waiters: FinishWaiters;

before(async () => {
  server = await startRedisServer();
  redis = createRedis(server.url, 'api');
  store = new JobStore({ redis, prefix: PREFIX, attempts: 1, backoffMs: 10, retentionS: 3600, idempotencyTtlS: 3600 });
  waiters = new FinishWaiters(redis, store, PREFIX, 300, 10 * 60_000);
});
after(async () => { await waiters.close(); await store.close(); redis.disconnect(); await server.stop(); });

/** A read that reports "finished" once `done()` has been called; counts its calls. */
function reader() {
  let finished = false;
  const state = { reads: 0, done: () => { finished = true; } };
  return { state, read: async () => { state.reads++; return finished; } };
}

test('a cancel on the cancel channel wakes the job\'s waiting read; a sweep unit\'s wakes the sweep\'s', { timeout: 20_000 }, async () => {
  const job = reader();
  const waiting = waiters.readUntilFinished('j-canceled', 300, job.read, (finished) => finished);
  while (job.state.reads === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  job.state.done();
  await redis.publish(store.keys.cancelChannel, 'j-canceled');
  assert.equal(await waiting, true);
  assert.equal(job.state.reads, 2);

  const sweep = reader();
  const sweepWaiting = waiters.readUntilFinished('s-1234', 300, sweep.read, (finished) => finished);
  while (sweep.state.reads === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  sweep.state.done();
  await redis.publish(store.keys.cancelChannel, sweepJobId('s-1234', 7));
  assert.equal(await sweepWaiting, true);
  assert.equal(sweep.state.reads, 2);
});

test('the worker\'s announcement that a sweep\'s manifest is written wakes the sweep\'s waiting read', { timeout: 20_000 }, async () => {
  const sweep = reader();
  const waiting = waiters.readUntilFinished('s-done', 300, sweep.read, (finished) => finished);
  while (sweep.state.reads === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  sweep.state.done();
  await store.announceSweepDone('s-done');
  assert.equal(await waiting, true);
  assert.equal(sweep.state.reads, 2);
});

test('BullMQ\'s completion of the job wakes its waiting read', { timeout: 20_000 }, async () => {
  await store.queue.add(QUEUE_NAME, { spec: { model: 'm' }, sweepId: null, createdAt: Date.now() } as never, { jobId: 'j-completes' });
  const job = reader();
  const waiting = waiters.readUntilFinished('j-completes', 300, job.read, (finished) => finished);
  while (job.state.reads === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  const connection = redis.duplicate({ maxRetriesPerRequest: null });
  const worker = new Worker(QUEUE_NAME, async () => { job.state.done(); return 'ok'; }, { connection, prefix: PREFIX });
  try {
    assert.equal(await waiting, true);
    assert.equal(job.state.reads, 2);
  } finally {
    await worker.close();
    connection.disconnect();
  }
});

test('closing wakes every waiting read, which answers with what it reads then', { timeout: 20_000 }, async () => {
  const local = new FinishWaiters(redis, store, PREFIX, 300, 10 * 60_000);
  const job = reader();
  const waiting = local.readUntilFinished('j-never', 300, job.read, (finished) => finished);
  while (job.state.reads === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  await local.close();
  assert.equal(await waiting, false);
  assert.equal(job.state.reads, 2);
});
