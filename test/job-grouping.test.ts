/**
 * Compatible jobs share one batched run (services/worker/src/batch-runs.ts): one-image jobs queued
 * with the same model, size, steps and settings and different objectives are optimised together by
 * the first worker that takes one of them, and each job still gets its own images, metadata and
 * status. Jobs that differ in anything but the objective (and an unchosen seed) run apart.
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

  test('run as one batch, each with its own objective, images and metadata; other steps or a chosen seed run apart', async () => {
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
    // A chosen seed promises byte-identical images, which only a run of its own keeps.
    const seeded = await post(svc, { objective: objectives[1], steps: 3, seed: 7 });

    const worker = await svc.startWorker();
    const jobs = await Promise.all(ids.map((id) => svc.waitForJob(id)));
    const apartJob = await svc.waitForJob(apart);
    const seededJob = await svc.waitForJob(seeded);
    for (const job of [...jobs, apartJob, seededJob]) assert.equal(job.status, 'succeeded', `${job.id}: ${JSON.stringify(job.error)}`);
    // One run for the five compatible jobs (the first one taken leads it), one each for the other two.
    assert.equal(worker.stats.engineRuns, 3);
    assert.equal(worker.stats.leakedTensors, 0);

    const items = new Set<number>();
    for (const [k, job] of jobs.entries()) {
      const metadata = await metadataOf(svc, job);
      assert.equal(metadata.jobId, job.id);
      assert.deepEqual(metadata.spec.objective, objectives[k]);
      assert.deepEqual(metadata.settings.objective, objectives[k]);
      assert.equal(metadata.settings.image.batch, 1);
      assert.equal(metadata.batch.leader, ids[0]);
      assert.equal(metadata.batch.units, objectives.length);
      items.add(metadata.batch.item);
      assert.equal(typeof job.result!.metrics.objective, 'number');
      assert.equal(job.result!.images.length, 1);
      assert.match(job.result!.images[0]!.key, new RegExp(`^jobs/${job.id}/`));
      const png = PNG.sync.read((await svc.fetchFile(job.result!.images[0]!.url)).body);
      assert.deepEqual([png.width, png.height], [16, 16]);
    }
    assert.equal(items.size, objectives.length, 'each job is its own batch item');
    // Different objectives, different optimised values: each job reports its own item's.
    assert.equal(new Set(jobs.map((job) => job.result!.metrics.objective)).size, objectives.length);
    const apartMetadata = await metadataOf(svc, apartJob);
    assert.equal(apartMetadata.batch, undefined);
    assert.equal(apartMetadata.settings.steps, 4);
    const seededMetadata = await metadataOf(svc, seededJob);
    assert.equal(seededMetadata.batch, undefined);
    assert.equal(seededMetadata.seed, 7);
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
