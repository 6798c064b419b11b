/** Comparing a kernel on two backends with identical inputs (the WASM kernel tests against tfjs's CPU kernels). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { loadNativeConv } from '@featurevis/native-conv';
import { nativeConvActive, registerNativeConvKernels } from '@featurevis/engine/backends';

export interface Values { values: Float32Array; shape: number[] }

/** Runs a kernel by name on a backend with plain arrays in and out, so both backends see identical data. */
export async function runOn(backend: string, kernelName: string, inputs: Record<string, Values>, attrs: object): Promise<Values> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const tensors = Object.fromEntries(Object.entries(inputs).map(([name, t]) => [name, tf.tensor(t.values, t.shape)]));
    const out = tf.engine().runKernel(kernelName, tensors, attrs as tf.NamedAttrMap) as tf.Tensor;
    return { values: out.dataSync() as Float32Array, shape: out.shape };
  });
}

/** Deterministic pseudo-random values in [-1, 1) (a linear congruential generator; no test flakiness). */
export function randomValues(size: number, seed: number): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length: size }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
}

/** Equal within float32 rounding of sums (1e-4 of the largest magnitude); the reference must not be all zeros. */
export function assertClose(actual: Float32Array, expected: Float32Array, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: sizes differ`);
  let maxError = 0;
  let maxMagnitude = 0;
  for (let i = 0; i < actual.length; i++) {
    maxError = Math.max(maxError, Math.abs(actual[i] - expected[i]));
    maxMagnitude = Math.max(maxMagnitude, Math.abs(expected[i]));
  }
  assert.ok(maxMagnitude > 0, `${label}: reference is all zeros`);
  assert.ok(maxError <= 1e-4 * Math.max(1, maxMagnitude), `${label}: max |actual − cpu| = ${maxError} (max |cpu| = ${maxMagnitude})`);
}

/**
 * Runs `body` with XNNPACK's convolutions (the convolution addon's unregistered where initBackend
 * registered it: native-conv.ts), then puts the addon's back.
 */
export async function withXnnpackConvolutions<T>(body: () => Promise<T> | T): Promise<T> {
  if (!nativeConvActive()) return body();
  registerNativeConvKernels(1)();
  try {
    return await body();
  } finally {
    registerNativeConvKernels(1);
  }
}

const cpuFlags = (() => {
  try { return /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.split(/\s+/) ?? []; } catch { return []; }
})();
const cpuHasAvx512 = process.arch === 'x64' && cpuFlags.includes('avx512f');
const cpuHasAvx2 = process.arch === 'x64' && cpuFlags.includes('avx2') && cpuFlags.includes('fma');
/** The instruction sets this CPU runs the convolution addon's kernels on, best first (/proc/cpuinfo; the tests run each). */
export const instructionSets: ReadonlyArray<'avx512' | 'avx2'> = [...(cpuHasAvx512 ? ['avx512' as const] : []), ...(cpuHasAvx2 ? ['avx2' as const] : [])];

/** Runs `body` with the addon on instruction set `set`, then back on the best one. */
export async function onInstructionSet<T>(set: 'avx512' | 'avx2', body: () => Promise<T> | T): Promise<T> {
  const { addon } = loadNativeConv();
  assert.ok(addon, 'the addon is loaded');
  addon.isa(set);
  try {
    return await body();
  } finally {
    addon.isa(instructionSets[0]);
  }
}
