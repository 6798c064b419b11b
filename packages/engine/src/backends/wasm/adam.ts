/**
 * One Adam step as one kernel on WASM: the new value and both new moments of a parameter tensor in a
 * single SIMD pass (adam.wat) in tfjs-backend-wasm's heap, instead of tfjs's AdamOptimizer's thirteen
 * elementwise kernels (each a pass over the parameter). The engine's image parameter at batch 64 is
 * 196 k values; those kernels took about 1.3 ms of a 25 ms sweep step. Same values, bit for bit
 * (adam.wat mirrors tfjs's f32 operations and their order; the test compares with tf.train.adam).
 *
 * `FeaturevisAdam`: inputs value, m, v, gradient (float32, one shape); attrs the f32 constants
 * (`AdamConstants`); outputs [value', m', v']. optimizers/adam.ts runs it where `fusedAdamRuns` says
 * it can, and tfjs's own AdamOptimizer elsewhere.
 */
import * as tf from '@tensorflow/tfjs-core';
import { sharedMemoryWasmBase64, wasmBase64 } from './adam.wasm.ts';
import { SimdKernel } from './simd-kernel.ts';

/** The kernel's name in tfjs's registry (not a TensorFlow op: the prefix keeps it apart). */
export const ADAM_KERNEL = 'FeaturevisAdam';

/** The step's constants, each the f32 value tfjs's scalar tensors would hold. */
export interface AdamConstants {
  beta1: number;
  oneMinusBeta1: number;
  beta2: number;
  oneMinusBeta2: number;
  /** 1 − β1ᵗ and 1 − β2ᵗ for this step t. */
  oneMinusAccBeta1: number;
  oneMinusAccBeta2: number;
  epsilon: number;
  negLearningRate: number;
}

type AdamSimd = (value: number, m: number, v: number, g: number, newValue: number, newM: number, newV: number, count: number,
  beta1: number, oneMinusBeta1: number, beta2: number, oneMinusBeta2: number, oneMinusAccBeta1: number, oneMinusAccBeta2: number,
  epsilon: number, negLearningRate: number) => void;
const adamSimd = new SimdKernel<AdamSimd>(wasmBase64, sharedMemoryWasmBase64, 'adam');

/** `FeaturevisAdam` on WASM. */
export function adamKernel(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown }): tf.TensorInfo[] {
  const { value, m, v, gradient } = args.inputs as Record<'value' | 'm' | 'v' | 'gradient', tf.TensorInfo>;
  const c = args.attrs as unknown as AdamConstants;
  const simd = adamSimd.requireHeapOf(ADAM_KERNEL, args.backend, [value, m, v, gradient]);
  const shape = [...value.shape];
  const outputs = [simd.heap.makeOutput(shape, 'float32'), simd.heap.makeOutput(shape, 'float32'), simd.heap.makeOutput(shape, 'float32')];
  const offset = (t: tf.TensorInfo) => simd.heap.getMemoryOffset(t.dataId);
  simd.kernel(offset(value), offset(m), offset(v), offset(gradient), offset(outputs[0]), offset(outputs[1]), offset(outputs[2]),
    tf.util.sizeFromShape(shape), c.beta1, c.oneMinusBeta1, c.beta2, c.oneMinusBeta2, c.oneMinusAccBeta1, c.oneMinusAccBeta2,
    c.epsilon, c.negLearningRate);
  return outputs;
}

/** Whether `FeaturevisAdam` can run for these tensors on the active backend. */
export function fusedAdamRuns(tensors: tf.Tensor[]): boolean {
  return adamSimd.runsFor(ADAM_KERNEL, tensors);
}
