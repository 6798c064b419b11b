/**
 * `Tile` for the WASM backend, in JavaScript, by block copies: axis by axis from the last, each block
 * of the result so far is copied `reps` times.
 *
 * Why: tfjs-backend-wasm's Tile computes a source index per output element; measured here it took
 * 68 ms to broadcast a [4, 1, 1, 1] mask to 4×32×32×128 (130 ns an element), and `tf.broadcastTo`
 * (used by the engine's redirected ReLU gradient, among others) runs it. This copies memory at
 * typed-array speed instead.
 */
import * as tf from '@tensorflow/tfjs-core';

/** What this needs of a backend: a copy of a tensor's values (every tfjs KernelBackend has it). */
interface ReadableBackend { readSync(dataId: tf.DataId): tf.BackendValues }

type NumericArray = Float32Array | Int32Array | Uint8Array;

/** Repeats every block of `blockSize` values of `source` `times` times, block after block. */
function repeatBlocks(source: NumericArray, blockSize: number, times: number): NumericArray {
  const blocks = source.length / blockSize;
  const result = new (source.constructor as new (length: number) => NumericArray)(source.length * times);
  for (let block = 0; block < blocks; block++) {
    const from = block * blockSize;
    const to = from * times;
    if (blockSize === 1) {
      result.fill(source[from], to, to + times);
      continue;
    }
    const values = source.subarray(from, from + blockSize);
    for (let copy = 0; copy < times; copy++) result.set(values, to + copy * blockSize);
  }
  return result;
}

export function tileInJavaScript(
  args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown },
  fallback: tf.KernelFunc,
): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  const { reps } = args.attrs as unknown as tf.TileAttrs;
  if (x.dtype === 'string' || x.dtype === 'complex64') return fallback(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  let values = (args.backend as ReadableBackend).readSync(x.dataId) as NumericArray;
  const shape = [...x.shape];
  // Going from the last axis, the values from `axis` on form contiguous blocks of size blockSize.
  let blockSize = 1;
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    blockSize *= shape[axis];
    if (reps[axis] > 1 && values.length > 0) {
      values = repeatBlocks(values, blockSize, reps[axis]);
      blockSize *= reps[axis];
    }
    shape[axis] *= reps[axis];
  }
  return tf.tensor(values, shape, x.dtype);
}
