/**
 * FinishWaiters wakes a waiting read on the announcements that a job or sweep has finished: a job's id
 * on the finished channel (the worker's, once BullMQ holds the job finished), a sweep's own (its
 * manifest is written; its units' announcements do not wake it), and a cancel on the cancel channel. The re-check
 * interval is set beyond the tests' timeout here, so a read that is not woken by its announcement makes
 * its test time out: each assertion counts the reads (one before the announcement, one after).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRedis, freePort, JobStore, startRedisServer, sweepJobId, type RedisServerHandle } from '@featurevis/queue';
import { FinishWaiters } from '../src/finish-waiters.ts';

const PREFIX = 'waiters';
const NEVER_MS = 10 * 60_000;
let server: RedisServerHandle;
let redis: ReturnType<typeof createRedis>;
let store: JobStore;
let waiters: FinishWaiters;

before(async () => {
  server = await startRedisServer();
  redis = createRedis(server.url, 'api');
  store = new JobStore({ redis, prefix: PREFIX, attempts: 1, backoffMs: 10, retentionS: 3600, idempotencyTtlS: 3600 });
  waiters = new FinishWaiters(redis, store, 300, NEVER_MS);
});
after(async () => { await waiters.close(); await store.close(); redis.disconnect(); await server.stop(); });

/** A read that reports "finished" once `done()` has been called; counts its calls. */
function reader() {
  let finished = false;
  const state = { reads: 0, done: () => { finished = true; } };
  return { state, read: async () => { state.reads++; return finished; } };
}

/** Waits on `key`, finishes after the first read, sends `announce`, and checks the wait ended on it. */
async function wokenBy(key: string, announce: () => Promise<unknown>): Promise<void> {
  const waited = reader();
  const waiting = waiters.readUntilFinished(key, 300, waited.read, (finished) => finished);
  while (waited.state.reads === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  waited.state.done();
  await announce();
  assert.equal(await waiting, true);
  assert.equal(waited.state.reads, 2);
}

test('a job\'s finished announcement wakes its waiting read', { timeout: 20_000 }, async () => {
  await wokenBy('j-finished', () => store.announceFinished('j-finished'));
});

test('a sweep\'s own announcement (manifest written) wakes its waiting read; its units\' do not', { timeout: 20_000 }, async () => {
  await wokenBy('s-5678', () => store.announceFinished('s-5678'));
  const waited = reader();
  const waiting = waiters.readUntilFinished('s-1234', 300, waited.read, (finished) => finished);
  while (waited.state.reads === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  waited.state.done();
  // A unit's announcement, then one for the sweep itself: only the second makes it read again. (Were
  // the first to wake it, the read would find `done` and answer before the second was sent.)
  for (let channel = 0; channel < 8; channel++) await store.announceFinished(sweepJobId('s-1234', channel));
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(waited.state.reads, 1);
  await store.announceFinished('s-1234');
  assert.equal(await waiting, true);
  assert.equal(waited.state.reads, 2);
});

test('a cancel on the cancel channel wakes the job\'s waiting read', { timeout: 20_000 }, async () => {
  await wokenBy('j-canceled', () => redis.publish(store.keys.cancelChannel, 'j-canceled'));
});

test('closing wakes every waiting read, which answers with what it reads then', { timeout: 20_000 }, async () => {
  const local = new FinishWaiters(redis, store, 300, NEVER_MS);
  const job = reader();
  const waiting = local.readUntilFinished('j-never', 300, job.read, (finished) => finished);
  while (job.state.reads === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  await local.close();
  assert.equal(await waiting, false);
  assert.equal(job.state.reads, 2);
});

test('with Redis unreachable, a wait still ends on time with what the read says, and closing leaves nothing running', { timeout: 20_000 }, async () => {
  // A port nothing listens on: ioredis keeps trying to connect, and nothing ever answers.
  const port = await freePort();
  const unreachable = createRedis(`redis://127.0.0.1:${port}`, 'api');
  unreachable.on('error', () => {});
  const local = new FinishWaiters(unreachable, store, 300, 200);
  try {
    let reads = 0;
    assert.equal(await local.readUntilFinished('j-somewhere', 1, async () => { reads++; return 'queued'; }, () => false), 'queued');
    assert.ok(reads >= 1);
  } finally {
    await local.close();
    unreachable.disconnect();
  }
});
