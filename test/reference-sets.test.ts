/**
 * Reference image sets over HTTP (issue 5): upload a set (a zip of PNG and JPEG files, or the files
 * themselves), list and read it, and name it in a job's `reference` — the job's referenceMax,
 * referenceRatio and dataset examples are then computed on the uploaded images. Invalid uploads and
 * unknown sets are 4xx problems naming the file or field, with nothing stored or queued.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { zipSync } from 'fflate';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { startService, type ServiceHandle } from './helpers/service.ts';

let svc: ServiceHandle;

// Small limits, so the tests reach them: 4 images, 3,000 decoded pixels (the uploads below are 24 px
// squares and 20×28 JPEGs, at most four of them).
before(async () => { svc = await startService({ worker: true, config: { referenceSetMaxImages: 4, referenceSetMaxPixels: 3000 } }); });
after(async () => { await svc.stop(); });

type Rgb = [number, number, number];

/** A flat colour with a faint diagonal gradient, as a PNG (RGBA, as pngjs writes by default). */
function pngOf(color: Rgb, sizePx = 24): Buffer {
  const png = new PNG({ width: sizePx, height: sizePx });
  for (let i = 0; i < sizePx * sizePx; i++) png.data.set([...color.map((c) => Math.max(0, c - (i % sizePx))), 255], i * 4);
  return PNG.sync.write(png);
}

/** A flat colour as a baseline JPEG (a different size: the worker resizes to the run's 32 px). */
function jpegOf(color: Rgb, width = 20, height = 28): Buffer {
  const data = Buffer.alloc(width * height * 4);
  for (let i = 0; i < width * height; i++) data.set([...color, 255], i * 4);
  return jpeg.encode({ data, width, height }, 95).data;
}

const RED: Rgb = [235, 25, 20];
const GREEN: Rgb = [30, 200, 40];
const BLUE: Rgb = [25, 40, 220];

async function upload(parts: Array<[string, Buffer]>, fields: Record<string, string> = {}) {
  let req = svc.http.post('/v1/reference-sets');
  for (const [name, value] of Object.entries(fields)) req = req.field(name, value);
  for (const [name, bytes] of parts) req = req.attach('file', bytes, name);
  return req;
}

