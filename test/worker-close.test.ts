/**
 * A worker shuts down while Redis is unreachable (issue 2). BullMQ's worker.close() waits on Redis —
 * for the running job's completion to be written, and for its blocking connection to end — and hangs
 * as long as Redis is down, idle or not; a second close(true) only returns that same pending close.
 * RunningWorker.close() gives up after WORKER_CLOSE_TIMEOUT_MS, disconnects, and ends the engine
 * threads: it resolves, and leaves no socket or thread behind.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import supertest from 'supertest';
import { loadConfig } from '@featurevis/config';
import { startRedisServer } from '@featurevis/queue';
import { createServices } from '@featurevis/runtime';
import { buildApp } from '@featurevis/api';
import { startWorker } from '@featurevis/worker';
import { writeFixtureModel } from './helpers/fixture-model.ts';

let modelsDir: string;
before(async () => { modelsDir = await writeFixtureModel(await fs.mkdtemp(path.join(os.tmpdir(), 'fv-models-'))); });
after(async () => { await fs.rm(modelsDir, { recursive: true, force: true }); });

/** How many handles of each type keep the event loop alive (unref'd ones do not count). */
function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

async function until(what: string, probe: () => Promise<boolean>): Promise<void> {
  while (!(await probe())) await new Promise((resolve) => setTimeout(resolve, 25));
}

for (const state of ['idle', 'running a job'] as const) {
  // The liveness guard: without the bound, close() is still pending when this runs out.
  test(`a worker ${state} closes with Redis down: close() resolves, the engine threads end, no handle is left`, { timeout: 60_000 }, async () => {
    const baseline = activeResources();
    const redis = await startRedisServer();
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'featurevis-test-'));
    const config = loadConfig({}, { redisUrl: redis.url, dataDir, modelsDir, logLevel: 'silent', workerCloseTimeoutMs: 300, stalledIntervalMs: 200, progressEverySteps: 1, maxSteps: 100_000 });
    const workerServices = await createServices(config);
    const worker = await startWorker({ config, ...workerServices, logger: pino({ level: 'silent' }) });
    await worker.worker.waitUntilReady();
    assert.ok((activeResources().get('MessagePort') ?? 0) > (baseline.get('MessagePort') ?? 0), 'the engine thread is up');

    // The API queues the job and goes away before Redis does.
    const apiServices = await createServices(config);
    const app = await buildApp({ config, ...apiServices, logger: false });
    await app.ready();
    if (state === 'running a job') {
      const http = supertest(app.server);
      const created = await http.post('/v1/jobs').send({ model: 'fixture', objective: { type: 'channel', layer: 'conv2', channel: 1 }, steps: 20_000, image: { size: 32 }, seed: 1 });
      assert.equal(created.status, 202, JSON.stringify(created.body));
      await until('the job to run', async () => {
        const job = (await http.get(`/v1/jobs/${created.body.id}`)).body;
        return job.status === 'running' && job.progress?.step >= 2;
      });
    } else {
      // Long enough for the worker's main loop to sit in its blocking wait for a job.
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await app.close();
    await apiServices.close();

    await redis.stop();
    await worker.close();
    await workerServices.close();
    await fs.rm(dataDir, { recursive: true, force: true });

    // No socket and no engine thread left (a thread holds a MessagePort).
    await new Promise((resolve) => setImmediate(resolve));
    const left = [...activeResources()].filter(([type, count]) => type !== 'Timeout' && count > (baseline.get(type) ?? 0));
    assert.deepEqual(left, [], `handles left: ${JSON.stringify(left)}`);
    // Open: BullMQ's abandoned close never reaches its lock manager's close, whose lock-renewal timer
    // re-arms forever and would keep this file's process alive; only that is stopped here (BullMQ 6.7,
    // a protected member), so the rest of what keeps the process alive stays visible to `node --test`.
    await (worker.worker as unknown as { lockManager: { close(): Promise<void> } }).lockManager.close();
  });
}
