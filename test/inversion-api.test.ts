/**
 * Feature inversion over HTTP (issue 5): POST /v1/jobs with an `inversion` objective — a target PNG,
 * base64 in the JSON body, whose activations at a layer the job reconstructs from noise under the
 * `mahendran` preset's TV prior. The bundled models are served by default.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PNG } from 'pngjs';
import { startService, type ServiceHandle } from './helpers/service.ts';

let svc: ServiceHandle;

before(async () => { svc = await startService({ worker: true }); });
after(async () => { await svc.stop(); });


/** A 48 × 48 red square on grey, as base64 PNG: the job resizes it to its 32 px. */
function redSquarePng(): string {
  const png = new PNG({ width: 48, height: 48 });
  for (let y = 0; y < 48; y++) {
    for (let x = 0; x < 48; x++) {
      const inside = x >= 12 && x < 36 && y >= 12 && y < 36;
      png.data.set(inside ? [230, 20, 20, 255] : [128, 128, 128, 255], (y * 48 + x) * 4);
    }
  }
  return PNG.sync.write(png).toString('base64');
}

describe('POST /v1/jobs with an inversion objective', () => {
  test('reconstructs a PNG from its conv2 activations on shapes-a: the job succeeds and its trace rises towards 0', async () => {
    const objective = { type: 'inversion', layer: 'conv2', image: redSquarePng() };
    const created = await svc.http.post('/v1/jobs').send({ model: 'shapes-a', objective, method: 'mahendran', steps: 24, image: { size: 32 }, seed: 3 });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const job = await svc.waitForJob(created.body.id);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    const metadata = JSON.parse((await svc.fetchFile(job.result!.metadata.url)).body.toString('utf8'));
    const trace = metadata.trace as number[];
    assert.equal(trace.length, 24);
    assert.ok(trace.every((value) => Number.isFinite(value) && value <= 1e-6), 'minus a distance: never above 0');
    assert.ok(trace.at(-1)! > trace[0]!, `the objective rose: ${trace[0]} → ${trace.at(-1)}`);
    assert.deepEqual(metadata.spec.objective, objective);
  });

  test('an unknown layer → 422 naming objective.layer, before anything is queued', async () => {
    const res = await svc.http.post('/v1/jobs').send({ model: 'shapes-a', objective: { type: 'inversion', layer: 'conv9', image: { reference: { set: 'shapes', index: 3 } } } });
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.equal(res.body.field, 'objective.layer');
    assert.match(res.body.detail, /no layer "conv9"/);
  });

  test('a target that is not a base64 PNG → 422 naming objective.image', async () => {
    const res = await svc.http.post('/v1/jobs').send({ model: 'shapes-a', objective: { type: 'inversion', layer: 'conv1', image: Buffer.from('GIF89a, not a PNG').toString('base64') } });
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.equal(res.body.field, 'objective.image');
  });
});