describe('POST /v1/reference-sets', () => {
  test('a zip of PNG and JPEG images → 201 with the count, each image\'s index, name and label, stored as PNGs', async () => {
    const zip = Buffer.from(zipSync({
      'colours/green.png': pngOf(GREEN),
      'colours/red.jpg': jpegOf(RED),
      'colours/blue.png': pngOf(BLUE, 16),
      'labels.json': Buffer.from(JSON.stringify({ 'colours/red.jpg': 'red', 'colours/green.png': 'green', 'colours/blue.png': 'blue' })),
    }));
    const res = await upload([['colours.zip', zip]], { id: 'colours' });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.headers.location, '/v1/reference-sets/colours');
    assert.equal(res.body.id, 'colours');
    assert.equal(res.body.count, 3);
    assert.equal(res.body.bundled, false);
    assert.deepEqual(res.body.labels, ['blue', 'green', 'red']);
    assert.deepEqual(res.body.images.map((i: { index: number; name: string; label: string; width: number; height: number }) => [i.index, i.name, i.label, i.width, i.height]),
      [[0, 'colours/green.png', 'green', 24, 24], [1, 'colours/red.jpg', 'red', 20, 28], [2, 'colours/blue.png', 'blue', 16, 16]]);
    assert.match(res.body.hash, /^[0-9a-f]{64}$/);
    // The JPEG is stored decoded, as an RGB PNG.
    const stored = await svc.services.storage.get(res.body.images[1].key);
    const png = PNG.sync.read(Buffer.from(stored));
    assert.deepEqual([png.width, png.height], [20, 28]);
    assert.ok(Math.abs(png.data[0]! - RED[0]) < 12 && png.data[1]! < 50, `stored red pixel: ${[...png.data.subarray(0, 3)]}`);
  });

  test('image files as parts, labels as a field; GET lists it beside the bundled shapes set and reads it back', async () => {
    const res = await upload([['a.png', pngOf(RED)], ['b.jpeg', jpegOf(BLUE)]], { id: 'parts', labels: JSON.stringify({ 'a.png': 'warm' }) });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.deepEqual(res.body.images.map((i: { name: string; label: string | null }) => [i.name, i.label]), [['a.png', 'warm'], ['b.jpeg', null]]);
    const list = await svc.http.get('/v1/reference-sets');
    assert.equal(list.status, 200);
    const ids = list.body.referenceSets.map((s: { id: string }) => s.id);
    assert.equal(ids[0], 'shapes');
    assert.ok(ids.includes('parts'), ids.join(','));
    assert.equal(list.body.referenceSets[0].bundled, true);
    const one = await svc.http.get('/v1/reference-sets/parts');
    assert.equal(one.status, 200);
    assert.deepEqual(one.body, res.body);
    const missing = await svc.http.get('/v1/reference-sets/nope');
    assert.equal(missing.status, 404);
  });

  test('the same id twice → 409 naming id; the first set is unchanged', async () => {
    const first = await upload([['x.png', pngOf(GREEN)]], { id: 'twice' });
    assert.equal(first.status, 201);
    const second = await upload([['y.png', pngOf(BLUE)], ['z.png', pngOf(RED)]], { id: 'twice' });
    assert.equal(second.status, 409, JSON.stringify(second.body));
    assert.equal(second.body.field, 'id');
    assert.equal((await svc.http.get('/v1/reference-sets/twice')).body.count, 1);
  });

  test('a file that is not an image → 415 naming it, and nothing is stored', async () => {
    const zip = Buffer.from(zipSync({ 'ok.png': pngOf(RED), 'notes.txt': Buffer.from('not an image') }));
    const res = await upload([['mixed.zip', zip]], { id: 'mixed' });
    assert.equal(res.status, 415, JSON.stringify(res.body));
    assert.equal(res.body.field, 'notes.txt');
    assert.match(res.body.detail, /notes\.txt: not a PNG or JPEG/);
    assert.equal((await svc.http.get('/v1/reference-sets/mixed')).status, 404);
    assert.deepEqual(await svc.services.storage.list('reference-sets/mixed/'), []);
  });

  test('a PNG signature on bytes that do not decode → 422 naming the file', async () => {
    const broken = Buffer.concat([pngOf(RED).subarray(0, 40), Buffer.alloc(20)]);
    const res = await upload([['good.png', pngOf(GREEN)], ['broken.png', broken]], { id: 'broken' });
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.equal(res.body.field, 'broken.png');
    assert.deepEqual(await svc.services.storage.list('reference-sets/broken/'), []);
  });

  test('more images than REFERENCE_SET_MAX_IMAGES (4 here) → 413, as parts and in a zip', async () => {
    const five = Array.from({ length: 5 }, (_, i) => [`i${i}.png`, pngOf(GREEN)] as [string, Buffer]);
    const parts = await upload(five, { id: 'many' });
    assert.equal(parts.status, 413, JSON.stringify(parts.body));
    assert.match(parts.body.detail, /more than 4 images/);
    const zipped = await upload([['many.zip', Buffer.from(zipSync(Object.fromEntries(five)))]], { id: 'many' });
    assert.equal(zipped.status, 413, JSON.stringify(zipped.body));
    assert.equal((await svc.http.get('/v1/reference-sets/many')).status, 404);
  });

  test('more decoded pixels than REFERENCE_SET_MAX_PIXELS (3,000 here) → 413 naming the image that passed it, nothing stored', async () => {
    // Three flat 32-px PNGs: a few hundred bytes each, 1,024 pixels each decoded.
    const res = await upload([['p0.png', pngOf(RED, 32)], ['p1.png', pngOf(GREEN, 32)], ['p2.png', pngOf(BLUE, 32)]], { id: 'pixels' });
    assert.equal(res.status, 413, JSON.stringify(res.body));
    assert.equal(res.body.field, 'p2.png');
    assert.match(res.body.detail, /REFERENCE_SET_MAX_PIXELS/);
    assert.equal((await svc.http.get('/v1/reference-sets/pixels')).status, 404);
    assert.deepEqual(await svc.services.storage.list('reference-sets/pixels/'), []);
  });

  test('no images, or not multipart → 4xx', async () => {
    const empty = await svc.http.post('/v1/reference-sets').field('id', 'empty');
    assert.equal(empty.status, 400, JSON.stringify(empty.body));
    assert.equal(empty.body.field, 'files');
    const json = await svc.http.post('/v1/reference-sets').send({ id: 'json' });
    assert.equal(json.status, 415);
  });
});

