/**
 * Batched sweep units (services/worker/src/batch-runs.ts) when things go wrong: a canceled leader
 * gives its units back and they run on their own; SWEEP_BATCH_MAX=1 turns batching off.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sweepJobId } from '@featurevis/queue';
import { startService, type ServiceHandle } from './helpers/service.ts';
import { writeFixtureModel } from './helpers/fixture-model.ts';

let modelsDir: string;
before(async () => { modelsDir = await writeFixtureModel(await fs.mkdtemp(path.join(os.tmpdir(), 'fv-models-'))); });
after(async () => { await fs.rm(modelsDir, { recursive: true, force: true }); });

/** Until the sweep has finished and its manifest is written: the point a `?wait=` long poll answers at. */
async function waitForSweep(svc: ServiceHandle, id: string) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const res = await svc.http.get(`/v1/sweeps/${id}?limit=100&wait=5`);
    if (['succeeded', 'failed', 'canceled'].includes(res.body.status) && res.body.manifest != null) return res.body;
    if (Date.now() > deadline) throw new Error(`sweep ${id} still ${res.body.status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function metadataOf(svc: ServiceHandle, job: { result: { metadata: { key: string } } }) {
  return JSON.parse(Buffer.from(await svc.services.storage.get(job.result.metadata.key)).toString('utf8'));
}

describe('a canceled batch leader', () => {
  let svc: ServiceHandle;
  before(async () => { svc = await startService({ worker: true, config: { modelsDir, progressEverySteps: 1 } }); });
  after(async () => { await svc.stop(); });

  test('its units are given back and each runs on its own', async () => {
    const created = await svc.http.post('/v1/sweeps').send({ model: 'fixture', layer: 'conv1', channels: { start: 0, end: 4 }, steps: 200, image: { size: 16 } });
    assert.equal(created.status, 202);
    const leader = sweepJobId(created.body.id, 0);
    for (;;) {
      const res = await svc.http.get(`/v1/jobs/${leader}`);
      if (res.body.status === 'running' && res.body.progress.step >= 2) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    // While the leader's run optimises all four units, the sweep counts them running and each unit reads running.
    const during = await svc.http.get(`/v1/sweeps/${created.body.id}?limit=100`);
    assert.deepEqual(during.body.counts, { queued: 0, running: 4, succeeded: 0, failed: 0, canceled: 0 });
    assert.deepEqual(during.body.jobs.map((job: { status: string }) => job.status), ['running', 'running', 'running', 'running']);
    assert.equal((await svc.http.post(`/v1/jobs/${leader}/cancel`)).status, 202);
    const sweep = await waitForSweep(svc, created.body.id);
    assert.deepEqual(sweep.counts, { queued: 0, running: 0, succeeded: 3, failed: 0, canceled: 1 });
    assert.equal(sweep.status, 'canceled');
    for (const job of sweep.jobs.filter((j: { id: string }) => j.id !== leader)) {
      const metadata = await metadataOf(svc, job);
      assert.equal(metadata.batch?.leader === leader, false, `${job.id} was not left to the canceled run`);
      assert.equal(metadata.jobId, job.id);
    }
  });
});

describe('SWEEP_BATCH_MAX=1', () => {
  let svc: ServiceHandle;
  before(async () => { svc = await startService({ worker: true, config: { modelsDir, sweepBatchMax: 1 } }); });
  after(async () => { await svc.stop(); });

  test('every unit is its own run', async () => {
    const created = await svc.http.post('/v1/sweeps').send({ model: 'fixture', layer: 'conv1', channels: { start: 2, end: 5 }, steps: 2, image: { size: 16 } });
    const sweep = await waitForSweep(svc, created.body.id);
    assert.equal(sweep.counts.succeeded, 3);
    for (const job of sweep.jobs) assert.equal((await metadataOf(svc, job)).batch, undefined);
  });
});

describe('SWEEP_BATCH_MAX=1, a sweep read the moment its counts are final', () => {
  let svc: ServiceHandle;
  before(async () => { svc = await startService({ worker: true, config: { modelsDir, sweepBatchMax: 1 } }); });
  after(async () => { await svc.stop(); });

  test('shows every unit succeeded with its result (a unit is counted when its result is stored, not before BullMQ has it)', async () => {
    for (let round = 0; round < 4; round++) {
      const created = await svc.http.post('/v1/sweeps').send({ model: 'fixture', layer: 'conv1', channels: { start: 0, end: 6 }, steps: 1, image: { size: 16 }, seed: round });
      assert.equal(created.status, 202);
      // Redis directly, so the read comes right after the last unit is counted.
      let sweep = await svc.services.store.getSweep(created.body.id);
      while (sweep.status !== 'succeeded') {
        assert.ok(!['failed', 'canceled'].includes(sweep.status), sweep.status);
        await new Promise((r) => setTimeout(r, 1));
        sweep = await svc.services.store.getSweep(created.body.id);
      }
      const { jobs } = await svc.services.store.sweepJobs(sweep, 10);
      for (const job of jobs) {
        assert.equal(job.status, 'succeeded', `round ${round}: ${job.id}`);
        assert.ok(job.outcome?.metadata.key, `round ${round}: ${job.id} without its result`);
      }
    }
  });
});

describe('a batched sweep, watched', () => {
  let svc: ServiceHandle;
  before(async () => { svc = await startService({ worker: true, config: { modelsDir } }); });
  after(async () => { await svc.stop(); });

  test('its counts never move a unit back to queued, and a unit counts succeeded once the run has stored its result', async () => {
    const created = await svc.http.post('/v1/sweeps').send({ model: 'fixture', layer: 'conv1', channels: { start: 0, end: 8 }, steps: 3, image: { size: 16 } });
    assert.equal(created.status, 202);
    const seen: Array<{ queued: number; running: number; succeeded: number }> = [];
    for (;;) {
      // Redis directly, not through the API, so the polls come fast enough to see the hand-over.
      const sweep = await svc.services.store.getSweep(created.body.id);
      seen.push({ queued: sweep.counts.queued, running: sweep.counts.running, succeeded: sweep.counts.succeeded });
      if (sweep.status === 'succeeded') break;
      assert.ok(!['failed', 'canceled'].includes(sweep.status), sweep.status);
      await new Promise((r) => setTimeout(r, 2));
    }
    assert.ok(seen.some((counts) => counts.running === 8), `the run's eight units were never all counted running: ${JSON.stringify(seen)}`);
    for (let i = 1; i < seen.length; i++) {
      assert.ok(seen[i]!.queued <= seen[i - 1]!.queued, `queued went back up: ${JSON.stringify(seen.slice(Math.max(0, i - 3), i + 2))}`);
    }
    assert.deepEqual(seen.at(-1), { queued: 0, running: 0, succeeded: 8 });
  });

  test('once handed over through BullMQ, its units keep their run\'s times, in their views and in the job metrics', async () => {
    // The succeeded jobs' duration histogram (count and sum) of this API process.
    const durations = async () => {
      const text = (await svc.http.get('/metrics')).text;
      const read = (what: string) => Number(new RegExp(`featurevis_job_duration_seconds_${what}\\{status="succeeded"\\} ([\\d.e+-]+)`).exec(text)?.[1] ?? 0);
      return { count: read('count'), sum: read('sum') };
    };
    const before = await durations();
    const created = await svc.http.post('/v1/sweeps').send({ model: 'fixture', layer: 'conv1', channels: { start: 0, end: 8 }, steps: 6, image: { size: 16 } });
    const sweep = await waitForSweep(svc, created.body.id);
    assert.equal(sweep.status, 'succeeded');
    const ids = Array.from({ length: 8 }, (_, channel) => sweepJobId(created.body.id, channel));
    // Every unit completed in BullMQ (the hand-overs), and observed by the API's job metrics.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const counts = await svc.services.store.queue.getJobCounts('wait', 'active');
      if (counts.wait + counts.active === 0 && (await durations()).count >= before.count + 8) break;
      assert.ok(Date.now() < deadline, 'units not handed over and observed in time');
      await new Promise((r) => setTimeout(r, 20));
    }
    let runSeconds = 0;
    for (const id of ids) {
      assert.equal(await svc.services.store.jobState(id), 'completed');
      const view = (await svc.http.get(`/v1/jobs/${id}`)).body;
      const metadata = await metadataOf(svc, view);
      // The run's start, not the hand-over's (a later moment for each unit but the leader).
      assert.equal(view.startedAt, metadata.startedAt, id);
      assert.ok(Date.parse(view.finishedAt) >= Date.parse(metadata.finishedAt), id);
      runSeconds += (Date.parse(view.finishedAt) - Date.parse(view.startedAt)) / 1000;
    }
    // The duration histogram summed the runs' times (each unit's hand-over takes milliseconds).
    const sum = (await durations()).sum - before.sum;
    assert.ok(sum >= 0.99 * runSeconds, `duration sum ${sum} s against the runs' ${runSeconds} s`);
  });
});
