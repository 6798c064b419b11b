/**
 * The S3 driver end to end (s3rver speaks the real protocol): a model registered by multipart upload is
 * stored under models/, a job on it runs on the worker, and its result URLs are presigned S3 URLs that
 * fetch the PNG and the metadata. Then a sweep over a layer: one job per channel, counts, a paginated
 * list of results, and a manifest.json in storage.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PNG } from 'pngjs';
import { startService, type ServiceHandle } from './helpers/service.ts';
import { fixtureUpload } from './helpers/fixture-model.ts';

let svc: ServiceHandle;
before(async () => { svc = await startService({ worker: true, storage: 's3', config: { progressEverySteps: 2 } }); });
after(async () => { await svc.stop(); });

/** Until the sweep has finished and its manifest is written (when every unit's result is in; see sweep-batch.test.ts). */
async function waitForSweep(id: string, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await svc.http.get(`/v1/sweeps/${id}?limit=1&wait=5`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    if (['succeeded', 'failed', 'canceled'].includes(res.body.status) && res.body.manifest != null) return res.body;
    if (Date.now() > deadline) throw new Error(`sweep ${id} still ${res.body.status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('a model uploaded to S3 storage', () => {
  test('POST /v1/models registers it (201, layers listed), stored under models/', async () => {
    const { modelJson, weights } = await fixtureUpload(11);
    const manifestPaths = (JSON.parse(modelJson.toString('utf8')) as { weightsManifest: Array<{ paths: string[] }> }).weightsManifest.flatMap((g) => g.paths);
    assert.equal(manifestPaths.length, 1);
    const res = await svc.http.post('/v1/models')
      .field('metadata', JSON.stringify({ id: 'uploaded', name: 'Uploaded fixture', labels: ['red', 'green', 'blue', 'ring'], input: { range: [0, 1] } }))
      .attach('model.json', modelJson, 'model.json')
      .attach(manifestPaths[0], weights, manifestPaths[0]);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.id, 'uploaded');
    assert.deepEqual(res.body.labels, ['red', 'green', 'blue', 'ring']);
    const conv2 = res.body.layers.find((l: { name: string }) => l.name === 'conv2');
    assert.deepEqual(conv2, { ...conv2, channels: 16 });
    const keys = await svc.services.storage.list('models/uploaded/');
    assert.ok(keys.includes('models/uploaded/model.json') && keys.includes(`models/uploaded/${manifestPaths[0]}`), keys.join(', '));
    const listed = await svc.http.get('/v1/models');
    assert.ok(listed.body.models.some((m: { id: string }) => m.id === 'uploaded'));
    const again = await svc.http.post('/v1/models')
      .field('metadata', JSON.stringify({ id: 'uploaded' }))
      .attach('model.json', modelJson, 'model.json')
      .attach(manifestPaths[0], weights, manifestPaths[0]);
    assert.equal(again.status, 409);
    assert.equal(again.body.field, 'metadata.id');
  });

  test('a job on it succeeds; its presigned S3 URLs fetch the PNG and the metadata', async () => {
    const created = await svc.http.post('/v1/jobs').send({ model: 'uploaded', objective: { type: 'class', class: 'ring' }, steps: 4, image: { size: 24 } });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const job = await svc.waitForJob(created.body.id);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    const image = job.result!.images[0];
    assert.ok(image.url.startsWith(svc.s3!.endpoint), image.url);
    assert.match(image.url, /X-Amz-Signature=/);
    const png = await fetch(image.url);
    assert.equal(png.status, 200);
    const decoded = PNG.sync.read(Buffer.from(await png.arrayBuffer()));
    assert.deepEqual([decoded.width, decoded.height], [24, 24]);
    const metadata = await (await fetch(job.result!.metadata.url)).json() as { model: { id: string }; trace: number[] };
    assert.equal(metadata.model.id, 'uploaded');
    assert.equal(metadata.trace.length, 4);
  });
});

describe('a sweep', () => {
  test('one job per channel; counts, paginated results and a manifest listing every unit', async () => {
    const created = await svc.http.post('/v1/sweeps').send({ model: 'uploaded', layer: 'conv2', channels: { start: 4, end: 12 }, steps: 3, image: { size: 16 } });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    assert.equal(created.body.total, 8);
    const sweep = await waitForSweep(created.body.id);
    assert.equal(sweep.status, 'succeeded');
    assert.deepEqual(sweep.counts, { queued: 0, running: 0, succeeded: 8, failed: 0, canceled: 0 });

    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const res = await svc.http.get(`/v1/sweeps/${created.body.id}?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(res.status, 200);
      assert.ok(res.body.jobs.length <= 3);
      for (const job of res.body.jobs) {
        assert.equal(job.status, 'succeeded');
        assert.equal(job.objective.layer, 'conv2');
        assert.equal(job.result.images.length, 1);
        seen.push(job.objective.channel);
      }
      cursor = res.body.nextCursor;
    } while (cursor);
    assert.deepEqual(seen, [4, 5, 6, 7, 8, 9, 10, 11]);

    // The worker writes the manifest just after the last unit finishes; the view shows it once it is there.
    const manifestRef = sweep.manifest;
    assert.ok(manifestRef, 'manifest written');
    const manifest = JSON.parse(Buffer.from(await svc.services.storage.get(manifestRef.key)).toString('utf8'));
    assert.equal(manifest.id, created.body.id);
    assert.deepEqual(manifest.counts, sweep.counts);
    assert.equal(manifest.units.length, 8);
    assert.deepEqual(manifest.units.map((u: { channel: number }) => u.channel), [4, 5, 6, 7, 8, 9, 10, 11]);
    assert.ok(manifest.units.every((u: { status: string; images: unknown[] }) => u.status === 'succeeded' && u.images.length === 1));

    // The worker optimised the units together (sweep-batch.ts): fewer runs than units, and each unit's
    // metadata says which run made it, with its own objective and image.
    const metas = await Promise.all(manifest.units.map(async (u: { metadata: string }) => JSON.parse(Buffer.from(await svc.services.storage.get(u.metadata)).toString('utf8'))));
    const leaders = new Set(metas.map((m) => m.batch?.leader ?? m.jobId));
    assert.ok(leaders.size < 8, `8 units in ${leaders.size} runs`);
    for (const [i, m] of metas.entries()) {
      assert.deepEqual(m.spec.objective, { type: 'channel', layer: 'conv2', channel: 4 + i });
      assert.equal(m.images.length, 1);
      assert.equal(m.images[0].key, `jobs/${m.jobId}/image-0.png`);
      assert.equal(typeof m.metrics.objective, 'number');
    }
  });

  test('"all" sweeps every channel of the layer; a sweep over the limit is refused before anything is queued', async () => {
    const all = await svc.http.post('/v1/sweeps').send({ model: 'uploaded', layer: 'conv1', channels: 'all', steps: 1, image: { size: 16 } });
    assert.equal(all.status, 202);
    assert.equal(all.body.total, 8);
    const done = await waitForSweep(all.body.id);
    assert.equal(done.counts.succeeded, 8);
    const bad = await svc.http.post('/v1/sweeps').send({ model: 'uploaded', layer: 'conv1', channels: { start: 0, end: 9 } });
    assert.equal(bad.status, 422);
    assert.match(bad.body.detail, /channels/);
  });
});