describe('jobs that name an uploaded reference set', () => {
  test('reference.set: referenceMax, referenceRatio and the dataset examples come from the uploaded images', async () => {
    // shapes-a's `red` class: of a red, a green and a blue image, the red one has the highest logit.
    const zip = Buffer.from(zipSync({ 'g.png': pngOf(GREEN), 'r.jpg': jpegOf(RED), 'b.png': pngOf(BLUE), 'labels.csv': Buffer.from('name,label\ng.png,green\nr.jpg,red\nb.png,blue\n') }));
    assert.equal((await upload([['rgb.zip', zip]], { id: 'rgb' })).status, 201);
    const created = await svc.http.post('/v1/jobs').send({
      model: 'shapes-a', objective: { type: 'class', class: 'red' }, steps: 3, image: { size: 32 }, seed: 1,
      reference: { set: 'rgb', examples: 1 },
    });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const job = await svc.waitForJob(created.body.id);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    const examples = job.result!.examples!;
    const top = examples.find((e) => e.kind === 'top')!;
    const bottom = examples.find((e) => e.kind === 'bottom')!;
    assert.equal(examples.length, 2);
    assert.deepEqual([top.referenceIndex, top.label], [1, 'red']);
    assert.notEqual(bottom.referenceIndex, 1);
    assert.ok(['green', 'blue'].includes(bottom.label), bottom.label);
    const metrics = job.result!.metrics as { referenceMax: number; referenceRatio: number; objective: number };
    assert.ok(Math.abs(metrics.referenceMax - top.value) < 1e-4, `referenceMax ${metrics.referenceMax} is the top example's value ${top.value}`);
    assert.ok(Number.isFinite(metrics.referenceRatio));
    // The example is the uploaded JPEG, resized to the run's 32 px.
    const file = await svc.fetchFile(top.url);
    const png = PNG.sync.read(file.body);
    assert.deepEqual([png.width, png.height], [32, 32]);
    const centre = (16 * 32 + 16) * 4;
    assert.ok(png.data[centre]! > 200 && png.data[centre + 1]! < 60 && png.data[centre + 2]! < 60, `red centre: ${[...png.data.subarray(centre, centre + 3)]}`);
  });

  test('decorrelate.images and an inversion target may name the uploaded set too', async () => {
    const created = await svc.http.post('/v1/jobs').send({
      model: 'shapes-a', steps: 2, image: { size: 32 }, seed: 2,
      objective: { type: 'inversion', layer: 'conv1', image: { reference: { set: 'rgb', index: 1 } } },
      parameterization: { type: 'pixel', decorrelate: { images: 'rgb' } },
    });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const job = await svc.waitForJob(created.body.id);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
  });

  test('an inversion target beyond the uploaded set\'s images → 422 naming its index, nothing queued; the last image is accepted', async () => {
    const inversion = (index: number) => ({ type: 'inversion', layer: 'conv1', image: { reference: { set: 'rgb', index } } });
    for (const [objective, field] of [
      [inversion(3), 'objective.image.reference.index'],
      [{ type: 'sum', terms: [{ objective: { type: 'class', class: 'red' } }, { objective: inversion(7), weight: 0.5 }] }, 'objective.terms[1].objective.image.reference.index'],
    ] as const) {
      const before = await svc.services.store.counts();
      const res = await svc.http.post('/v1/jobs').send({ model: 'shapes-a', steps: 1, image: { size: 32 }, objective });
      assert.equal(res.status, 422, JSON.stringify(res.body));
      assert.equal(res.body.field, field);
      assert.match(res.body.detail, /reference set "rgb" has 3 images/);
      assert.deepEqual(await svc.services.store.counts(), before, 'nothing was queued');
    }
    const last = await svc.http.post('/v1/jobs').send({ model: 'shapes-a', steps: 1, image: { size: 32 }, seed: 1, objective: inversion(2) });
    assert.equal(last.status, 202, JSON.stringify(last.body));
    assert.equal((await svc.waitForJob(last.body.id)).status, 'succeeded');
  });

  for (const [name, body, field] of [
    ['reference.set', { reference: { set: 'no-such-set' } }, 'reference.set'],
    ['decorrelate.images', { parameterization: { type: 'pixel', decorrelate: { images: 'no-such-set' } } }, 'parameterization.decorrelate.images'],
    ['an inversion target', { objective: { type: 'inversion', layer: 'conv1', image: { reference: { set: 'no-such-set', index: 0 } } } }, 'objective.image.reference.set'],
  ] as const) {
    test(`an unknown set in ${name} → 422 naming ${field}, nothing queued`, async () => {
      const before = await svc.services.store.counts();
      const res = await svc.http.post('/v1/jobs').send({ model: 'shapes-a', objective: { type: 'class', class: 'red' }, steps: 2, ...body });
      assert.equal(res.status, 422, JSON.stringify(res.body));
      assert.equal(res.body.field, field);
      assert.match(res.body.detail, /no reference set with id "no-such-set"/);
      assert.deepEqual(await svc.services.store.counts(), before, 'nothing was queued');
    });
  }
});

