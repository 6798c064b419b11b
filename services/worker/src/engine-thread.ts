/**
 * The engine's thread. Optimisation is CPU/GPU-bound for seconds to hours; running it here keeps the
 * worker's event loop free, so BullMQ renews job locks and cancellations arrive on time. The thread
 * keeps loaded models in an LRU cache within a memory budget. It runs optimisations ('run') and scores
 * finished images on a model ('score', for comparisons). Messages: see engine-protocol.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { derivedFilterBytes, initBackend } from '@featurevis/engine/backends';
import { loadModel } from '@featurevis/engine/models';
import { scoreImages, visualize, CanceledError, InvalidSpecError, type LoadedModel, type VisualizationSpec } from '@featurevis/engine';
import { provideReferenceSets } from '@featurevis/engine/datasets';
import type { ModelView } from '@featurevis/contracts';
import type { ThreadRequest, ThreadResponse } from './engine-protocol.ts';

const { backendPreference, modelCacheBytes, wasmThreads, wasmThreadsMinPixels, nativeConv } = workerData as {
  backendPreference: string; modelCacheBytes: number; wasmThreads: number; wasmThreadsMinPixels?: number; nativeConv?: boolean;
};
const port = parentPort!;
const ready = initBackend(backendPreference as Parameters<typeof initBackend>[0], { wasmThreads, wasmThreadsMinPixels, nativeConv });

/**
 * `bytes`: what the model costs the backend: its weights, plus, once it has run, the filters the WASM
 * input-gradient kernels derive from them and keep for as long as the weights live (flipped, sub-pixel:
 * about the weights' size again; backends/wasm/derived-filters.ts), counted after each run.
 */
interface CachedModel { model: LoadedModel; bytes: number }
const cache = new Map<string, CachedModel>(); // insertion order = least recently used first

/** Frees least recently used models until the cache is within its budget; `keep` (in use) stays. */
function evictBeyondBudget(keep: string): void {
  let total = [...cache.values()].reduce((n, c) => n + c.bytes, 0);
  for (const [k, c] of cache) {
    if (total <= modelCacheBytes) break;
    if (k === keep) continue;
    c.model.dispose(); cache.delete(k); total -= c.bytes;
  }
}

/** Runs `work` on the cached model `key` and counts what it derived from the model's weights with it. */
async function countingDerived<T>(key: string, work: () => Promise<T>): Promise<T> {
  const before = derivedFilterBytes(tf.backend());
  try {
    return await work();
  } finally {
    const added = derivedFilterBytes(tf.backend()) - before;
    const entry = cache.get(key);
    if (entry && added > 0) {
      entry.bytes += added;
      evictBeyondBudget(key);
    }
  }
}
const pendingFiles = new Map<string, (files: { modelJson: unknown; weights: Record<string, Uint8Array> }) => void>();

function send(message: ThreadResponse, transfer: ArrayBuffer[] = []) { port.postMessage(message, transfer); }

const cacheKey = (view: ModelView) => `${view.id}@${view.hash}`;

async function modelFor(runId: string, view: ModelView): Promise<LoadedModel> {
  const key = cacheKey(view);
  const hit = cache.get(key);
  if (hit) { cache.delete(key); cache.set(key, hit); return hit.model; }
  const files = await new Promise<{ modelJson: unknown; weights: Record<string, Uint8Array> }>((resolve) => {
    pendingFiles.set(runId, resolve);
    send({ type: 'need-model', runId, modelId: view.id });
  });
  const bytes = Object.values(files.weights).reduce((n, w) => n + w.byteLength, 0);
  const model = await loadModel({ modelJson: files.modelJson, readWeights: async (p) => files.weights[p] ?? files.weights[p.replace(/^\.\//, '')]! }, { id: view.id, metadata: { name: view.name, labels: view.labels ?? undefined, input: view.input.mean ? { mean: view.input.mean, std: view.input.std! } : { range: view.input.range ?? [0, 1] } }, bundled: view.bundled });
  cache.set(key, { model, bytes });
  evictBeyondBudget(key);
  return model;
}

async function run(message: Extract<ThreadRequest, { type: 'run' }>) {
  const { runId, view, spec, cancelFlag, progressEverySteps, referenceSets } = message;
  const flag = new Int32Array(cancelFlag);
  const withdrawReferenceSets = provideReferenceSets(referenceSets);
  try {
    const backend = await ready;
    const model = await modelFor(runId, view);
    const tensorsBefore = tf.memory().numTensors;
    const output = await countingDerived(cacheKey(view), () => visualize(model, spec as VisualizationSpec, {
      progressEverySteps,
      onProgress: (p) => send({ type: 'progress', runId, ...p }),
      isCanceled: () => Atomics.load(flag, 0) === 1,
    }));
    const transfer = [...output.images, ...output.snapshots].map((i) => i.png.buffer as ArrayBuffer);
    send({ type: 'done', runId, output: { ...output, backend: output.backend || backend.name }, leakedTensors: tf.memory().numTensors - tensorsBefore }, transfer);
  } catch (err) {
    const e = err as Error & { field?: string };
    const kind = err instanceof CanceledError ? 'canceled' : err instanceof InvalidSpecError ? 'invalid' : 'error';
    send({ type: 'failed', runId, kind, message: e.message, field: e.field, stack: e.stack });
  } finally {
    withdrawReferenceSets();
  }
}

/** Each image set (one model's batch, in a comparison) scored by this model's objective. */
async function score(message: Extract<ThreadRequest, { type: 'score' }>) {
  const { runId, view, spec, imageSets } = message;
  try {
    await ready;
    const model = await modelFor(runId, view);
    const scores = [];
    for (const pngs of imageSets) scores.push(await scoreImages(model, spec as VisualizationSpec, pngs));
    send({ type: 'scored', runId, scores });
  } catch (err) {
    const e = err as Error & { field?: string };
    send({ type: 'failed', runId, kind: err instanceof InvalidSpecError ? 'invalid' : 'error', message: e.message, field: e.field, stack: e.stack });
  }
}

port.on('message', (message: ThreadRequest) => {
  if (message.type === 'run') void run(message);
  else if (message.type === 'score') void score(message);
  else if (message.type === 'model-files') pendingFiles.get(message.runId)?.(message), pendingFiles.delete(message.runId);
  else if (message.type === 'backend') void ready.then((b) => send({ type: 'backend', name: b.name, package: b.package, ...(b.threads ? { threads: b.threads } : {}), ...(b.nativeConv ? { nativeConv: b.nativeConv } : {}) }), (err) => send({ type: 'backend', name: 'none', package: String(err) }));
});
