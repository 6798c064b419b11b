/**
 * The status of a job that another job's batched run holds (services/worker/src/batch-runs.ts): it
 * waits in BullMQ, but it is being optimised — `running`, at the leader's step, so a client never sees
 * it go back to `queued` — and once the run has stored its result it is `succeeded`, with that result,
 * counted so in its sweep, and can no longer be canceled, though a worker has yet to hand the result
 * over through BullMQ. Against a real redis-server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Job } from 'bullmq';
import { sweepJobId, type JobOutcome, type JobSpec } from '../src/index.ts';
import { storeForTests } from './helpers/store.ts';

const handle = storeForTests('batch-status');

test('a sweep unit held by a batched run reads running at the leader\'s step, then succeeded once its result is stored (counted so, not cancelable, claimed by no run again); a released one queued again', async () => {
  const { store } = handle;
  const steps = 10;
  const created = await store.addSweep({
    model: 'm', layer: 'conv', start: 0, end: 3, spec: { model: 'm', steps, seed: 1 } as Omit<JobSpec, 'objective'>,
    manifestKey: (id) => `sweeps/${id}/manifest.json`,
  });
  const [leader, computed, released] = [0, 1, 2].map((channel) => sweepJobId(created.id, channel));
  assert.deepEqual((await store.getMany([leader, computed, released])).map((job) => job.status), ['queued', 'queued', 'queued']);

  const claimed = await store.claimSweepUnits(created.id, 0, 3, 2, leader, 60);
  assert.deepEqual(claimed.map((unit) => unit.id), [computed, released]);
  await store.markSweepRunning(created.id, 3); // the leader's worker counts its run's units running
  await (await Job.fromId(store.queue, leader))!.updateProgress({ step: 4, steps, objective: 1.5 });
  for (const record of await store.getMany([computed, released])) {
    assert.equal(record.status, 'running', record.id);
    assert.deepEqual(record.progress, { step: 4, steps, objective: null }, record.id);
  }
  const list = await store.list({ status: 'running', limit: 10 });
  assert.deepEqual(list.jobs.map((job) => job.id).sort(), [computed, released].sort());

  // The run stores one unit's result (the claims are still held), then releases both.
  const outcome: JobOutcome = { images: [], snapshots: [], metadata: { key: `jobs/${computed}/metadata.json` }, metrics: { objective: 2.5 } };
  assert.equal(await store.putResult(computed, outcome, { sweepId: created.id, startedAt: 1000, finishedAt: 2000 }), 'counted');
  const stored = await store.get(computed);
  // One attempt, though BullMQ (which counts it on completing the job) still has the unit waiting.
  assert.deepEqual({ status: stored.status, outcome: stored.outcome, progress: stored.progress, startedAt: stored.startedAt, finishedAt: stored.finishedAt, attempts: stored.attempts },
    { status: 'succeeded', outcome, progress: { step: steps, steps, objective: 2.5 }, startedAt: 1000, finishedAt: 2000, attempts: 1 });
  assert.deepEqual((await store.getSweep(created.id)).counts, { queued: 0, running: 2, succeeded: 1, failed: 0, canceled: 0 });
  await assert.rejects(store.cancel(computed), /already succeeded/);
  // Stored again (a retried run): kept, counted once.
  assert.equal(await store.putResult(computed, outcome, { sweepId: created.id }), 'stored');
  assert.deepEqual((await store.getSweep(created.id)).counts, { queued: 0, running: 2, succeeded: 1, failed: 0, canceled: 0 });
  await store.releaseClaims([computed, released]);
  const [afterComputed, afterReleased] = await store.getMany([computed, released]);
  assert.equal(afterComputed!.status, 'succeeded');
  assert.equal(afterReleased!.status, 'queued');
  // Its hand-over's final record counts nothing more.
  assert.equal(await store.recordFinal(computed, created.id, 'succeeded', -1), false);
  assert.deepEqual((await store.getSweep(created.id)).counts, { queued: 0, running: 2, succeeded: 1, failed: 0, canceled: 0 });

  // Another run (a retried leader) leaves the computed unit alone; a held job's cancel reads canceled at once.
  assert.deepEqual((await store.claimSweepUnits(created.id, 0, 3, 2, leader, 60)).map((unit) => unit.id), [released]);
  assert.equal((await store.get(released)).status, 'running');
  assert.equal((await store.cancel(released)).status, 'canceled');
  // A canceled job gets no result stored, and its sweep no count for one (the run holding it, or its
  // own worker, counts the cancel).
  assert.equal(await store.putResult(released, outcome, { sweepId: created.id }), 'canceled');
  assert.equal((await store.get(released)).status, 'canceled');
  assert.deepEqual((await store.getSweep(created.id)).counts, { queued: 0, running: 2, succeeded: 1, failed: 0, canceled: 0 });
});

test('a compatible job held by a batched run reads running; once its outcome is stored no run claims it again', async () => {
  const { store, redis } = handle;
  const spec = { model: 'm', objective: { type: 'class', class: 0 }, steps: 5 } as unknown as JobSpec;
  const leader = await store.add(spec, undefined, spec, { modelHash: 'h' });
  const companion = await store.add({ ...spec, objective: { type: 'class', class: 1 } } as unknown as JobSpec, undefined, spec, { modelHash: 'h' });
  assert.ok(!leader.replayed && !companion.replayed && leader.record.data.batchKey, 'the jobs have no compatibility key');
  const batchKey = leader.record.data.batchKey!;
  // The leader's own index entry is still there (its worker removes it on taking it): passed over, not looped on.
  assert.deepEqual((await store.claimCompatibleJobs(batchKey, 4, leader.id, 60)).map((job) => job.id), [companion.id]);
  assert.equal((await store.get(companion.id)).status, 'running');
  const outcome: JobOutcome = { images: [], snapshots: [], metadata: { key: `jobs/${companion.id}/metadata.json` }, metrics: {} };
  assert.equal(await store.putResult(companion.id, outcome), 'counted');
  await store.releaseClaims([companion.id]);
  assert.equal((await store.get(companion.id)).status, 'succeeded');
  assert.deepEqual((await store.get(companion.id)).outcome, outcome);
  // Back in the index (as after a crash between the two), it is still not claimed again.
  await redis.zadd(store.keys.batchWaiting(batchKey), Date.now(), companion.id);
  assert.deepEqual(await store.claimCompatibleJobs(batchKey, 4, leader.id, 60), []);
});

test('a handed-over unit\'s final record moves its sweep\'s counts in one step, once', async () => {
  const { store } = handle;
  const created = await store.addSweep({
    model: 'm', layer: 'conv', start: 0, end: 4, spec: { model: 'm', steps: 3, seed: 1 } as Omit<JobSpec, 'objective'>,
    manifestKey: (id) => `sweeps/${id}/manifest.json`,
  });
  const [leader, computed] = [0, 1].map((channel) => sweepJobId(created.id, channel));
  await store.markSweepRunning(created.id, 2); // a batched run of the leader and one companion
  assert.deepEqual((await store.getSweep(created.id)).counts, { queued: 2, running: 2, succeeded: 0, failed: 0, canceled: 0 });
  assert.equal(await store.recordFinal(computed, created.id, 'succeeded', -1), true);
  assert.deepEqual((await store.getSweep(created.id)).counts, { queued: 2, running: 1, succeeded: 1, failed: 0, canceled: 0 });
  // A second record of the same job (a retried hand-over) counts nothing.
  assert.equal(await store.recordFinal(computed, created.id, 'succeeded', -1), false);
  assert.equal(await store.recordFinal(computed, created.id, 'canceled'), false);
  assert.deepEqual((await store.getSweep(created.id)).counts, { queued: 2, running: 1, succeeded: 1, failed: 0, canceled: 0 });
  // Without a delta, the running count stays (the leader counts itself down when its run ends).
  assert.equal(await store.recordFinal(leader, created.id, 'succeeded'), true);
  assert.deepEqual((await store.getSweep(created.id)).counts, { queued: 1, running: 1, succeeded: 2, failed: 0, canceled: 0 });
  await store.markSweepRunning(created.id, -1);
  assert.deepEqual((await store.getSweep(created.id)).counts, { queued: 2, running: 0, succeeded: 2, failed: 0, canceled: 0 });
  // A job of its own: marked once, nothing counted anywhere.
  assert.equal(await store.recordFinal('j-alone', null, 'failed'), true);
  assert.equal(await store.recordFinal('j-alone', null, 'failed'), false);
});

test('a job its worker has recorded failed or canceled reads so at once, with the failure\'s message, before BullMQ moves it', async () => {
  const { store } = handle;
  const created = await store.addSweep({
    model: 'm', layer: 'conv', start: 0, end: 3, spec: { model: 'm', steps: 3, seed: 1 } as Omit<JobSpec, 'objective'>,
    manifestKey: (id) => `sweeps/${id}/manifest.json`,
  });
  const [failed, canceled, other] = [0, 1, 2].map((channel) => sweepJobId(created.id, channel));
  await store.markSweepRunning(created.id, 2);
  assert.equal(await store.recordFinal(failed, created.id, 'failed', 0, { error: 'conv: out of memory' }), true);
  assert.equal(await store.recordFinal(canceled, created.id, 'canceled'), true);
  const [f, c, o] = await store.getMany([failed, canceled, other]);
  assert.deepEqual({ status: f!.status, error: f!.error, finished: typeof f!.finishedAt, attempts: f!.attempts }, { status: 'failed', error: 'conv: out of memory', finished: 'number', attempts: 1 });
  assert.deepEqual({ status: c!.status, error: c!.error, attempts: c!.attempts }, { status: 'canceled', error: null, attempts: 1 });
  assert.equal(o!.status, 'queued');
  // The sweep's counts say the same.
  const counts = (await store.getSweep(created.id)).counts;
  assert.deepEqual({ failed: counts.failed, canceled: counts.canceled }, { failed: 1, canceled: 1 });
});
