/**
 * One job, several models (issue 5's "comparing networks" and "features across training"): the same
 * objective, settings and seed run on each model of `compare.models` in turn; one image per model, a
 * filmstrip of them side by side, and a transferability table — each model's image scored by every model.
 * The bundled models are served by default: shapes-a and shapes-b (same data, other seeds) and shapes-a's
 * training checkpoints shapes-a-epoch-01, -02, -04, -08.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PNG } from 'pngjs';
import { startService, type ServiceHandle } from './helpers/service.ts';

let svc: ServiceHandle;

before(async () => { svc = await startService({ worker: true }); });
after(async () => { await svc.stop(); });


interface CompareMetrics {
  models: string[];
  perModel: Array<{ model: string; objective: number; classProbability: number | null }>;
  transfer: { metric: string; models: string[]; values: number[][] };
}

describe('POST /v1/jobs with compare', () => {
  test('comparing networks: shapes-a and shapes-b on class "red" — an image per model, a filmstrip, the transfer table', async () => {
    // compare.models does not name the job's model: it is put first.
    const created = await svc.http.post('/v1/jobs').send({
      model: 'shapes-a', objective: { type: 'class', class: 'red' }, compare: { models: ['shapes-b'] }, filmstrip: true,
      steps: 8, image: { size: 32 }, seed: 7,
    });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    assert.deepEqual(created.body.spec.compare, { models: ['shapes-a', 'shapes-b'] });
    const job = await svc.waitForJob(created.body.id);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.equal(job.progress.steps, 16, 'one progress bar over both models');
    assert.equal(job.progress.step, 16);
    assert.ok(job.startedAt && job.finishedAt && Date.parse(job.startedAt) <= Date.parse(job.finishedAt), `${job.startedAt} – ${job.finishedAt}`);

    const result = job.result!;
    assert.deepEqual(result.images.map((image) => [image.model, image.key]), [
      ['shapes-a', `jobs/${job.id}/model-0-image-0.png`],
      ['shapes-b', `jobs/${job.id}/model-1-image-0.png`],
    ]);
    const tiles = await Promise.all(result.images.map(async (image) => PNG.sync.read((await svc.fetchFile(image.url)).body)));
    for (const tile of tiles) assert.deepEqual([tile.width, tile.height], [32, 32]);
    assert.notDeepEqual(tiles[0]!.data, tiles[1]!.data, 'two models, two pictures');

    // The filmstrip is the models' images side by side, in order.
    assert.equal(result.filmstrip?.key, `jobs/${job.id}/filmstrip.png`);
    const strip = PNG.sync.read((await svc.fetchFile(result.filmstrip!.url)).body);
    assert.deepEqual([strip.width, strip.height], [2 * 32, 32]);
    for (const [k, tile] of tiles.entries()) {
      for (const [x, y] of [[0, 0], [31, 31], [16, 9]] as const) {
        const at = (png: PNG, px: number, py: number) => [...png.data.subarray((py * png.width + px) * 4, (py * png.width + px) * 4 + 3)];
        assert.deepEqual(at(strip, k * 32 + x, y), at(tile, x, y), `filmstrip column ${k} at ${x},${y}`);
      }
    }

    const compare = result.metrics.compare as CompareMetrics;
    assert.deepEqual(compare.models, ['shapes-a', 'shapes-b']);
    assert.equal(compare.transfer.metric, 'classProbability');
    assert.equal(compare.transfer.values.length, 2);
    for (const row of compare.transfer.values) {
      assert.equal(row.length, 2);
      for (const p of row) assert.ok(p >= 0 && p <= 1, `probability ${p}`);
    }
    // The diagonal is each model scoring its own image: its own classProbability (up to 8-bit PNG rounding).
    for (const k of [0, 1]) assert.ok(Math.abs(compare.transfer.values[k]![k]! - compare.perModel[k]!.classProbability!) < 0.02, JSON.stringify(compare));
    assert.equal(result.metrics.classProbability, compare.perModel[0]!.classProbability, 'result.metrics are the primary model\'s');

    const metadata = JSON.parse((await svc.fetchFile(result.metadata.url)).body.toString('utf8'));
    assert.deepEqual(metadata.transfer.values, compare.transfer.values);
    assert.deepEqual(metadata.models.map((m: { id: string }) => m.id), ['shapes-a', 'shapes-b']);
    assert.equal(metadata.traces['shapes-b'].length, 8);
  });

  test('features across training: a channel on shapes-a\'s checkpoints, in training order', async () => {
    const models = ['shapes-a-epoch-01', 'shapes-a-epoch-02', 'shapes-a-epoch-04', 'shapes-a-epoch-08', 'shapes-a'];
    const created = await svc.http.post('/v1/jobs').send({
      model: 'shapes-a', objective: { type: 'channel', layer: 'conv3', channel: 5 }, compare: { models }, filmstrip: true,
      steps: 8, image: { size: 32 }, seed: 3,
    });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    assert.deepEqual(created.body.spec.compare.models, models, 'the job\'s model is named, so the order is the request\'s');
    const job = await svc.waitForJob(created.body.id, undefined, 120_000);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    const result = job.result!;
    assert.deepEqual(result.images.map((image) => image.model), models);
    const strip = PNG.sync.read((await svc.fetchFile(result.filmstrip!.url)).body);
    assert.deepEqual([strip.width, strip.height], [models.length * 32, 32]);
    const compare = result.metrics.compare as CompareMetrics;
    assert.equal(compare.transfer.metric, 'objective', 'a channel has no class probability: the objective\'s value');
    assert.equal(compare.transfer.values.length, models.length);
    for (const row of compare.transfer.values) {
      assert.equal(row.length, models.length);
      assert.ok(row.every(Number.isFinite));
    }
    // The primary model (last here) gives result.metrics.
    assert.equal(result.metrics.objective, compare.perModel[4]!.objective);
    assert.equal(compare.perModel[4]!.model, 'shapes-a');
  });
});

describe('POST /v1/jobs with compare rejects bad input, queueing nothing', () => {
  async function expectProblem(body: unknown, status: number, field: string, detail: RegExp, route = '/v1/jobs') {
    const before = await svc.services.store.counts();
    const res = await svc.http.post(route).send(body as object);
    assert.equal(res.status, status, JSON.stringify(res.body));
    assert.match(res.headers['content-type'], /^application\/problem\+json/);
    assert.equal(res.body.field, field);
    assert.match(res.body.detail, detail);
    assert.deepEqual(await svc.services.store.counts(), before, 'nothing was queued');
  }
  const request = { model: 'shapes-a', objective: { type: 'class', class: 'red' }, steps: 8 };

  test('an unknown model in compare.models → 422 naming compare.models[k]', () =>
    expectProblem({ ...request, compare: { models: ['shapes-b', 'shapes-z'] } }, 422, 'compare.models[1]', /compare\.models\[1\]: no model with id "shapes-z"/));
  test('an objective that does not fit one of the models → 422 naming that model', () =>
    expectProblem({ ...request, objective: { type: 'channel', layer: 'conv3', channel: 0 }, compare: { models: ['shapes-b', 'shapes-dw-graph'] } }, 422, 'compare.models[1]', /does not fit model "shapes-dw-graph".*no layer "conv3"/));
  test('only the job\'s own model → 422', () =>
    expectProblem({ ...request, compare: { models: ['shapes-a'] } }, 422, 'compare.models', /needs a second model/));
  test('the same model twice → 400', () =>
    expectProblem({ ...request, compare: { models: ['shapes-b', 'shapes-b'] } }, 400, 'compare.models', /duplicate/));
  test('filmstrip without compare → 422', () =>
    expectProblem({ ...request, filmstrip: true }, 422, 'filmstrip', /compare\.models/));
  test('sweeps do not take compare → 400', () =>
    expectProblem({ model: 'shapes-a', layer: 'conv3', channels: { start: 0, end: 2 }, compare: { models: ['shapes-b'] } }, 400, 'compare', /compare: unknown field/, '/v1/sweeps'));
});
