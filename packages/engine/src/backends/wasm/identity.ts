/**
 * `Identity` for the WASM backend without a copy: the result shares the input's memory, counted by
 * reference, as tfjs-backend-cpu's Identity and tfjs-backend-wasm's own Reshape already do (tfjs
 * tensors are immutable, so nothing writes through the shared memory).
 *
 * Why: while a gradient is recorded, tfjs-core keeps a clone of every tensor a kernel saves for its
 * backward pass (`saveTensorsForBackwardMode` in tfjs-core/src/engine.ts), and tfjs-backend-wasm's
 * Identity copies the whole tensor. A shapes-a step at batch 64 ran 27 of them, every activation of
 * the network copied once or twice (1.8 ms of a 52 ms step, 5.8 ms on shapes-dw-graph).
 */
import type * as tf from '@tensorflow/tfjs-core';

/** What this needs of a backend: reference counting of tensor memory (tfjs-backend-wasm has it). */
interface RefCountingBackend { incRef(dataId: tf.DataId): void }

export function identityWithoutCopy(
  args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown },
  fallback: tf.KernelFunc,
): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  const backend = args.backend as Partial<RefCountingBackend>;
  if (x.dtype === 'string' || typeof backend.incRef !== 'function') return fallback(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}
