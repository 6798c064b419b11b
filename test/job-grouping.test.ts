/**
 * Compatible jobs share one batched run (services/worker/src/batch-runs.ts): one-image jobs queued
 * with the same model, size, steps and settings and different objectives are optimised together by
 * the first worker that takes one of them, and each job still gets its own images, metadata and
 * status. Jobs that differ in anything but the objective and the seed run apart. Each item draws from
 * its own job's seed (the engine's itemSeeds), so a job whose client chose the seed is grouped too and
 * gets the bytes it would get alone.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import type { JobView } from '@featurevis/contracts';
import { startService, type ServiceHandle } from './helpers/service.ts';
import { writeFixtureModel } from './helpers/fixture-model.ts';

let modelsDir: string;
before(async () => { modelsDir = await writeFixtureModel(await fs.mkdtemp(path.join(os.tmpdir(), 'fv-models-'))); });
after(async () => { await fs.rm(modelsDir, { recursive: true, force: true }); });

async function post(svc: ServiceHandle, body: object): Promise<string> {
  const res = await svc.http.post('/v1/jobs').send({ model: 'fixture', image: { size: 16 }, ...body });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return res.body.id;
}

async function metadataOf(svc: ServiceHandle, job: JobView) {
  return JSON.parse(Buffer.from(await svc.services.storage.get(job.result!.metadata.key)).toString('utf8'));
}

describe('compatible jobs queued before a worker starts', () => {
  let svc: ServiceHandle;
  before(async () => { svc = await startService({ config: { modelsDir } }); });
  after(async () => { await svc.stop(); });

  test('run as one batch, each with its own objective, images and metadata; other steps run apart', async () => {
    const objectives = [
      { type: 'channel', layer: 'conv1', channel: 0 },
      { type: 'channel', layer: 'conv1', channel: 3 },
      { type: 'channel', layer: 'conv2', channel: 5 },
      { type: 'class', class: 1 },
      { type: 'neuron', layer: 'conv1', channel: 2 },
    ];
    const ids = [];
    for (const objective of objectives) ids.push(await post(svc, { objective, steps: 3 }));
    const apart = await post(svc, { objective: objectives[0], steps: 4 });
    // A chosen seed joins the batch: its item draws from that seed.
    const seeded = await post(svc, { objective: objectives[1], steps: 3, seed: 7 });

    const worker = await svc.startWorker();
    const jobs = await Promise.all(ids.map((id) => svc.waitForJob(id)));
    const apartJob = await svc.waitForJob(apart);
    const seededJob = await svc.waitForJob(seeded);
    for (const job of [...jobs, apartJob, seededJob]) assert.equal(job.status, 'succeeded', `${job.id}: ${JSON.stringify(job.error)}`);
    // One run for the six compatible jobs (the first one taken leads it), one for the other steps.
    assert.equal(worker.stats.engineRuns, 2);
    assert.equal(worker.stats.leakedTensors, 0);

    const items = new Set<number>();
    for (const [k, job] of jobs.entries()) {
      const metadata = await metadataOf(svc, job);
      assert.equal(metadata.jobId, job.id);
      assert.deepEqual(metadata.spec.objective, objectives[k]);
      assert.deepEqual(metadata.settings.objective, objectives[k]);
      assert.equal(metadata.settings.image.batch, 1);
      assert.equal(metadata.batch.leader, ids[0]);
      assert.equal(metadata.batch.units, objectives.length + 1);
      assert.equal(metadata.batch.seed, 'own');
      assert.equal(metadata.seed, job.spec.seed, 'each job\'s own (generated) seed is its seed');
      assert.equal(typeof metadata.seed, 'number');
      items.add(metadata.batch.item);
      assert.equal(typeof job.result!.metrics.objective, 'number');
      assert.equal(job.result!.images.length, 1);
      assert.match(job.result!.images[0]!.key, new RegExp(`^jobs/${job.id}/`));
      const png = PNG.sync.read((await svc.fetchFile(job.result!.images[0]!.url)).body);
      assert.deepEqual([png.width, png.height], [16, 16]);
    }
    assert.equal(items.size, objectives.length, 'each job is its own batch item');
    assert.equal(new Set(jobs.map((job) => job.spec.seed as number)).size, objectives.length, 'unseeded jobs got seeds of their own');
    // Different objectives, different optimised values: each job reports its own item's.
    assert.equal(new Set(jobs.map((job) => job.result!.metrics.objective)).size, objectives.length);
    const apartMetadata = await metadataOf(svc, apartJob);
    assert.equal(apartMetadata.batch, undefined);
    assert.equal(apartMetadata.settings.steps, 4);
    const seededMetadata = await metadataOf(svc, seededJob);
    assert.equal(seededMetadata.batch.leader, ids[0]);
    assert.equal(seededMetadata.seed, 7);
  });
});

describe('a job whose client chose the seed', () => {
  let svc: ServiceHandle;
  before(async () => { svc = await startService({ config: { modelsDir } }); });
  after(async () => { await svc.stop(); });

  const pngOf = async (job: JobView) => Buffer.from((await svc.fetchFile(job.result!.images[0]!.url)).body);

  test('gives the same PNG bytes grouped with other jobs as run alone', async () => {
    const seeded = { objective: { type: 'channel', layer: 'conv1', channel: 3 }, steps: 4, seed: 7, method: 'lucid', transforms: [{ type: 'pad', px: 2 }, { type: 'jitter', px: 2 }, { type: 'rotate' }] };
    const first = await post(svc, { objective: { type: 'class', class: 1 }, steps: 4, seed: 123, method: 'lucid', transforms: seeded.transforms });
    const grouped = await post(svc, seeded);
    const other = await post(svc, { objective: { type: 'channel', layer: 'conv2', channel: 5 }, steps: 4, method: 'lucid', transforms: seeded.transforms });
    const worker = await svc.startWorker();
    const [firstJob, groupedJob, otherJob] = await Promise.all([first, grouped, other].map((id) => svc.waitForJob(id)));
    for (const job of [firstJob, groupedJob, otherJob]) assert.equal(job.status, 'succeeded', `${job.id}: ${JSON.stringify(job.error)}`);
    assert.equal(worker.stats.engineRuns, 1, 'the three jobs shared one run');
    const groupedMetadata = await metadataOf(svc, groupedJob);
    assert.equal(groupedMetadata.batch.units, 3);
    assert.equal(groupedMetadata.seed, 7);

    // The same request again, now alone in the queue: its own run, the same bytes.
    const aloneJob = await svc.waitForJob(await post(svc, seeded));
    assert.equal(aloneJob.status, 'succeeded');
    assert.equal(worker.stats.engineRuns, 2);
    assert.equal((await metadataOf(svc, aloneJob)).batch, undefined);
    assert.deepEqual(await pngOf(aloneJob), await pngOf(groupedJob));
    assert.notDeepEqual(await pngOf(firstJob), await pngOf(groupedJob));
  });
});

describe('jobs with a scale transform', () => {
  let svc: ServiceHandle;
  before(async () => { svc = await startService({ config: { modelsDir } }); });
  after(async () => { await svc.stop(); });

  test('group only without a chosen seed: scale draws one factor for the whole batch, from the leader\'s seed', async () => {
    const body = (objective: object, seed?: number) => ({ objective, steps: 2, transforms: [{ type: 'scale' }], ...(seed === undefined ? {} : { seed }) });
    const unseeded = [await post(svc, body({ type: 'class', class: 0 })), await post(svc, body({ type: 'class', class: 1 }))];
    const seeded = [await post(svc, body({ type: 'class', class: 2 }, 5)), await post(svc, body({ type: 'class', class: 3 }, 6))];
    const worker = await svc.startWorker();
    const unseededJobs = await Promise.all(unseeded.map((id) => svc.waitForJob(id)));
    const seededJobs = await Promise.all(seeded.map((id) => svc.waitForJob(id)));
    for (const job of [...unseededJobs, ...seededJobs]) assert.equal(job.status, 'succeeded', `${job.id}: ${JSON.stringify(job.error)}`);
    assert.equal(worker.stats.engineRuns, 3, 'the unseeded pair shared a run; each seeded job ran alone');
    for (const job of unseededJobs) {
      const metadata = await metadataOf(svc, job);
      assert.equal(metadata.batch.seed, 'leader');
      assert.equal(metadata.seed, unseededJobs[0].spec.seed);
    }
    for (const [k, job] of seededJobs.entries()) {
      const metadata = await metadataOf(svc, job);
      assert.equal(metadata.batch, undefined);
      assert.equal(metadata.seed, 5 + k);
    }
  });
});

describe('a job canceled while a batched run holds it', () => {
  let svc: ServiceHandle;
  before(async () => { svc = await startService({ config: { modelsDir, progressEverySteps: 1 } }); });
  after(async () => { await svc.stop(); });

  test('is canceled and gets no images; the others of its run succeed', async () => {
    const body = (channel: number) => ({ objective: { type: 'channel', layer: 'conv1', channel }, steps: 200 });
    const leader = await post(svc, body(0));
    const canceled = await post(svc, body(1));
    const kept = await post(svc, body(2));
    await svc.startWorker();
    for (;;) {
      const res = await svc.http.get(`/v1/jobs/${leader}`);
      if (res.body.status === 'running' && res.body.progress.step >= 2) break;
      assert.notEqual(res.body.status, 'succeeded', 'the run ended before the cancel could be sent');
      await new Promise((r) => setTimeout(r, 20));
    }
    // The leader's companions wait in the queue while its run optimises them: they read running, at
    // the leader's step.
    const companion = await svc.http.get(`/v1/jobs/${kept}`);
    assert.equal(companion.body.status, 'running');
    assert.ok(companion.body.progress.step >= 2, JSON.stringify(companion.body.progress));
    assert.equal(companion.body.progress.objective, null);
    assert.ok(companion.body.startedAt != null);
    const listed = await svc.http.get('/v1/jobs?status=running');
    assert.ok(listed.body.jobs.some((job: JobView) => job.id === kept), 'GET /v1/jobs?status=running leaves the companion out');
    const cancel = await svc.http.post(`/v1/jobs/${canceled}/cancel`);
    assert.equal(cancel.status, 200);
    assert.equal(cancel.body.status, 'canceled');

    const [leaderJob, canceledJob, keptJob] = await Promise.all([leader, canceled, kept].map((id) => svc.waitForJob(id)));
    assert.equal(leaderJob.status, 'succeeded');
    assert.equal(keptJob.status, 'succeeded');
    assert.equal((await metadataOf(svc, keptJob)).batch.leader, leader, 'the kept job was in the leader\'s run');
    assert.equal(canceledJob.status, 'canceled');
    assert.equal(canceledJob.result, null);
    assert.deepEqual(await svc.services.storage.list(`jobs/${canceled}/`), []);
  });
});
