/**
 * A job's whole path, for real: POST /v1/jobs → BullMQ on a private redis-server → a worker running the
 * engine in its thread → PNGs and metadata.json in storage → GET /v1/jobs/{id} with URLs that fetch
 * them. Local storage here; the S3 protocol in storage-s3.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { startService, type ServiceHandle } from './helpers/service.ts';
import { writeFixtureModel } from './helpers/fixture-model.ts';

let svc: ServiceHandle;
let modelsDir: string;

before(async () => {
  modelsDir = await writeFixtureModel(await fs.mkdtemp(path.join(os.tmpdir(), 'fv-models-')));
  svc = await startService({ worker: true, config: { modelsDir, progressEverySteps: 2 } });
});
after(async () => { await svc.stop(); await fs.rm(modelsDir, { recursive: true, force: true }); });


describe('a job, end to end', () => {
  test('runs on the worker; its PNGs decode to the requested size and its metadata matches the request', async () => {
    const request = { model: 'fixture', objective: { type: 'class', class: 'red' }, steps: 12, image: { size: 20, batch: 2 }, seed: 42, snapshots: [4] };
    const created = await svc.http.post('/v1/jobs').send(request);
    assert.equal(created.status, 202, JSON.stringify(created.body));
    assert.equal(created.body.status, 'queued');
    assert.match(created.headers.location ?? '', new RegExp(`/v1/jobs/${created.body.id}$`));

    const job = await svc.waitForJob(created.body.id);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.equal(job.progress?.step, 12);
    assert.equal(job.progress?.steps, 12);
    assert.ok(job.startedAt && job.finishedAt && job.createdAt);
    assert.ok(Date.parse(job.createdAt) <= Date.parse(job.startedAt!) && Date.parse(job.startedAt!) <= Date.parse(job.finishedAt!));
    const result = job.result!;
    assert.equal(result.images.length, 2);
    for (const [i, image] of result.images.entries()) {
      assert.equal(image.key, `jobs/${job.id}/image-${i}.png`);
      assert.equal(image.width, 20);
      assert.equal(image.height, 20);
      const file = await svc.fetchFile(image.url);
      assert.equal(file.status, 200);
      assert.equal(file.type, 'image/png');
      const png = PNG.sync.read(file.body);
      assert.equal(png.width, 20);
      assert.equal(png.height, 20);
    }
    assert.equal(result.metadata.key, `jobs/${job.id}/metadata.json`);
    const metadata = JSON.parse((await svc.fetchFile(result.metadata.url)).body.toString('utf8'));
    assert.equal(metadata.jobId, job.id);
    assert.equal(metadata.model.id, 'fixture');
    assert.match(metadata.model.hash, /^[0-9a-f]{16,}$/);
    assert.equal(metadata.seed, 42);
    assert.deepEqual(metadata.spec.objective, request.objective);
    assert.equal(metadata.spec.steps, 12);
    assert.deepEqual(metadata.spec.image, request.image);
    assert.equal(metadata.settings.steps, 12);
    assert.equal(metadata.trace.length, 12, 'the objective per step');
    assert.ok(metadata.trace.every((v: unknown) => typeof v === 'number' && Number.isFinite(v)));
    assert.ok(metadata.trace.at(-1) > metadata.trace[0], `objective rose: ${metadata.trace[0]} → ${metadata.trace.at(-1)}`);
    assert.match(metadata.backend, /^(wasm|cpu|tensorflow|webgpu)$/);
    // On WASM the convolution implementation is part of what reproduces the bytes.
    if (metadata.backend === 'wasm') assert.match(metadata.convolutions, /^(avx512|avx2|xnnpack)$/);
    else assert.equal(metadata.convolutions, undefined);
    assert.ok(metadata.timings.meanStepMs > 0);
    assert.equal(typeof metadata.metrics.classProbability, 'number');
    assert.equal(metadata.snapshots.length, 2, 'a snapshot per image at step 4');
    assert.equal(metadata.snapshots[0].step, 4);
    assert.equal(typeof job.result!.metrics?.objective, 'number');
    // The listing, by status, shows it.
    const listed = await svc.http.get('/v1/jobs?status=succeeded&limit=50');
    assert.equal(listed.status, 200);
    assert.ok(listed.body.jobs.some((j: { id: string }) => j.id === job.id));
  });

  test('the same seed on the same backend gives byte-identical images', async () => {
    const request = { model: 'fixture', objective: { type: 'channel', layer: 'conv2', channel: 5 }, steps: 6, image: { size: 16 }, seed: 9 };
    const ids = [];
    for (let i = 0; i < 2; i++) ids.push((await svc.http.post('/v1/jobs').send(request)).body.id);
    const [a, b] = await Promise.all(ids.map((id) => svc.waitForJob(id)));
    assert.equal(a.status, 'succeeded');
    assert.equal(b.status, 'succeeded');
    const [pngA, pngB] = await Promise.all([a, b].map(async (job) => (await svc.fetchFile(job.result!.images[0].url)).body));
    assert.ok(pngA.equals(pngB));
  });

  test('a MACO job stores its attribution map beside the image', async () => {
    const created = await svc.http.post('/v1/jobs').send({ model: 'fixture', objective: { type: 'class', class: 'ring' }, parameterization: { type: 'maco', spectrum: 'power-law' }, steps: 4, image: { size: 16 } });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const job = await svc.waitForJob(created.body.id);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    const [map] = job.result!.attributions!;
    assert.equal(map.key, `jobs/${job.id}/attribution-0.png`);
    const png = PNG.sync.read((await svc.fetchFile(map.url)).body);
    assert.deepEqual([png.width, png.height], [16, 16]);
    const plain = await svc.waitForJob((await svc.http.post('/v1/jobs').send({ model: 'fixture', objective: { type: 'class', class: 'ring' }, steps: 2, image: { size: 16 } })).body.id);
    assert.equal(plain.status, 'succeeded', JSON.stringify(plain.error));
    assert.equal(plain.result!.attributions, undefined, 'only parameterisations that record one');
  });

  test('with a reference set: dataset examples stored beside the image, and how far beyond the set the image goes', async () => {
    const created = await svc.http.post('/v1/jobs').send({ model: 'fixture', objective: { type: 'channel', layer: 'conv2', channel: 2 }, steps: 6, image: { size: 16 }, reference: { set: 'shapes', count: 24, examples: 2 } });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const job = await svc.waitForJob(created.body.id);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    const examples = job.result!.examples!;
    assert.deepEqual(examples.map((e) => `${e.kind}${e.rank}`), ['top0', 'top1', 'bottom0', 'bottom1']);
    assert.ok(examples[0].value >= examples[1].value && examples[2].value <= examples[3].value);
    assert.equal(examples[0].key, `jobs/${job.id}/examples/image-0-top-0.png`);
    const png = PNG.sync.read((await svc.fetchFile(examples[0].url)).body);
    assert.deepEqual([png.width, png.height], [16, 16]);
    const metrics = job.result!.metrics as Record<string, number>;
    assert.equal(metrics.referenceMax, examples[0].value);
    assert.ok(Math.abs(metrics.referenceRatio - metrics.objective / metrics.referenceMax) < 1e-6);
  });

  test('a request that can never succeed fails at once, not retried, with a clear message', async () => {
    // Valid for the API (it checks layers by the model's listing); the engine finds the direction's
    // length wrong, which no retry can mend.
    const created = await svc.http.post('/v1/jobs').send({ model: 'fixture', objective: { type: 'direction', layer: 'conv2', vector: [1, 2, 3] }, steps: 3, image: { size: 16 } });
    if (created.status !== 202) {
      // The API caught it first: that is also "nothing can run", and it must name the field.
      assert.equal(created.status, 422, JSON.stringify(created.body));
      assert.match(created.body.detail, /vector/);
      return;
    }
    const job = await svc.waitForJob(created.body.id);
    assert.equal(job.status, 'failed');
    assert.match(job.error!.message, /vector/);
    const raw = await svc.services.store.get(job.id);
    assert.equal(raw.attempts, 1, 'not retried');
  });
});

describe('Idempotency-Key', () => {
  test('the same key and body return the same job; a different body answers 422', async () => {
    const body = { model: 'fixture', objective: { type: 'channel', layer: 'conv1', channel: 1 }, steps: 2, image: { size: 16 } };
    const first = await svc.http.post('/v1/jobs').set('Idempotency-Key', 'abc-123').send(body);
    const second = await svc.http.post('/v1/jobs').set('Idempotency-Key', 'abc-123').send(body);
    assert.equal(first.status, 202);
    assert.equal(second.status, 200, 'a replay');
    assert.equal(second.body.id, first.body.id);
    const other = await svc.http.post('/v1/jobs').set('Idempotency-Key', 'abc-123').send({ ...body, steps: 3 });
    assert.equal(other.status, 422);
    assert.match(other.headers['content-type'], /application\/problem\+json/);
    assert.match(other.body.detail, /Idempotency-Key/);
    await svc.waitForJob(first.body.id);
  });
});

describe('listing', () => {
  test('pages through every job exactly once with limit and cursor', async () => {
    const all = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await svc.http.get(`/v1/jobs?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.ok(res.body.jobs.length <= 2);
      for (const job of res.body.jobs) {
        assert.ok(!all.has(job.id), `job ${job.id} listed twice`);
        all.add(job.id);
      }
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor && pages < 50);
    const counts = await svc.services.store.counts();
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    assert.equal(all.size, total);
  });

  test('a bad cursor and a bad status are 400s naming the field', async () => {
    const status = await svc.http.get('/v1/jobs?status=done');
    assert.equal(status.status, 400);
    assert.match(status.body.detail, /status/);
    const cursor = await svc.http.get('/v1/jobs?cursor=%%%');
    assert.equal(cursor.status, 400);
    assert.match(cursor.body.detail, /cursor/);
  });
});

describe('health, readiness and metrics', () => {
  test('healthz and readyz answer ok; metrics is Prometheus text with queue depth and durations', async () => {
    assert.deepEqual((await svc.http.get('/healthz')).body, { status: 'ok' });
    const ready = await svc.http.get('/readyz');
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    const metrics = await svc.http.get('/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers['content-type'], /^text\/plain/);
    assert.match(metrics.text, /featurevis_queue_jobs\{[^}]*\} \d+/, metrics.text.split('\n').filter((l) => l.startsWith('featurevis_') && !l.startsWith('featurevis_api_')).join('\n'));
    assert.match(metrics.text, /featurevis_queue_jobs\{[^}]*state="completed"[^}]*\} \d+/);
    assert.match(metrics.text, /featurevis_job_duration_seconds_(bucket|count)/);
    assert.match(metrics.text, /featurevis_optimisation_steps_per_second/);
  });
});
