/**
 * Issue 4, target 5: the service's own overhead, against a real redis-server on a free port, the API
 * listening on loopback and, for the latency case, a worker with its engine thread:
 *
 * - queue overhead: one-step jobs posted one after another; for each, the time from sending
 *   POST /v1/jobs to seeing `succeeded` (a long poll) minus the engine's own time (visualize's
 *   totalMs, from the job's metadata.json). Median over the jobs.
 * - API requests/s: autocannon (its CLI, in its own process so it does not share the API's event loop)
 *   POSTs jobs for a few seconds; no worker runs, the jobs queue up in Redis.
 * - sweep acceptance: POST /v1/sweeps for 10,000 units of a 1×1 conv layer with 10,240 channels — a
 *   synthetic model made here, as no bundled model has a layer that wide — until its 202.
 * - polling: autocannon GETs one queued job, and a page of 100 units of that queued sweep, as
 *   dashboards and pipelines poll.
 * - a sweep as a pipeline user sees it (issue 4, target 3, through the service): POST /v1/sweeps for 64
 *   channels of the sweep layer until the sweep reads `succeeded`, against 64 single-channel
 *   POST /v1/jobs with the same settings until every one reads `succeeded`. Same worker (one, with its
 *   engine thread); the worker batches a sweep's units into one run (services/worker/src/batch-runs.ts,
 *   SWEEP_BATCH_MAX); separate jobs are grouped too: the worker batches those already waiting when it
 *   takes one (each item draws from its own seed, engine itemSeeds). The one-by-one baseline runs on a
 *   worker with SWEEP_BATCH_MAX 1 (no batching), the grouped jobs and the sweep on the configured one.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import * as tfl from '@tensorflow/tfjs-layers';
import { loadConfig, type Config } from '@featurevis/config';
import { startRedisServer, sweepJobId } from '@featurevis/queue';
import { createServices } from '@featurevis/runtime';
import { startApi } from '@featurevis/api';
import { startWorker } from '@featurevis/worker';
import { initBackend } from '@featurevis/engine/backends';
import { inspectModel, serializeLayersModel, serializedModelFiles } from '@featurevis/engine/models';
import { writeFixtureModel } from '../../test/helpers/fixture-model.ts';
import { bundledModelIds, modelsFolder, smallModel } from '../models.ts';
import { median } from '../timing.ts';
import type { BenchGroup, BenchRow } from './types.ts';

const SWEEP_UNITS = 10_000;
/** Units of the sweep-vs-jobs case, as in the engine-level sweep group. */
const SWEEP_CASE_UNITS = 64;
/** Sweeps of that size posted at once for the throughput case: several batched runs back to back. */
const CONCURRENT_SWEEPS = 4;
/**
 * Clients here wait with long polls (`?wait=`, services/api/src/finish-waiters.ts): each GET answers as
 * soon as its job or sweep has finished, so the times are when a client learns of it, and no polling
 * loop takes CPU from the worker on these two cores (polling every 25 ms slowed the batched run by
 * 15–20 % in an earlier version of this benchmark).
 */
const LONG_POLL_S = 30;
const WIDE_CHANNELS = 10_240;
const autocannonBin = fileURLToPath(new URL('../../node_modules/.bin/autocannon', import.meta.url));

/** A model folder (model.json, weights.bin, featurevis.json) as the catalog reads them. */
async function writeModelFolder(dir: string, id: string, model: tfl.LayersModel, sizePx: number): Promise<void> {
  const serialized = await serializeLayersModel(model);
  model.dispose();
  const view = await inspectModel(serializedModelFiles(serialized), { id, metadata: { name: id, input: { range: [0, 1] } }, bundled: true, defaultSizePx: sizePx });
  await mkdir(path.join(dir, id), { recursive: true });
  await writeFile(path.join(dir, id, 'model.json'), JSON.stringify(serialized.modelJson));
  await writeFile(path.join(dir, id, 'weights.bin'), serialized.weights);
  await writeFile(path.join(dir, id, 'featurevis.json'), JSON.stringify(view));
}

/** A 1×1 convolution to 10,240 channels, global pooling and a 4-class head: a layer a 10,000-unit sweep fits in. */
function wideModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [null, null, 3], name: 'image' });
  const wide = tfl.layers.conv2d({ filters: WIDE_CHANNELS, kernelSize: 1, activation: 'relu', name: 'wide' }).apply(input) as tfl.SymbolicTensor;
  const pooled = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(wide) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 4, activation: 'softmax', name: 'probabilities' }).apply(pooled) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out, name: 'wide_synthetic' });
}

