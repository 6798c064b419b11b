/**
 * Lucid's redirected ReLU gradient as one kernel on WASM (redirected-relu-grad.wat): two SIMD passes
 * per batch item in tfjs-backend-wasm's heap, instead of the rule's eleven tfjs kernels (Neg, Step,
 * Mul, Sub, Relu, Abs, Sum, …), each a pass over the activation. The redirected steps (the first 16
 * of a run by default) cost ≈ 55 % more than plain ones at batch 64 and ≈ 30 % more at batch 1 that
 * way. Same values, bit for bit (the test compares with the tfjs formula on special values).
 *
 * `FeaturevisRedirectedReluGrad`: inputs x, dy (float32, one shape, batch first); output dx.
 * optimizers/redirected-relu-gradient.ts runs it where `redirectedReluGradRuns` says it can.
 */
import * as tf from '@tensorflow/tfjs-core';
import { sharedMemoryWasmBase64, wasmBase64 } from './redirected-relu-grad.wasm.ts';
import { SimdKernel } from './simd-kernel.ts';

/** The kernel's name in tfjs's registry (not a TensorFlow op: the prefix keeps it apart). */
export const REDIRECTED_RELU_GRAD_KERNEL = 'FeaturevisRedirectedReluGrad';

type RedirectedReluGradSimd = (x: number, dy: number, dx: number, items: number, itemSize: number) => void;
const redirectedReluGradSimd = new SimdKernel<RedirectedReluGradSimd>(wasmBase64, sharedMemoryWasmBase64, 'redirectedReluGrad');

/** `FeaturevisRedirectedReluGrad` on WASM. */
export function redirectedReluGradKernel(args: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo {
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const simd = redirectedReluGradSimd.requireHeapOf(REDIRECTED_RELU_GRAD_KERNEL, args.backend, [x, dy]);
  const out = simd.heap.makeOutput([...x.shape], 'float32');
  const items = x.shape.length === 0 ? 1 : x.shape[0];
  const size = tf.util.sizeFromShape(x.shape);
  simd.kernel(simd.heap.getMemoryOffset(x.dataId), simd.heap.getMemoryOffset(dy.dataId), simd.heap.getMemoryOffset(out.dataId), items, items === 0 ? 0 : size / items);
  return out;
}

/** Whether `FeaturevisRedirectedReluGrad` can run for these tensors on the active backend. */
export function redirectedReluGradRuns(x: tf.Tensor, dy: tf.Tensor): boolean {
  return x.shape.join() === dy.shape.join() && redirectedReluGradSimd.runsFor(REDIRECTED_RELU_GRAD_KERNEL, [x, dy]);
}
