/**
 * The store sends the commands it issues together (several per job for a page of jobs) in one socket
 * write per stage instead of one write each: on a loopback socket each write costs more CPU than the
 * command (measured: GET /v1/sweeps/:id?limit=64 under autocannon 91–184 → 312–336 requests/s).
 * Counted on the connection's socket, against a real redis-server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import type { JobSpec } from '../src/index.ts';
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
