/**
 * The store sends the commands it issues together (several per job for a page of jobs) in one socket
 * write per stage instead of one write each: on a loopback socket each write costs more CPU than the
 * command (measured: GET /v1/sweeps/:id?limit=64 under autocannon 91–184 → 312–336 requests/s).
 * Counted on the connection's socket, against a real redis-server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { sweepJobId, type JobSpec } from '../src/index.ts';
import { storeForTests } from './helpers/store.ts';

const handle = storeForTests('writes');

/** Socket writes (each `_write` or `_writev`, one system call apiece) made while `work` runs. */
async function socketWritesDuring<T>(socket: Socket, work: () => Promise<T>): Promise<{ result: T; writes: number }> {
  const target = socket as unknown as { _write: (...args: unknown[]) => void; _writev?: (...args: unknown[]) => void };
  const write = target._write;
  const writev = target._writev;
  let writes = 0;
  target._write = function (this: unknown, ...args: unknown[]) { writes++; return write.apply(this, args); };
  if (writev) target._writev = function (this: unknown, ...args: unknown[]) { writes++; return writev.apply(this, args); };
  try {
    return { result: await work(), writes };
  } finally {
    target._write = write;
    if (writev) target._writev = writev;
  }
}

test('a page of jobs is read in one socket write per stage, not one per command', async () => {
  const { store, redis } = handle;
  const spec = { model: 'm', objective: { type: 'class', class: 0 }, steps: 5 } as unknown as JobSpec;
  const ids: string[] = [];
  for (let i = 0; i < 20; i++) {
    const added = await store.add(spec);
    ids.push(added.id);
  }
  const { result, writes } = await socketWritesDuring(redis.stream as Socket, () => store.getMany(ids));
  assert.deepEqual(result.map((record) => record.id), ids);
  assert.ok(result.every((record) => record.status === 'queued'));
  // Three stages (states and flags; the jobs' hashes; stored batched outcomes): 62 writes one by one.
  assert.ok(writes <= 3, `${writes} socket writes for 20 jobs`);
});

test('a sweep and a page of its units in a few socket writes', async () => {
  const { store, redis } = handle;
  const created = await store.addSweep({
    model: 'm', layer: 'conv', start: 0, end: 16, spec: { model: 'm', steps: 5, seed: 1 } as Omit<JobSpec, 'objective'>,
    manifestKey: (id) => `sweeps/${id}/manifest.json`,
  });
  const { result, writes } = await socketWritesDuring(redis.stream as Socket, async () => {
    const sweep = await store.getSweep(created.id);
    return store.sweepJobs(sweep, 16);
  });
  assert.equal(result.jobs.length, 16);
  assert.ok(writes <= 4, `${writes} socket writes for a sweep and 16 units`);
});

test('a batched run claims a sweep\'s next units in two socket writes, skipping those canceled, computed or held', async () => {
  const { store, redis } = handle;
  const created = await store.addSweep({
    model: 'm', layer: 'conv', start: 0, end: 80, spec: { model: 'm', steps: 5, seed: 1 } as Omit<JobSpec, 'objective'>,
    manifestKey: (id) => `sweeps/${id}/manifest.json`,
  });
  const unit = (channel: number) => sweepJobId(created.id, channel);
  await store.cancel(unit(2));
  await store.putResult(unit(3), { images: [], snapshots: [], metadata: { key: `jobs/${unit(3)}/metadata.json` }, metrics: {} });
  await redis.set(store.keys.batchClaim(unit(4)), 'another-leader');
  const { result, writes } = await socketWritesDuring(redis.stream as Socket, () => store.claimSweepUnits(created.id, 0, 80, 63, unit(0), 60));
  // Channels 1 and 5–66: the three passed over are made up for further on, a second window of three.
  assert.deepEqual(result.map((claimed) => claimed.channel), [1, ...Array.from({ length: 62 }, (_, i) => 5 + i)]);
  assert.ok(result.every((claimed) => claimed.id === unit(claimed.channel)));
  assert.ok(writes <= 4, `${writes} socket writes to claim 63 units`);
  assert.deepEqual(await redis.mget(result.map((claimed) => store.keys.batchClaim(claimed.id))), result.map(() => unit(0)));
  assert.equal(await redis.get(store.keys.batchClaim(unit(4))), 'another-leader');
});

