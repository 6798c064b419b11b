/**
 * DGN-AM over HTTP (issue 5): POST /v1/jobs with `method: "generator"` optimises the code of the
 * bundled shapes generator (priors/generator-shapes) instead of the pixels. The bundled models are
 * served by default.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startService, type ServiceHandle } from './helpers/service.ts';

let svc: ServiceHandle;

before(async () => { svc = await startService({ worker: true }); });
after(async () => { await svc.stop(); });

describe('POST /v1/jobs with method generator', () => {
  test('draws the red class on shapes-a through the generator: the job succeeds and its trace rises', async () => {
    const created = await svc.http.post('/v1/jobs').send({ model: 'shapes-a', objective: { type: 'class', class: 'red' }, method: 'generator', steps: 16, image: { size: 32 }, seed: 2 });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const job = await svc.waitForJob(created.body.id);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    const metadata = JSON.parse((await svc.fetchFile(job.result!.metadata.url)).body.toString('utf8'));
    assert.deepEqual(metadata.settings.parameterization, { type: 'generator', generator: 'shapes' });
    const trace = metadata.trace as number[];
    assert.ok(trace.at(-1)! > trace[0]!, `the objective rose: ${trace[0]} → ${trace.at(-1)}`);
  });

  test('an unknown generator → 400 naming parameterization.generator, before anything is queued', async () => {
    const res = await svc.http.post('/v1/jobs').send({ model: 'shapes-a', objective: { type: 'class', class: 'red' }, method: 'generator', parameterization: { type: 'generator', generator: 'imagenet' } });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.body.field, 'parameterization.generator');
  });
});