/** The models folder the service sees: the first bundled model (else the test fixture) and the wide one. */
async function prepareModels(dir: string): Promise<string> {
  const [bundled] = await bundledModelIds();
  if (bundled != null) await cp(path.join(modelsFolder, bundled), path.join(dir, bundled), { recursive: true });
  else await writeFixtureModel(dir, 'fixture');
  await writeModelFolder(dir, 'wide-synthetic', wideModel(), 16);
  return bundled ?? 'fixture';
}

async function postJson(url: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** One one-step job: POST-to-succeeded time and the engine's time for it. */
async function timeOneJob(baseUrl: string, storage: { get(key: string): Promise<Uint8Array> }, model: string, seed: number) {
  const started = performance.now();
  const posted = await postJson(`${baseUrl}/v1/jobs`, { model, objective: { type: 'class', class: 0 }, steps: 1, seed });
  if (posted.status !== 202) throw new Error(`POST /v1/jobs answered ${posted.status}: ${JSON.stringify(posted.body)}`);
  const id = posted.body.id as string;
  await waitForSuccess(`${baseUrl}/v1/jobs/${id}`);
  const endToEndMs = performance.now() - started;
  const metadata = JSON.parse(Buffer.from(await storage.get(`jobs/${id}/metadata.json`)).toString('utf8')) as { timings: { totalMs: number } };
  return { endToEndMs, computeMs: metadata.timings.totalMs };
}

/** Long-polls a job or sweep (GET `url` with `wait`) until it reads `succeeded`; throws on `failed` or `canceled`. */
async function waitForSuccess(url: string): Promise<void> {
  const waitUrl = `${url}${url.includes('?') ? '&' : '?'}wait=${LONG_POLL_S}`;
  for (;;) {
    const view = (await (await fetch(waitUrl)).json()) as { status: string; error?: { message: string } | null };
    if (view.status === 'succeeded') return;
    if (view.status === 'failed' || view.status === 'canceled') throw new Error(`${url}: ${view.status} ${view.error?.message ?? ''}`);
  }
}

interface SweepCaseSettings { model: string; layer: string; channels: number; steps: number; seed: number }

/**
 * POST /v1/sweeps for channels [0, channels) until the sweep reads `succeeded`, in ms; also when its
 * first unit read `succeeded` (about when the worker's batched run ended: the rest is the units' own
 * jobs passing through the queue).
 */
async function timeServiceSweep(baseUrl: string, s: SweepCaseSettings): Promise<{ totalMs: number; firstUnitMs: number }> {
  const started = performance.now();
  const posted = await postJson(`${baseUrl}/v1/sweeps`, { model: s.model, layer: s.layer, channels: { start: 0, end: s.channels }, steps: s.steps, seed: s.seed });
  if (posted.status !== 202) throw new Error(`POST /v1/sweeps answered ${posted.status}: ${JSON.stringify(posted.body)}`);
  const id = posted.body.id as string;
  const [firstUnitMs, totalMs] = await Promise.all([
    waitForSuccess(`${baseUrl}/v1/jobs/${sweepJobId(id, 0)}`).then(() => performance.now() - started),
    waitForSuccess(`${baseUrl}/v1/sweeps/${id}?limit=1`).then(() => performance.now() - started),
  ]);
  return { totalMs, firstUnitMs };
}

/**
 * `count` sweeps of the same channels posted at once (as a pipeline submits a layer's worth), until every
 * one reads `succeeded`: the wall time, and the engine time of the batched runs that made them (each
 * run's leader's metadata: visualize's totalMs), so that the share of the worker's time spent computing
 * shows what storing and the queue's bookkeeping cost between runs.
 */
async function timeConcurrentSweeps(baseUrl: string, storage: { get(key: string): Promise<Uint8Array> }, s: SweepCaseSettings, count: number) {
  const started = performance.now();
  const ids = await Promise.all(Array.from({ length: count }, async (_, k) => {
    const posted = await postJson(`${baseUrl}/v1/sweeps`, { model: s.model, layer: s.layer, channels: { start: 0, end: s.channels }, steps: s.steps, seed: s.seed + k });
    if (posted.status !== 202) throw new Error(`POST /v1/sweeps answered ${posted.status}: ${JSON.stringify(posted.body)}`);
    return posted.body.id as string;
  }));
  await Promise.all(ids.map((id) => waitForSuccess(`${baseUrl}/v1/sweeps/${id}?limit=1`)));
  const totalMs = performance.now() - started;
  let engineMs = 0;
  let runs = 0;
  for (const id of ids) {
    for (let channel = 0; channel < s.channels; channel++) {
      const jobId = sweepJobId(id, channel);
      const metadata = JSON.parse(Buffer.from(await storage.get(`jobs/${jobId}/metadata.json`)).toString('utf8')) as { batch?: { leader: string }; timings: { totalMs: number } };
      if ((metadata.batch?.leader ?? jobId) !== jobId) continue; // made in another unit's run
      engineMs += metadata.timings.totalMs;
      runs += 1;
    }
  }
  return { totalMs, engineMs, runs };
}

/**
 * One POST /v1/jobs per channel of [0, channels), same settings, until every job reads `succeeded`, in
 * ms. With the seed in the request or without it, the worker groups the jobs already waiting when it
 * takes one into one batched run (batch-runs.ts; a chosen seed is its job's item's own, engine
 * itemSeeds): the two should take about as long.
 */
async function timeSeparateJobs(baseUrl: string, s: SweepCaseSettings): Promise<number> {
  const started = performance.now();
  const ids: string[] = [];
  for (let channel = 0; channel < s.channels; channel++) {
    const posted = await postJson(`${baseUrl}/v1/jobs`, { model: s.model, objective: { type: 'channel', layer: s.layer, channel }, steps: s.steps, seed: s.seed });
    if (posted.status !== 202) throw new Error(`POST /v1/jobs answered ${posted.status}: ${JSON.stringify(posted.body)}`);
    ids.push(posted.body.id as string);
  }
  // The worker takes them in order, so waiting for each in turn costs no more than waiting for all.
  for (const id of ids) await waitForSuccess(`${baseUrl}/v1/jobs/${id}`);
  return performance.now() - started;
}

interface AutocannonResult { requests: { average: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number; '2xx': number }

/** POSTs `body` to `url` for `seconds` from 16 connections; GETs it where there is no body. */
async function autocannon(url: string, body: unknown, seconds: number): Promise<AutocannonResult> {
  const request = body === undefined ? ['--method', 'GET'] : ['--method', 'POST', '--headers', 'content-type=application/json', '--body', JSON.stringify(body)];
  const { stdout } = await promisify(execFile)(autocannonBin, [
    '--json', '--connections', '16', '--duration', String(seconds), ...request, url,
  ], { maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout) as AutocannonResult;
}

export const serviceGroup: BenchGroup = {
  name: 'service',
  async run(options, report) {
    const backend = options.backends.includes('wasm') ? 'wasm' : options.backends[0] ?? 'wasm';
    await initBackend(backend as 'cpu' | 'wasm', { wasmThreads: options.wasmThreads, nativeConv: options.nativeConv }); // for writing the models here; the worker's engine thread has its own
    const root = await mkdtemp(path.join(os.tmpdir(), 'featurevis-bench-'));
    const redis = await startRedisServer();
    const cleanups: Array<() => Promise<unknown>> = [() => redis.stop(), () => rm(root, { recursive: true, force: true })];
    const base: BenchRow = { group: 'service', backend, variant: '' };
    try {
      const modelsDir = path.join(root, 'models');
      await mkdir(modelsDir, { recursive: true });
      const model = await prepareModels(modelsDir);
      const config = loadConfig({}, {
        redisUrl: redis.url, dataDir: path.join(root, 'data'), modelsDir, host: '127.0.0.1', port: 0,
        logLevel: 'silent', tfjsBackend: backend as Config['tfjsBackend'], progressEverySteps: 1000, wasmThreads: options.wasmThreads ?? 0, nativeConv: options.nativeConv ? 'auto' : 'off',
      });
      const api = await startApi(config);
      cleanups.unshift(() => api.close());
      const baseUrl = api.url.replace('localhost', '127.0.0.1');

      // One worker at a time: first one that never batches (SWEEP_BATCH_MAX 1), for the queue overhead
      // and the baseline of one-channel jobs run one by one; then one with the configured batching.
      const startBenchWorker = async (workerConfig: Config) => {
        const services = await createServices(workerConfig);
        const running = await startWorker({ config: workerConfig, ...services, logger: pino({ level: 'silent' }) });
        if (running.backend.threads) base.threads = running.backend.threads;
        return { services, close: async () => { await running.close(); await services.close(); } };
      };
      const sweepModel = await smallModel(); // the model prepareModels copied; for its sweep layer
      const { name: layer, channels: layerChannels } = sweepModel.sweepLayer;
      sweepModel.model.dispose();
      // As in the sweep group: --quick 32 steps, else the service's default of 128. Without --quick,
      // two rounds, means reported, so load drift hits every case.
      const settings: SweepCaseSettings = { model, layer, channels: Math.min(SWEEP_CASE_UNITS, layerChannels), steps: options.quick ? 32 : 128, seed: 1 };
      const rounds = options.quick ? 1 : 2;
      let jobsMs = 0;
      const solo = await startBenchWorker({ ...config, sweepBatchMax: 1 });
      const jobs = options.quick ? 10 : 20;
      try {
        await timeOneJob(baseUrl, solo.services.storage, model, 0); // warm-up: model load, kernels
        const samples = [];
        for (let i = 1; i <= jobs; i++) samples.push(await timeOneJob(baseUrl, solo.services.storage, model, i));
        const row: BenchRow = {
          ...base, variant: `${jobs} one-step jobs, one at a time, worker on ${backend}`, model, steps: 1,
          endToEndMs: median(samples.map((s) => s.endToEndMs)), computeMs: median(samples.map((s) => s.computeMs)),
          queueOverheadMs: median(samples.map((s) => s.endToEndMs - s.computeMs)),
          note: `overhead = POST sent → succeeded seen (long poll, ?wait=${LONG_POLL_S}) − engine totalMs`,
        };
        console.error(`  queue overhead: ${row.queueOverheadMs!.toFixed(1)} ms (end to end ${row.endToEndMs!.toFixed(1)} ms, compute ${row.computeMs!.toFixed(1)} ms)`);
        report(row);
        for (let round = 0; round < rounds; round++) jobsMs += (await timeSeparateJobs(baseUrl, settings)) / rounds;
      } finally {
        await solo.close();
      }

      // A sweep against the same units as separate jobs (grouped by the worker), with batching on.
      const batching = await startBenchWorker(config);
      try {
        await timeServiceSweep(baseUrl, { ...settings, channels: Math.min(2, settings.channels), steps: 1 }); // warm-up: the batched path
        let groupedMs = 0;
        let sweepMs = 0;
        let firstUnitMs = 0;
        for (let round = 0; round < rounds; round++) {
          groupedMs += (await timeSeparateJobs(baseUrl, settings)) / rounds;
          const sweep = await timeServiceSweep(baseUrl, settings);
          sweepMs += sweep.totalMs / rounds;
          firstUnitMs += sweep.firstUnitMs / rounds;
        }
        console.error(`  ${settings.channels}-unit sweep through the service: ${sweepMs.toFixed(0)} ms (first unit done at ${firstUnitMs.toFixed(0)} ms); ${settings.channels} separate jobs one by one ${jobsMs.toFixed(0)} ms, grouped ${groupedMs.toFixed(0)} ms`);
        report({
          ...base, variant: `sweep of ${settings.channels} units vs ${settings.channels} one-channel jobs, worker on ${backend}`, model,
          steps: settings.steps, units: settings.channels, serviceSweepMs: sweepMs, serviceJobsMs: jobsMs, serviceSweepVsJobsRatio: sweepMs / jobsMs,
          serviceGroupedJobsMs: groupedMs, serviceGroupedVsJobsRatio: groupedMs / jobsMs,
          note: `layer ${layer} (${layerChannels} channels); jobs one by one: a worker with SWEEP_BATCH_MAX 1; grouped jobs and sweep: SWEEP_BATCH_MAX ${config.sweepBatchMax}, SWEEP_BATCH_PIXELS ${config.sweepBatchPixels}; `
            + `the sweep's first unit read succeeded after ${firstUnitMs.toFixed(0)} ms; `
            + `POST sent → succeeded seen (long polls, ?wait=${LONG_POLL_S})` + (rounds > 1 ? `; mean of ${rounds} rounds` : ''),
        });
      } catch (error) {
        report({ ...base, variant: `sweep vs one-channel jobs, worker on ${backend}`, model, error: (error as Error).message });
      }
      try {
        const sweeps = await timeConcurrentSweeps(baseUrl, batching.services.storage, settings, CONCURRENT_SWEEPS);
        const units = CONCURRENT_SWEEPS * settings.channels;
        console.error(`  ${CONCURRENT_SWEEPS} sweeps of ${settings.channels} units at once: ${sweeps.totalMs.toFixed(0)} ms, engine ${sweeps.engineMs.toFixed(0)} ms (${sweeps.runs} batched runs)`);
        report({
          ...base, variant: `${CONCURRENT_SWEEPS} sweeps of ${settings.channels} units posted at once, worker on ${backend}`, model, steps: settings.steps, units,
          serviceSweepMs: sweeps.totalMs, serviceEngineMs: sweeps.engineMs, serviceEngineShare: sweeps.engineMs / sweeps.totalMs,
          note: `${sweeps.runs} batched runs; ${(units / (sweeps.totalMs / 1000)).toFixed(0)} units/s; the rest of the wall time: POSTs, claims, storing each run's files, handing units over through BullMQ (≈ 1.5 ms a unit), manifests`,
        });
      } catch (error) {
        report({ ...base, variant: `${CONCURRENT_SWEEPS} sweeps at once, worker on ${backend}`, model, error: (error as Error).message });
      } finally {
        await batching.close();
      }

      // POST /v1/jobs throughput; nothing consumes the queue.
      const seconds = 5;
      const load = await autocannon(`${baseUrl}/v1/jobs`, { model, objective: { type: 'class', class: 0 }, steps: 1 }, seconds);
      const loadRow: BenchRow = {
        ...base, variant: `POST /v1/jobs, autocannon 16 connections, ${seconds} s`, model,
        apiRequestsPerSecond: load.requests.average, apiLatencyP50Ms: load.latency.p50, apiLatencyP99Ms: load.latency.p99,
        note: `${load['2xx']} answered 2xx, ${load.non2xx} non-2xx, ${load.errors} errors`,
      };
      console.error(`  POST /v1/jobs: ${load.requests.average.toFixed(0)} requests/s (${loadRow.note})`);
      report(loadRow);

      // A 10,000-unit sweep, accepted.
      const started = performance.now();
      const sweep = await postJson(`${baseUrl}/v1/sweeps`, { model: 'wide-synthetic', layer: 'wide', channels: { start: 0, end: SWEEP_UNITS }, steps: 1 });
      const sweepAcceptMs = performance.now() - started;
      if (sweep.status !== 202) throw new Error(`POST /v1/sweeps answered ${sweep.status}: ${JSON.stringify(sweep.body)}`);
      console.error(`  ${SWEEP_UNITS}-unit sweep accepted in ${sweepAcceptMs.toFixed(0)} ms`);
      report({ ...base, variant: `POST /v1/sweeps, ${SWEEP_UNITS} units`, model: 'wide-synthetic', units: SWEEP_UNITS, sweepAcceptMs, note: `synthetic model: layer "wide", a 1×1 conv with ${WIDE_CHANNELS} channels` });

      // What pollers cost: GETs of one queued job, and of a page of 100 of the sweep's queued units.
      const job = await postJson(`${baseUrl}/v1/jobs`, { model, objective: { type: 'class', class: 0 }, steps: 1 });
      for (const [what, url] of [
        ['GET /v1/jobs/:id', `${baseUrl}/v1/jobs/${job.body.id as string}`],
        ['GET /v1/sweeps/:id?limit=100', `${baseUrl}/v1/sweeps/${sweep.body.id as string}?limit=100`],
      ] as const) {
        const polled = await autocannon(url, undefined, seconds);
        const pollRow: BenchRow = {
          ...base, variant: `${what}, autocannon 16 connections, ${seconds} s`, model,
          apiRequestsPerSecond: polled.requests.average, apiLatencyP50Ms: polled.latency.p50, apiLatencyP99Ms: polled.latency.p99,
          note: `${polled['2xx']} answered 2xx, ${polled.non2xx} non-2xx, ${polled.errors} errors; queued`,
        };
        console.error(`  ${what}: ${polled.requests.average.toFixed(0)} requests/s (${pollRow.note})`);
        report(pollRow);
      }
    } catch (error) {
      report({ ...base, variant: 'service', error: (error as Error).message });
    } finally {
      for (const cleanup of cleanups) await cleanup().catch(() => {});
    }
  },
};