test('a batched run claims compatible jobs in a few socket writes; those it does not need stay indexed', async () => {
  const { store, redis } = handle;
  const spec = (k: number) => ({ model: 'm', objective: { type: 'class', class: k }, steps: 7 }) as unknown as JobSpec;
  const added = [];
  for (let k = 0; k < 24; k++) added.push(await store.add(spec(k), undefined, spec(k), { modelHash: 'h' }));
  const ids = added.map((a) => a.id);
  const batchKey = added[0]!.replayed ? '' : added[0]!.record.data.batchKey!;
  await store.cancel(ids[1]!);
  // A canceled job's entry left in the index (as after a crash between the two): removed, not claimed.
  await redis.zadd(store.keys.batchWaiting(batchKey), 0, ids[1]!);
  // Oldest first: the index's order (jobs added in the same millisecond follow their ids).
  const order = (await redis.zrange(store.keys.batchWaiting(batchKey), '0', '-1')).filter((id) => id !== ids[0] && id !== ids[1]);
  const { result, writes } = await socketWritesDuring(redis.stream as Socket, () => store.claimCompatibleJobs(batchKey, 16, ids[0]!, 60));
  // The leader's own entry and the canceled job's are passed over.
  assert.deepEqual(result.map((job) => job.id), order.slice(0, 16));
  assert.deepEqual(result.map((job) => (job.spec.objective as { class: number }).class), order.slice(0, 16).map((id) => ids.indexOf(id)));
  assert.ok(writes <= 5, `${writes} socket writes to claim 16 jobs`);
  // The 6 not needed stay in the index for the next run, unclaimed.
  assert.deepEqual(await redis.zrange(store.keys.batchWaiting(batchKey), '0', '-1'), order.slice(16));
  assert.deepEqual(await redis.mget(order.slice(16).map((id) => store.keys.batchClaim(id))), order.slice(16).map(() => null));
});

test('a worker taking a job reads its cancel and stored outcome, and takes it out of the batch index, in one socket write', async () => {
  const { store, redis } = handle;
  const spec = { model: 'm', objective: { type: 'class', class: 0 }, steps: 9 } as unknown as JobSpec;
  const [plain, computed, canceled] = [await store.add(spec, undefined, spec, { modelHash: 'h' }), await store.add(spec), await store.add(spec)];
  assert.ok(!plain.replayed && plain.record.data.batchKey);
  const outcome = { images: [], snapshots: [], metadata: { key: `jobs/${computed.id}/metadata.json` }, metrics: { objective: 2 } };
  await store.putResult(computed.id, outcome);
  await store.cancel(canceled.id);
  const index = store.keys.batchWaiting(plain.record.data.batchKey!);
  assert.deepEqual(await redis.zrange(index, '0', '-1'), [plain.id]);
  const { result, writes } = await socketWritesDuring(redis.stream as Socket, () => store.onTaking(plain.id, plain.record.data));
  assert.deepEqual(result, { cancelRequested: false, computed: null });
  assert.equal(writes, 1);
  assert.deepEqual(await redis.zrange(index, '0', '-1'), []);
  const taken = await store.onTaking(computed.id, {});
  assert.deepEqual({ ...taken, computed: { ...taken.computed!, finishedAt: null } }, { cancelRequested: false, computed: { outcome, startedAt: null, finishedAt: null, recorded: true } });
  assert.deepEqual(await store.onTaking(canceled.id, {}), { cancelRequested: true, computed: null });
  // A result stored bare (by a worker from before results were final when stored): handed over, not recorded.
  await redis.set(store.keys.batchOutcome('j-legacy'), JSON.stringify(outcome));
  assert.deepEqual(await store.onTaking('j-legacy', {}), { cancelRequested: false, computed: { outcome, startedAt: null, finishedAt: null, recorded: false } });
});
