/**
 * JobStore.jobState answers as BullMQ's Queue.getJobState for a job in each place BullMQ keeps one
 * (JOB_STATE_SCRIPT finds a waiting job without walking the wait list). Against a real redis-server,
 * with jobs moved by a real BullMQ Worker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker, type Job } from 'bullmq';
import { QUEUE_NAME } from '../src/index.ts';
import { storeForTests } from './helpers/store.ts';

const handle = storeForTests('job-state');

test('jobState matches getJobState: waiting (oldest and newest of many), prioritized, delayed, active, completed, failed, removed', async () => {
  const { store, redis } = handle;
  const queue = store.queue;
  const data = (name: string) => ({ spec: { model: name }, sweepId: null, createdAt: Date.now() }) as never;
  const oldest = await queue.add(QUEUE_NAME, data('oldest'), { jobId: 'oldest' });
  for (let i = 0; i < 200; i++) await queue.add(QUEUE_NAME, data(`filler-${i}`), { jobId: `filler-${i}` });
  const newest = await queue.add(QUEUE_NAME, data('newest'), { jobId: 'newest' });
  await queue.add(QUEUE_NAME, data('delayed'), { jobId: 'later', delay: 60_000 });
  await queue.add(QUEUE_NAME, data('prioritized'), { jobId: 'urgent', priority: 5 });
  await queue.add(QUEUE_NAME, data('removed'), { jobId: 'gone' });
  await (await queue.getJob('gone'))!.remove();

  const expectSame = async (ids: string[], expected: string[]) => {
    const ours = await Promise.all(ids.map((id) => store.jobState(id)));
    const bullmq = await Promise.all(ids.map((id) => queue.getJobState(id)));
    assert.deepEqual(ours, bullmq);
    assert.deepEqual(ours, expected);
  };
  await expectSame([oldest.id!, newest.id!, 'later', 'urgent', 'gone', 'no-such-job'], ['waiting', 'waiting', 'delayed', 'prioritized', 'unknown', 'unknown']);

  // A worker takes jobs oldest first: 'oldest' completes, 'filler-0' fails, 'filler-1' stays active.
  let releaseActive!: () => void;
  const activeHeld = new Promise<void>((resolve) => { releaseActive = resolve; });
  let reachedActive!: () => void;
  const active = new Promise<void>((resolve) => { reachedActive = resolve; });
  const connection = redis.duplicate({ maxRetriesPerRequest: null }); // BullMQ's requirement for a worker's connection
  const worker = new Worker(QUEUE_NAME, async (job: Job) => {
    if (job.id === 'filler-0') throw new Error('fails');
    if (job.id === 'filler-1') { reachedActive(); await activeHeld; }
    return { done: job.id };
  }, { connection, prefix: 'job-state', concurrency: 1 });
  try {
    await active;
    await expectSame([oldest.id!, 'filler-0', 'filler-1', 'filler-2', newest.id!], ['completed', 'failed', 'active', 'waiting', 'waiting']);
  } finally {
    releaseActive();
    await worker.close(true);
    connection.disconnect();
  }
});
