/**
 * Cancellation and BullMQ's lock: a queued job that is canceled never runs; a running job stops within
 * a few steps and ends `canceled`; a job that runs longer than the lock duration finishes once and is
 * never marked stalled, because the optimisation runs in the engine thread, off the event loop that
 * renews the lock.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { QueueEvents } from 'bullmq';
import { createRedis, QUEUE_NAME } from '@featurevis/queue';
import { startService, type ServiceHandle } from './helpers/service.ts';
import { writeFixtureModel } from './helpers/fixture-model.ts';

let modelsDir: string;
before(async () => { modelsDir = await writeFixtureModel(await fs.mkdtemp(path.join(os.tmpdir(), 'fv-models-'))); });
after(async () => { await fs.rm(modelsDir, { recursive: true, force: true }); });

const longJob = (steps: number) => ({ model: 'fixture', objective: { type: 'channel', layer: 'conv2', channel: 1 }, steps, image: { size: 48, batch: 4 }, seed: 1 });

async function waitUntil<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('cancel a queued job', () => {
  let svc: ServiceHandle;
  before(async () => { svc = await startService({ config: { modelsDir } }); });
  after(async () => { await svc.stop(); });

  test('a fresh service is ready before anything was written', async () => {
    const ready = await svc.http.get('/readyz');
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    assert.deepEqual(ready.body.checks, { redis: 'ok', storage: 'ok' });
  });

  test('it answers 200 canceled, and a worker started afterwards never runs it', async () => {
    const created = await svc.http.post('/v1/jobs').send(longJob(5));
    assert.equal(created.status, 202);
    const canceled = await svc.http.post(`/v1/jobs/${created.body.id}/cancel`);
    assert.equal(canceled.status, 200, JSON.stringify(canceled.body));
    assert.equal(canceled.body.status, 'canceled');
    // A second cancel of a finished job is a conflict.
    const again = await svc.http.post(`/v1/jobs/${created.body.id}/cancel`);
    assert.equal(again.status, 409);
    assert.match(again.body.detail, /canceled/);
    // A job queued after it must run, proving the worker was really there to take the first one.
    await svc.startWorker();
    const next = await svc.http.post('/v1/jobs').send({ ...longJob(2), image: { size: 16 } });
    assert.equal((await svc.waitForJob(next.body.id)).status, 'succeeded');
    const job = await svc.waitForJob(created.body.id);
    assert.equal(job.status, 'canceled');
    assert.equal(job.startedAt ?? null, null, 'never started');
    assert.deepEqual(await svc.services.storage.list(`jobs/${created.body.id}/`), [], 'nothing written');
  });

  test('an unknown job is a 404 problem', async () => {
    const res = await svc.http.post('/v1/jobs/no-such-job/cancel');
    assert.equal(res.status, 404);
    assert.match(res.headers['content-type'], /application\/problem\+json/);
  });
});

describe('a running job and the lock', () => {
  const lockDurationMs = 1000;
  let svc: ServiceHandle;
  let events: QueueEvents;
  let eventsConnection: ReturnType<typeof createRedis>;
  const stalled: string[] = [];
  const active = new Map<string, number>();
  before(async () => {
    svc = await startService({ worker: true, config: { modelsDir, lockDurationMs, stalledIntervalMs: 500, progressEverySteps: 1, maxSteps: 100_000 } });
    eventsConnection = createRedis(svc.config.redisUrl!, 'subscriber');
    events = new QueueEvents(QUEUE_NAME, { connection: eventsConnection, prefix: svc.config.queuePrefix });
    events.on('stalled', ({ jobId }) => stalled.push(jobId));
    events.on('active', ({ jobId }) => active.set(jobId, (active.get(jobId) ?? 0) + 1));
    await events.waitUntilReady();
  });
  after(async () => { await events.close(); eventsConnection.disconnect(); await svc.stop(); });

  test('a job running longer than the lock duration finishes once and is never stalled', async () => {
    // Enough steps to outlast several lock periods and stalled checks on this machine: a short run
    // measures the step time first. The test then checks from the job's own timings that it did.
    // (No redirected-ReLU steps, whose extra cost at the start would skew the per-step estimate.)
    const calibration = await svc.waitForJob((await svc.http.post('/v1/jobs').send({ ...longJob(40), reluGradientOverrideSteps: 0 })).body.id);
    const calibrationMeta = JSON.parse(Buffer.from(await svc.services.storage.get(calibration.result!.metadata.key)).toString('utf8'));
    // The calibration run's mean includes its warm-up, so aim well past the bound checked below.
    const steps = Math.ceil((12 * lockDurationMs) / calibrationMeta.timings.meanStepMs);
    const created = await svc.http.post('/v1/jobs').send({ ...longJob(steps), reluGradientOverrideSteps: 0 });
    const job = await svc.waitForJob(created.body.id, undefined, 300_000);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    const metadata = JSON.parse(Buffer.from(await svc.services.storage.get(job.result!.metadata.key)).toString('utf8'));
    assert.ok(metadata.timings.wallMs > 3 * lockDurationMs, `ran ${metadata.timings.wallMs} ms, longer than 3 lock periods`);
    assert.equal(metadata.attempt, 1);
    assert.equal(job.attempts, 1);
    assert.deepEqual(stalled, [], 'no job was marked stalled');
    assert.equal(active.get(job.id), 1, 'it became active exactly once');
  });

  test('a running job stops within a few steps of a cancel and ends canceled, writing nothing', async () => {
    const steps = 20_000;
    const created = await svc.http.post('/v1/jobs').send({ ...longJob(steps), reluGradientOverrideSteps: 0 });
    const id = created.body.id as string;
    const running = await waitUntil('the job to make progress', async () => {
      const res = await svc.http.get(`/v1/jobs/${id}`);
      return res.body.status === 'running' && res.body.progress?.step >= 3 ? res.body : undefined;
    });
    const canceled = await svc.http.post(`/v1/jobs/${id}/cancel`);
    assert.equal(canceled.status, 202, JSON.stringify(canceled.body));
    const job = await svc.waitForJob(id, undefined, 60_000);
    assert.equal(job.status, 'canceled');
    assert.ok(job.finishedAt);
    // Progress is reported every step here, so the last report shows where it stopped.
    assert.ok(job.progress!.step < running.progress.step + 50, `stopped at step ${job.progress!.step}, canceled near ${running.progress.step}`);
    assert.deepEqual(await svc.services.storage.list(`jobs/${id}/`), [], 'no partial result');
    assert.equal(job.attempts, 1, 'a cancel is not retried');
    assert.deepEqual(stalled, []);
  });
});

describe('a transient failure', () => {
  let svc: ServiceHandle;
  let dir: string;
  before(async () => {
    dir = await writeFixtureModel(await fs.mkdtemp(path.join(os.tmpdir(), 'fv-models-flaky-')));
    svc = await startService({ worker: true, config: { modelsDir: dir, jobAttempts: 3, jobBackoffMs: 1500 } });
  });
  after(async () => { await svc.stop(); await fs.rm(dir, { recursive: true, force: true }); });

  test('is retried with backoff and the job then succeeds, its result written once under the same keys', async () => {
    // The weights are unreadable for the first attempt (as if storage were briefly unreachable).
    const weights = path.join(dir, 'fixture', 'weights.bin');
    await fs.rename(weights, `${weights}.away`);
    const created = await svc.http.post('/v1/jobs').send({ model: 'fixture', objective: { type: 'class', class: 0 }, steps: 2, image: { size: 16 } });
    await waitUntil('the first attempt to fail', async () => {
      const job = await svc.services.store.get(created.body.id);
      return job.attempts >= 1 ? job : undefined;
    });
    const between = await svc.http.get(`/v1/jobs/${created.body.id}`);
    assert.equal(between.body.status, 'queued', 'waiting for its retry, not failed');
    await fs.rename(`${weights}.away`, weights);
    const job = await svc.waitForJob(created.body.id);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.equal(job.attempts, 2);
    const metadata = JSON.parse(Buffer.from(await svc.services.storage.get(job.result!.metadata.key)).toString('utf8'));
    assert.equal(metadata.attempt, 2);
    assert.deepEqual((await svc.services.storage.list(`jobs/${job.id}/`)).sort(), [`jobs/${job.id}/image-0.png`, `jobs/${job.id}/metadata.json`]);
  });
});
