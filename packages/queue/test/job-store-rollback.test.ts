/**
 * Nothing half-written: when queueing fails part-way (a failure injected into BullMQ's add — the one
 * stand-in in this file, for a Redis that errors mid-request), the Idempotency-Key is freed and a
 * sweep's already-added units are taken back. Against a real redis-server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type JobSpec } from '../src/index.ts';
import { storeForTests } from './helpers/store.ts';

const handle = storeForTests('rollback');

const spec = { model: 'm', objective: { type: 'class', class: 0 }, steps: 1, seed: 1 } as unknown as JobSpec;

test('a job whose add fails leaves its Idempotency-Key free for the retry', async () => {
  const { store } = handle;
  const add = store.queue.add.bind(store.queue);
  store.queue.add = (async () => { throw new Error('injected: Redis failed mid-request'); }) as typeof store.queue.add;
  await assert.rejects(store.add(spec, 'key-1'), /injected/);
  store.queue.add = add;
  const retried = await store.add(spec, 'key-1');
  assert.equal(retried.replayed, false, 'the key was not left bound to a job that never existed');
  const replay = await store.add(spec, 'key-1');
  assert.equal(replay.id, retried.id);
});

test('a sweep whose second chunk fails is taken back whole: no unit queued, no index entry, key free', async () => {
  const { store } = handle;
  const addBulk = store.queue.addBulk.bind(store.queue);
  let calls = 0;
  store.queue.addBulk = (async (jobs: Parameters<typeof addBulk>[0]) => {
    if (++calls === 2) throw new Error('injected: Redis failed mid-sweep');
    return addBulk(jobs);
  }) as typeof store.queue.addBulk;
  const before = await store.queue.getJobCountByTypes('waiting');
  const input = { model: 'm', layer: 'conv', start: 0, end: 2500, spec: { model: 'm', steps: 1, seed: 1 } as never, manifestKey: (id: string) => `sweeps/${id}/manifest.json` };
  await assert.rejects(store.addSweep(input, 'sweep-key'), /injected/);
  store.queue.addBulk = addBulk;
  assert.equal(await store.queue.getJobCountByTypes('waiting'), before, 'no unit of the failed sweep is queued');
  const listed = await store.list({ limit: 1000 });
  assert.ok(listed.jobs.every((job) => job.data.sweepId === null), 'no index entry of the failed sweep');
  const retried = await store.addSweep(input, 'sweep-key');
  assert.equal(retried.replayed, false);
  assert.equal(await store.queue.getJobCountByTypes('waiting'), before + 2500);
});
