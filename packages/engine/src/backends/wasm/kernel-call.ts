/**
 * Calling another kernel of the active backend from inside a kernel, with TensorInfos in and out, as
 * tfjs backends' own kernels do (tfjs-backend-wasm's `conv2D({inputs, backend, attrs})` calls, e.g.):
 * no engine bookkeeping, so a derived filter that the engine does not track as a tensor
 * (derived-filters.ts) can be an input, and intermediate outputs are freed with `disposeIntermediate`.
 */
import * as tf from '@tensorflow/tfjs-core';

export function callKernel(kernelName: string, inputs: tf.NamedTensorInfoMap, attrs: object, backend: unknown): tf.TensorInfo {
  const kernel = tf.getKernel(kernelName, tf.getBackend());
  if (kernel == null) throw new Error(`no ${kernelName} kernel on ${tf.getBackend()}`);
  return kernel.kernelFunc({ inputs, attrs: attrs as tf.NamedAttrMap, backend: backend as tf.KernelBackend }) as tf.TensorInfo;
}

/** Frees a kernel output this module's caller made and does not return. */
export function disposeIntermediate(info: tf.TensorInfo, backend: unknown): void {
  (backend as tf.KernelBackend).disposeData(info.dataId);
}

/** The same values under another shape (row-major data is unchanged by a reshape). */
export function withShape(info: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return { dataId: info.dataId, shape, dtype: info.dtype };
}
