/**
 * Filters derived from a model's weights (flipped, transposed, sub-pixel) for the input-gradient
 * kernels, kept in the WASM backend for as long as the weight they come from, and run through
 * tfjs-backend-wasm's kernel functions directly.
 *
 * Why: tfjs-backend-wasm keeps one XNNPACK convolution operator per filter tensor (its weights packed
 * once) and drops it when that tensor is freed. Deriving a new filter tensor on every step paid for a
 * new operator every time: measured here, a 4×8×8×64 → 32 convolution took 0.17 ms with the same
 * filter and 0.26 ms with a fresh copy, a one-image one 0.06 against 0.21 ms — most of a small step.
 * Kept filters hit the operator cache from the second step on.
 *
 * Lifetime: an entry is written with the backend's `write` (backend memory the tfjs engine does not
 * track as a tensor, so `tf.memory().numTensors` is unchanged) and freed when the source weight's
 * memory is freed: `disposeData` of the backend is wrapped once to free the source's derived filters
 * with it. Weights never change in place (tfjs tensors are immutable; a Variable's `assign` moves it
 * to new memory), so an entry is valid for as long as its source lives.
 */
import type * as tf from '@tensorflow/tfjs-core';

/** What this needs of tfjs-backend-wasm's backend (public methods of its KernelBackend). */
interface WasmBackendMemory {
  readSync(dataId: tf.DataId): tf.BackendValues;
  write(values: Float32Array, shape: number[], dtype: 'float32'): tf.DataId;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
}

type DerivedByVariant = Map<string, tf.TensorInfo>;
const derivedBySource = new WeakMap<object, Map<tf.DataId, DerivedByVariant>>();

/** The backend's derived filters by source, wrapping its `disposeData` the first time. */
function cacheOf(backend: WasmBackendMemory): Map<tf.DataId, DerivedByVariant> {
  let cache = derivedBySource.get(backend);
  if (cache != null) return cache;
  const bySource = new Map<tf.DataId, DerivedByVariant>();
  cache = bySource;
  derivedBySource.set(backend, bySource);
  const disposeData = backend.disposeData.bind(backend);
  backend.disposeData = (dataId: tf.DataId, force?: boolean): boolean => {
    const freed = disposeData(dataId, force);
    const derived = freed ? bySource.get(dataId) : undefined;
    if (derived != null) {
      bySource.delete(dataId);
      for (const info of derived.values()) disposeData(info.dataId, true);
    }
    return freed;
  };
  return cache;
}

/** A filter made from `source`'s values by `derive`, written once per source and variant. */
export function derivedFilter(
  backend: unknown,
  source: tf.TensorInfo,
  variant: string,
  derive: (values: Float32Array) => { values: Float32Array; shape: number[] },
): tf.TensorInfo {
  const memory = backend as WasmBackendMemory;
  const cache = cacheOf(memory);
  let derived = cache.get(source.dataId);
  const cached = derived?.get(variant);
  if (cached != null) return cached;
  const { values, shape } = derive(memory.readSync(source.dataId) as Float32Array);
  const info: tf.TensorInfo = { dataId: memory.write(values, shape, 'float32'), shape, dtype: 'float32' };
  if (derived == null) {
    derived = new Map();
    cache.set(source.dataId, derived);
  }
  derived.set(variant, info);
  return info;
}

/** How many derived filters `backend` holds (tests check they are freed with their weights). */
export function derivedFilterCount(backend: unknown): number {
  const cache = derivedBySource.get(backend as object);
  return cache == null ? 0 : [...cache.values()].reduce((count, variants) => count + variants.size, 0);
}

/**
 * The bytes of backend memory `backend`'s derived filters take (float32 values): memory a loaded model
 * costs beyond its weights once it has run a step, which a cache of models counts with it (the
 * worker's engine thread, MODEL_CACHE_MB). 0 for a backend that holds none.
 */
export function derivedFilterBytes(backend: unknown): number {
  const cache = derivedBySource.get(backend as object);
  let bytes = 0;
  if (cache != null) for (const variants of cache.values()) for (const info of variants.values()) bytes += 4 * info.shape.reduce((n, d) => n * d, 1);
  return bytes;
}
