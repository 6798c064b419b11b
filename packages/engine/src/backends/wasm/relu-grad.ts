/**
 * The ReLU gradient as one kernel on WASM: dx = dy · step(x) in a single SIMD pass (relu-grad.wat) in
 * tfjs-backend-wasm's heap, instead of tfjs's `mul(dy, cast(step(x), 'float32'))` — three kernels, the
 * middle one a copy (Cast to the dtype x already has), each a pass over the activation. Every ReLU of
 * every optimisation step runs it; in a batch-64 shapes-a step on two threads Step, Cast and Multiply
 * took about 1.3 ms of 24. Same values, bit for bit (the kernel mirrors tfjs's step: 1 above 0, NaN
 * for NaN, else 0; then the product).
 *
 * Registered as a gradient for `Relu` (the gradient registry is global): on WASM with the heap at hand
 * it runs `FeaturevisReluGrad`; elsewhere it runs tfjs's formula without the redundant Cast. The
 * redirected ReLU gradient of the first steps (optimizers/redirected-relu-gradient.ts) replaces it
 * while it lasts and puts it back.
 */
import * as tf from '@tensorflow/tfjs-core';
import { sharedMemoryWasmBase64, wasmBase64 } from './relu-grad.wasm.ts';
import { SimdKernel } from './simd-kernel.ts';

/** The kernel's name in tfjs's registry (not a TensorFlow op: the prefix keeps it apart). */
export const RELU_GRAD_KERNEL = 'FeaturevisReluGrad';

type ReluGradSimd = (x: number, dy: number, dx: number, count: number) => void;
const reluGradSimd = new SimdKernel<ReluGradSimd>(wasmBase64, sharedMemoryWasmBase64, 'reluGrad');

/** `FeaturevisReluGrad` on WASM: inputs x and dy (same shape, float32), output dx. */
export function reluGradKernel(args: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo {
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const simd = reluGradSimd.requireHeapOf(RELU_GRAD_KERNEL, args.backend, [x, dy]);
  const out = simd.heap.makeOutput([...x.shape], 'float32');
  simd.kernel(simd.heap.getMemoryOffset(x.dataId), simd.heap.getMemoryOffset(dy.dataId), simd.heap.getMemoryOffset(out.dataId), tf.util.sizeFromShape(x.shape));
  return out;
}

export const reluGradient: tf.GradConfig = {
  kernelName: tf.Relu,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved;
    const gradient = dy as tf.Tensor;
    return {
      x: () => (reluGradSimd.runsFor(RELU_GRAD_KERNEL, [x, gradient])
        ? tf.engine().runKernel(RELU_GRAD_KERNEL, { x, dy: gradient }) as tf.Tensor
        : tf.mul(gradient, x.dtype === 'float32' ? tf.step(x) : tf.cast(tf.step(x), 'float32'))),
    };
  },
};
