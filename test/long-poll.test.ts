/**
 * Long polling (`?wait=`, services/api/src/finish-waiters.ts): GET /v1/jobs/{id} and GET
 * /v1/sweeps/{id} answer when the job or sweep has finished — woken by the worker's announcement, by
 * a cancel — or when the wait is over, with the status as it is. Against a real redis-server and worker.
 * What is asserted is the status each answer carries (a request that did not wait would read
 * `queued`), never how long a request took.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startService, type ServiceHandle } from './helpers/service.ts';
import { writeFixtureModel } from './helpers/fixture-model.ts';

let modelsDir: string;
before(async () => { modelsDir = await writeFixtureModel(await fs.mkdtemp(path.join(os.tmpdir(), 'fv-models-'))); });
after(async () => { await fs.rm(modelsDir, { recursive: true, force: true }); });

const job = { model: 'fixture', objective: { type: 'class', class: 'red' }, steps: 3, image: { size: 16 } };

describe('long polling', () => {
  let svc: ServiceHandle;
  // Re-reads only every 10 minutes: what answers these requests in time is the announcements.
  before(async () => { svc = await startService({ config: { modelsDir, longPollRecheckMs: 600_000 } }); });
  after(async () => { await svc.stop(); });

  // Each waits up to 120 s and fails after 60: answered in time only by an announcement.
  test('a job read with ?wait= answers once a worker started after the request has finished it; the worker announces the finish', { timeout: 60_000 }, async () => {
    const created = await svc.http.post('/v1/jobs').send(job);
    assert.equal(created.status, 202);
    // What wakes the request at once (without it, the waiter's once-a-second re-read): the worker's
    // announcement on the finished channel.
    const listener = svc.services.redis.duplicate();
    const announced: string[] = [];
    listener.on('message', (_channel: string, id: string) => announced.push(id));
    await listener.subscribe(svc.services.store.keys.finishedChannel);
    const waiting = svc.http.get(`/v1/jobs/${created.body.id}?wait=120`).then((res) => res);
    // Nothing runs jobs until the request is waiting: its first read saw the job queued.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const worker = await svc.startWorker();
    try {
      const res = await waiting;
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.status, 'succeeded', JSON.stringify(res.body));
      assert.equal(res.body.result.images.length, 1);
      for (let i = 0; i < 100 && !announced.includes(created.body.id); i++) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.ok(announced.includes(created.body.id), `announced: ${announced.join(', ')}`);
    } finally {
      listener.disconnect();
      await worker.close();
    }
  });

  test('a cancel wakes a request waiting on a queued job; /metrics counts the requests waiting', { timeout: 60_000 }, async () => {
    const waitingGauge = async () => Number(/^featurevis_api_long_polls_waiting (\d+)$/m.exec((await svc.http.get('/metrics')).text)?.[1]);
    assert.equal(await waitingGauge(), 0);
    const created = await svc.http.post('/v1/jobs').send(job);
    const waiting = svc.http.get(`/v1/jobs/${created.body.id}?wait=120`).then((res) => res);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(await waitingGauge(), 1);
    assert.equal((await svc.http.post(`/v1/jobs/${created.body.id}/cancel`)).body.status, 'canceled');
    const res = await waiting;
    assert.equal(res.body.status, 'canceled');
    assert.equal(await waitingGauge(), 0);
  });

  test('a wait that runs out answers with the status as it is; without wait, at once', async () => {
    const created = await svc.http.post('/v1/jobs').send(job);
    const waited = await svc.http.get(`/v1/jobs/${created.body.id}?wait=1`);
    assert.equal(waited.status, 200);
    assert.equal(waited.body.status, 'queued');
    assert.equal((await svc.http.get(`/v1/jobs/${created.body.id}`)).body.status, 'queued');
    await svc.http.post(`/v1/jobs/${created.body.id}/cancel`);
  });

  test('a finished job answers at once, whatever the wait; an unknown one 404', async () => {
    const created = await svc.http.post('/v1/jobs').send(job);
    await svc.http.post(`/v1/jobs/${created.body.id}/cancel`);
    const res = await svc.http.get(`/v1/jobs/${created.body.id}?wait=300`);
    assert.equal(res.body.status, 'canceled');
    const missing = await svc.http.get('/v1/jobs/j-nope?wait=5');
    assert.equal(missing.status, 404);
  });

  test('a sweep read with ?wait= answers when every unit has finished, with its manifest', { timeout: 60_000 }, async () => {
    const created = await svc.http.post('/v1/sweeps').send({ model: 'fixture', layer: 'conv1', channels: { start: 0, end: 3 }, steps: 2, image: { size: 16 } });
    assert.equal(created.status, 202);
    const waiting = svc.http.get(`/v1/sweeps/${created.body.id}?wait=120&limit=10`).then((res) => res);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const worker = await svc.startWorker({ sweepBatchMax: 1 }); // unit by unit: the sweep is woken by each
    try {
      const res = await waiting;
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.status, 'succeeded');
      assert.equal(res.body.counts.succeeded, 3);
      assert.deepEqual(res.body.jobs.map((unit: { status: string }) => unit.status), ['succeeded', 'succeeded', 'succeeded']);
      // Written by the worker a moment after the last unit: the waited answer carries it.
      assert.ok(res.body.manifest, 'no manifest in the answer');
      const manifest = JSON.parse((await svc.fetchFile(res.body.manifest.url)).body.toString('utf8'));
      assert.equal(manifest.units.length, 3);
    } finally {
      await worker.close();
    }
  });

  test('wait outside 0..300 is a 400 naming the field', async () => {
    const created = await svc.http.post('/v1/jobs').send(job);
    for (const wait of ['-1', '301', 'soon']) {
      const res = await svc.http.get(`/v1/jobs/${created.body.id}?wait=${wait}`);
      assert.equal(res.status, 400, wait);
      assert.equal(res.body.field, 'wait', JSON.stringify(res.body));
    }
    const sweep = await svc.http.get('/v1/sweeps/s-nope?wait=301');
    assert.equal(sweep.status, 400);
    assert.equal(sweep.body.field, 'wait');
    await svc.http.post(`/v1/jobs/${created.body.id}/cancel`);
  });
});

describe('long polling, bounded and closed', () => {
  test('a wait is cut to LONG_POLL_MAX_S, and closing the API answers the requests still waiting', async () => {
    const svc = await startService({ config: { modelsDir, longPollMaxS: 1 } });
    let stopped = false;
    try {
      const created = await svc.http.post('/v1/jobs').send(job);
      // Cut to one second: it answers (queued) long before the test's own timeout.
      assert.equal((await svc.http.get(`/v1/jobs/${created.body.id}?wait=300`)).body.status, 'queued');

      const open = await startService({ config: { modelsDir, longPollMaxS: 300 } });
      try {
        const other = await open.http.post('/v1/jobs').send(job);
        const waiting = open.http.get(`/v1/jobs/${other.body.id}?wait=300`).then((res) => res);
        await new Promise((resolve) => setTimeout(resolve, 200));
        const closing = open.stop();
        stopped = true;
        const res = await waiting;
        assert.equal(res.status, 200);
        assert.equal(res.body.status, 'queued');
        await closing;
      } finally {
        if (!stopped) await open.stop();
      }
    } finally {
      await svc.stop();
    }
  });
});
