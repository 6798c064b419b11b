/**
 * A sweep's manifest is written once every unit is final in BullMQ, lists each unit, and its writing is
 * announced on the finished channel (what the API's long polls on the sweep wait for). Against a real
 * redis-server, the units completed by a real BullMQ Worker; storage is an in-memory ManifestWriter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'bullmq';
import { QUEUE_NAME, sweepJobId, writeSweepManifestIfComplete, type JobOutcome, type JobSpec, type ManifestWriter } from '../src/index.ts';
import { storeForTests } from './helpers/store.ts';

const PREFIX = 'manifest';
const handle = storeForTests(PREFIX);

test('the manifest is written once every unit is final, lists the units, and is announced', { timeout: 30_000 }, async () => {
  const { store, redis } = handle;
  const files = new Map<string, string>();
  let existsAsked = 0;
  const storage: ManifestWriter = {
    async put(key, body) { files.set(key, body); },
    async exists(key) { existsAsked++; return files.has(key); },
  };
  const created = await store.addSweep({
    model: 'm', layer: 'conv', start: 0, end: 2, spec: { model: 'm', steps: 1, seed: 1 } as Omit<JobSpec, 'objective'>,
    manifestKey: (id) => `sweeps/${id}/manifest.json`,
  });
  const listener = redis.duplicate();
  const announced: string[] = [];
  listener.on('message', (_channel: string, id: string) => announced.push(id));
  await listener.subscribe(store.keys.finishedChannel);

  // Not every unit final: nothing written, nothing announced.
  assert.equal(await writeSweepManifestIfComplete(store, storage, created.id), false);

  const connection = redis.duplicate({ maxRetriesPerRequest: null });
  const completed: string[] = [];
  const worker = new Worker(QUEUE_NAME, async (job) => {
    await store.recordFinal(job.id!, created.id, 'succeeded');
    const outcome: JobOutcome = { images: [{ key: `jobs/${job.id}/image-0.png`, width: 8, height: 8, index: 0 }], snapshots: [], metadata: { key: `jobs/${job.id}/metadata.json` }, metrics: { objective: 1 } };
    return outcome;
  }, { connection, prefix: PREFIX });
  worker.on('completed', (job) => completed.push(job.id!));
  try {
    while (completed.length < 2) await new Promise((resolve) => setTimeout(resolve, 20));
  } finally {
    await worker.close();
    connection.disconnect();
  }
  assert.equal(await writeSweepManifestIfComplete(store, storage, created.id), true);
  const manifest = JSON.parse(files.get(`sweeps/${created.id}/manifest.json`)!);
  assert.equal(manifest.status, 'succeeded');
  assert.deepEqual(manifest.units.map((unit: { jobId: string }) => unit.jobId), [sweepJobId(created.id, 0), sweepJobId(created.id, 1)]);
  assert.deepEqual(manifest.units.map((unit: { images: string[] }) => unit.images.length), [1, 1]);
  // Written once, and recorded so: a second call (another unit's completion event) leaves it without
  // asking storage (a HEAD each on S3).
  assert.equal((await store.getSweep(created.id)).manifestWritten, true);
  const asked = existsAsked;
  assert.equal(await writeSweepManifestIfComplete(store, storage, created.id), false);
  assert.equal(existsAsked, asked);
  for (let i = 0; i < 100 && !announced.includes(created.id); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(announced, [created.id]);
  listener.disconnect();
});
