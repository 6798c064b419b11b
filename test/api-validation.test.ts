/**
 * Bad input: every rule answers with the right status and an application/problem+json whose `detail`
 * names the field, and nothing is queued.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startService, type ServiceHandle } from './helpers/service.ts';
import { writeFixtureModel } from './helpers/fixture-model.ts';

let svc: ServiceHandle;
let modelsDir: string;

before(async () => {
  modelsDir = await writeFixtureModel(await fs.mkdtemp(path.join(os.tmpdir(), 'fv-models-')));
  svc = await startService({ config: { modelsDir, maxSteps: 500, maxImageSizePx: 64, maxBatch: 4, maxSweepChannels: 8, maxBodyBytes: 4096 } });
});
after(async () => { await svc.stop(); await fs.rm(modelsDir, { recursive: true, force: true }); });

const valid = { model: 'fixture', objective: { type: 'channel', layer: 'conv2', channel: 3 } };

async function expectProblem(body: unknown, status: number, field: string, detail: RegExp, route = '/v1/jobs') {
  const before = await svc.services.store.counts();
  const res = await svc.http.post(route).set('content-type', 'application/json').send(typeof body === 'string' ? body : JSON.stringify(body));
  assert.equal(res.status, status, `${JSON.stringify(body)} → ${res.status} ${JSON.stringify(res.body)}`);
  assert.match(res.headers['content-type'], /^application\/problem\+json/);
  assert.equal(res.body.status, status);
  assert.match(res.body.detail, detail);
  if (field) assert.equal(res.body.field, field);
  assert.deepEqual(await svc.services.store.counts(), before, 'nothing was queued');
  return res.body;
}

describe('POST /v1/jobs rejects bad input', () => {
  test('malformed JSON → 400 naming the body', () => expectProblem('{"model": ', 400, 'body', /body: not valid JSON/));
  test('a body that is not an object → 400', () => expectProblem('[1,2]', 400, 'body', /must be object/));
  test('missing model → 400', () => expectProblem({ objective: valid.objective }, 400, 'model', /model: required/));
  test('missing objective → 400', () => expectProblem({ model: 'fixture' }, 400, 'objective', /objective: required/));
  test('unknown top-level field → 400', () => expectProblem({ ...valid, stpes: 10 }, 400, 'stpes', /stpes: unknown field/));
  test('unknown field inside the objective → 400', () => expectProblem({ ...valid, objective: { ...valid.objective, chanel: 1 } }, 400, 'objective.chanel', /objective.chanel: unknown field/));
  test('unknown objective type → 400 listing the types', () => expectProblem({ ...valid, objective: { type: 'neurone', layer: 'conv2' } }, 400, 'objective.type', /objective.type: must be one of .*"channel"/));
  test('wrong type of a field → 400', () => expectProblem({ ...valid, steps: '100' }, 400, 'steps', /steps: must be integer/));
  test('negative channel → 400', () => expectProblem({ ...valid, objective: { ...valid.objective, channel: -1 } }, 400, 'objective.channel', /objective.channel: must be >= 0/));
  test('image size below the minimum → 400', () => expectProblem({ ...valid, image: { size: 2 } }, 400, 'image.size', /image.size: must be >= 8/));
  test('unknown model → 422', () => expectProblem({ ...valid, model: 'nope' }, 422, 'model', /model: no model with id "nope"/));
  test('unknown layer → 422 with the closest names', () => expectProblem({ ...valid, objective: { ...valid.objective, layer: 'conv3' } }, 422, 'objective.layer', /no layer "conv3"; closest: "conv1"|"conv2"/));
  test('channel out of range → 422 with the layer\'s channel count', () => expectProblem({ ...valid, objective: { ...valid.objective, channel: 16 } }, 422, 'objective.channel', /channel 16 is out of range; layer "conv2" has 16 channels/));
  test('class index out of range → 422', () => expectProblem({ ...valid, objective: { type: 'class', class: 4 } }, 422, 'objective.class', /class 4 is out of range/));
  test('unknown class label → 422', () => expectProblem({ ...valid, objective: { type: 'class', class: 'purple' } }, 422, 'objective.class', /no class "purple"/));
  test('steps over MAX_STEPS → 422', () => expectProblem({ ...valid, steps: 501 }, 422, 'steps', /steps: 501 is over the limit of 500 \(MAX_STEPS\)/));
  test('image size over MAX_IMAGE_SIZE_PX → 422', () => expectProblem({ ...valid, image: { size: 65 } }, 422, 'image.size', /over the limit of 64/));
  test('batch over MAX_BATCH → 422', () => expectProblem({ ...valid, image: { batch: 5 } }, 422, 'image.batch', /over the limit of 4/));
  test('a body over MAX_BODY_BYTES → 413', () => expectProblem({ ...valid, pad: 'x'.repeat(5000) }, 413, '', /too large/));
});

describe('POST /v1/sweeps rejects bad input', () => {
  const sweep = { model: 'fixture', layer: 'conv2', channels: { start: 0, end: 4 } };
  test('unknown layer → 422', () => expectProblem({ ...sweep, layer: 'convX' }, 422, 'layer', /no layer "convX"/, '/v1/sweeps'));
  test('end past the layer\'s channels → 422', () => expectProblem({ ...sweep, channels: { start: 0, end: 17 } }, 422, 'channels.end', /out of range; layer "conv2" has 16 channels/, '/v1/sweeps'));
  test('empty range → 422', () => expectProblem({ ...sweep, channels: { start: 3, end: 3 } }, 422, 'channels.end', /must be greater than channels.start/, '/v1/sweeps'));
  test('more units than MAX_SWEEP_CHANNELS → 422', () => expectProblem({ ...sweep, channels: 'all' }, 422, 'channels', /16 units is over the limit of 8/, '/v1/sweeps'));
  test('channels neither "all" nor a range → 400', () => expectProblem({ ...sweep, channels: 'some' }, 400, 'channels', /channels/, '/v1/sweeps'));
});

describe('other routes', () => {
  test('unknown job → 404 problem', async () => {
    const res = await svc.http.get('/v1/jobs/j-nope');
    assert.equal(res.status, 404);
    assert.match(res.body.detail, /no job with id "j-nope"/);
  });
  test('unknown model → 404', async () => {
    const res = await svc.http.get('/v1/models/nope');
    assert.equal(res.status, 404);
  });
  test('bad query parameter → 400 naming it', async () => {
    const res = await svc.http.get('/v1/jobs?status=done');
    assert.equal(res.status, 400);
    assert.equal(res.body.field, 'status');
  });
  test('unknown route → 404 problem', async () => {
    const res = await svc.http.get('/v2/nothing');
    assert.equal(res.status, 404);
    assert.match(res.headers['content-type'], /problem\+json/);
  });
});