describe('facets are checked before queueing', () => {
  for (const [name, extra, field] of [
    ['without a reference set', { facets: { k: 2 } }, 'facets'],
    ['k over reference.count', { facets: { k: 4 }, reference: { set: 'shapes', count: 3 } }, 'facets.k'],
    ['top under k', { facets: { k: 3, top: 2 }, reference: { set: 'shapes' } }, 'facets.top'],
    ['with a cppn parameterisation', { facets: { k: 2 }, reference: { set: 'shapes' }, parameterization: { type: 'cppn' } }, 'parameterization.type'],
    ['with a maco parameterisation', { facets: { k: 2 }, reference: { set: 'shapes' }, parameterization: { type: 'maco' } }, 'parameterization.type'],
    ['with a per-item objective list', { facets: { k: 2 }, reference: { set: 'shapes' }, objective: [{ type: 'class', class: 0 }, { type: 'class', class: 1 }], image: { batch: 2 } }, 'facets'],
    ['with image.batch other than k', { facets: { k: 2 }, reference: { set: 'shapes' }, image: { batch: 3 } }, 'image.batch'],
  ] as const) {
    test(`facets ${name} → 422 naming ${field}, nothing queued`, async () => {
      const before = await svc.services.store.counts();
      const res = await svc.http.post('/v1/jobs').send({ model: 'shapes-a', objective: { type: 'class', class: 'cross' }, steps: 2, ...extra });
      assert.equal(res.status, 422, JSON.stringify(res.body));
      assert.equal(res.body.field, field, res.body.detail);
      assert.deepEqual(await svc.services.store.counts(), before, 'nothing was queued');
    });
  }

  test('valid facets without image.batch are queued with the batch k and run', async () => {
    const created = await svc.http.post('/v1/jobs').send({ model: 'shapes-a', objective: { type: 'class', class: 'cross' }, steps: 2, facets: { k: 2, top: 4 }, reference: { set: 'rgb', examples: 0 }, seed: 4 });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const job = await svc.waitForJob(created.body.id);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.equal(job.result!.images.length, 2);
  });
});
