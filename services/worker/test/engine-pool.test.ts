/**
 * The worker's engine threads on a bundled model: results, cancellation through the shared flag,
 * invalid specs reported as such (so the job is not retried), no tensor left behind after many runs,
 * and a thread that dies is replaced.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '@featurevis/config';
import type { ModelView } from '@featurevis/contracts';
import { EnginePool, EngineRunError } from '../src/index.ts';
import { nativeConvInstructionSet, nativeConvUnavailableReason } from '@featurevis/engine/backends';

const modelDir = path.join(REPO_ROOT, 'models', 'shapes-a');
let view: ModelView;
let pool: EnginePool;
let loads = 0;

before(async () => {
  view = JSON.parse(await fs.readFile(path.join(modelDir, 'featurevis.json'), 'utf8')) as ModelView;
  pool = new EnginePool({
    size: 1,
    backendPreference: 'wasm',
    modelCacheBytes: 64 * 1024 * 1024,
    loadModelFiles: async () => {
      loads++;
      const modelJson = JSON.parse(await fs.readFile(path.join(modelDir, 'model.json'), 'utf8')) as { weightsManifest: Array<{ paths: string[] }> };
      const paths = modelJson.weightsManifest.flatMap((group) => group.paths);
      return { modelJson, weights: Object.fromEntries(await Promise.all(paths.map(async (p) => [p, new Uint8Array(await fs.readFile(path.join(modelDir, p)))] as const))) };
    },
  });
});
after(async () => { await pool.close(); });

const spec = (overrides: Record<string, unknown> = {}) => ({ model: 'shapes-a', objective: { type: 'channel', layer: 'conv2', channel: 3 }, steps: 4, image: { size: 16, batch: 2 }, seed: 5, ...overrides });

test('runs a job in the thread: images of the requested size, a trace per step, progress reports', async () => {
  const progress: number[] = [];
  const output = await pool.run(view, spec(), { progressEverySteps: 2, onProgress: (p) => progress.push(p.step) }).promise;
  assert.equal(output.images.length, 2);
  assert.deepEqual(output.images.map((i) => [i.width, i.height]), [[16, 16], [16, 16]]);
  assert.equal(output.trace.length, 4);
  assert.equal(output.backend, 'wasm');
  assert.equal(output.convolutions, nativeConvInstructionSet() ?? 'xnnpack');
  assert.deepEqual(progress, [2, 4]);
  assert.equal(output.leakedTensors, 0);
});

test('the engine thread\'s WASM backend runs on the cores given to it (here: all, one engine thread)', async () => {
  assert.equal(pool.wasmThreads(), Math.max(1, os.availableParallelism()));
  // tfjs-backend-wasm's pthread pool holds 8 threads: the engine starts at most that many.
  // With the convolution addon (where it is built and the CPU runs it) XNNPACK runs one thread.
  const native = nativeConvUnavailableReason() == null;
  assert.deepEqual(await pool.backend(), {
    type: 'backend', name: 'wasm', package: '@tensorflow/tfjs-backend-wasm', threads: Math.min(8, pool.wasmThreads()),
    nativeConv: native ? { active: true, instructionSet: nativeConvInstructionSet(), xnnpackThreads: 1 } : { active: false, reason: nativeConvUnavailableReason() },
  });
});

test('many runs leave no tensors behind and load the model once (the thread caches it)', async () => {
  const before = loads;
  for (let i = 0; i < 6; i++) {
    const output = await pool.run(view, spec({ seed: i, objective: i % 2 ? { type: 'class', class: 'red' } : { type: 'layer', layer: 'conv1' } }), { progressEverySteps: 10 }).promise;
    assert.equal(output.leakedTensors, 0, `run ${i} left tensors`);
  }
  assert.equal(loads, before, 'no reload while cached');
});

test('cancel stops a running job between steps', async () => {
  let started!: () => void;
  const running = new Promise<void>((resolve) => { started = resolve; });
  const handle = pool.run(view, spec({ steps: 100_000 }), { progressEverySteps: 1, onProgress: () => started() });
  await running;
  handle.cancel();
  await assert.rejects(handle.promise, (err: unknown) => err instanceof EngineRunError && err.kind === 'canceled');
  // The thread is free again.
  assert.equal((await pool.run(view, spec(), { progressEverySteps: 10 }).promise).images.length, 2);
});

test('a spec that can never succeed is reported as invalid, naming the field', async () => {
  await assert.rejects(pool.run(view, spec({ objective: { type: 'channel', layer: 'conv2', channel: 999 } }), { progressEverySteps: 10 }).promise,
    (err: unknown) => err instanceof EngineRunError && err.kind === 'invalid' && /channel/.test(err.field ?? err.message));
  await assert.rejects(pool.run(view, spec({ objective: { type: 'channel', layer: 'no-such-layer', channel: 0 } }), { progressEverySteps: 10 }).promise,
    (err: unknown) => err instanceof EngineRunError && err.kind === 'invalid' && /no-such-layer/.test(err.message));
});

test('the model cache counts the filters a run derives from a model\'s weights against its budget', async () => {
  // A budget of exactly the two models' weight files: both fit while unused; once the first has run
  // a gradient step, its derived input-gradient filters (WASM) count too, and loading the second
  // frees it, so running the first again loads it again.
  const models = ['shapes-a', 'shapes-b'];
  const views = Object.fromEntries(await Promise.all(models.map(async (id) => [id, JSON.parse(await fs.readFile(path.join(REPO_ROOT, 'models', id, 'featurevis.json'), 'utf8')) as ModelView] as const)));
  const weightBytes = async (id: string) => (await fs.stat(path.join(REPO_ROOT, 'models', id, 'weights.bin'))).size;
  const loadsOf: Record<string, number> = { 'shapes-a': 0, 'shapes-b': 0 };
  const tight = new EnginePool({
    size: 1,
    backendPreference: 'wasm',
    modelCacheBytes: (await weightBytes('shapes-a')) + (await weightBytes('shapes-b')),
    loadModelFiles: async (id) => {
      loadsOf[id]!++;
      const dir = path.join(REPO_ROOT, 'models', id);
      const modelJson = JSON.parse(await fs.readFile(path.join(dir, 'model.json'), 'utf8')) as { weightsManifest: Array<{ paths: string[] }> };
      const paths = modelJson.weightsManifest.flatMap((group) => group.paths);
      return { modelJson, weights: Object.fromEntries(await Promise.all(paths.map(async (p) => [p, new Uint8Array(await fs.readFile(path.join(dir, p)))] as const))) };
    },
  });
  try {
    const runOn = (id: string) => tight.run(views[id]!, spec({ model: id, objective: { type: 'channel', layer: 'conv2', channel: 1 }, steps: 2 }), { progressEverySteps: 10 }).promise;
    await runOn('shapes-a');
    await runOn('shapes-a');
    assert.deepEqual(loadsOf, { 'shapes-a': 1, 'shapes-b': 0 }, 'cached between its own runs');
    await runOn('shapes-b');
    await runOn('shapes-a');
    assert.deepEqual(loadsOf, { 'shapes-a': 2, 'shapes-b': 1 }, 'shapes-a, with its derived filters, did not fit beside shapes-b');
  } finally {
    await tight.close();
  }
});
