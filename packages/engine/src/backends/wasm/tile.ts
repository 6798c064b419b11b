/**
 * `Tile` for the WASM backend, in JavaScript, by block copies: axis by axis from the last, each block
 * of the result so far is copied `reps` times.
 *
 * Why: tfjs-backend-wasm's Tile computes a source index per output element; measured here it took
 * 68 ms to broadcast a [4, 1, 1, 1] mask to 4×32×32×128 (130 ns an element), and `tf.broadcastTo`
 * (used by the engine's redirected ReLU gradient and the Mean/Sum gradients, reduction-gradients.ts)
 * runs it. This copies memory at typed-array speed instead, in the WASM heap itself (the input read
 * where it lives, the output written where it will live; a broadcast of a scalar is one `fill`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { wasmHeapOf, type HeapViews, type NumericArray } from './simd-kernel.ts';

/** What this needs of a backend: a copy of a tensor's values (every tfjs KernelBackend has it). */
interface ReadableBackend { readSync(dataId: tf.DataId): tf.BackendValues }


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

/**
 * Tiles `source` (shape `shape`) into `out` (its tiled shape, row-major): each source row (last axis)
 * goes to its first replica's place, repeated along the last axis; then from the innermost axis
 * outwards, the blocks written so far are copied to the other replicas along that axis.
 */
function tileInto(source: NumericArray, shape: number[], reps: number[], out: NumericArray): void {
  if (source.length === 1) {
    // A broadcast scalar. `fill` on a view of the (shared, when threaded) heap measured 0.54 ms a
    // million values here, against 0.27 for a copy: fill a small ordinary array, copy it in, then
    // double the filled prefix with copyWithin.
    const chunk = new (out.constructor as new (length: number) => NumericArray)(Math.min(out.length, 16384)).fill(source[0]);
    out.set(chunk);
    for (let filled = chunk.length; filled < out.length; filled *= 2) out.copyWithin(filled, 0, Math.min(filled, out.length - filled));
    return;
  }
  const rank = shape.length;
  const outShape = shape.map((size, axis) => size * reps[axis]);
  const outStrides = outShape.map((_, axis) => outShape.slice(axis + 1).reduce((a, b) => a * b, 1));
  const rowLength = shape[rank - 1];
  /** Calls `visit(offset)` for every first-replica position of axes [0, axes): index < shape[axis]. */
  const forEachFirstReplica = (axes: number, visit: (offset: number, ordinal: number) => void) => {
    const count = shape.slice(0, axes).reduce((a, b) => a * b, 1);
    for (let ordinal = 0; ordinal < count; ordinal++) {
      let rest = ordinal;
      let offset = 0;
      for (let axis = axes - 1; axis >= 0; axis--) {
        offset += (rest % shape[axis]) * outStrides[axis];
        rest = Math.floor(rest / shape[axis]);
      }
      visit(offset, ordinal);
    }
  };
  const rowReps = reps[rank - 1];
  if (rowLength === 1 && rowReps > 1) {
    // One value repeated along the last axis (a broadcast of a reduced axis): a small ordinary array
    // filled per row and copied in — element stores into a view of the shared heap measured slower
    // (131 k values: 0.33–0.42 ms that way, 0.24–0.33 this way).
    const scratch = new (out.constructor as new (length: number) => NumericArray)(rowReps);
    forEachFirstReplica(rank - 1, (offset, row) => {
      scratch.fill(source[row]);
      out.set(scratch, offset);
    });
  } else {
    forEachFirstReplica(rank - 1, (offset, row) => {
      const values = source.subarray(row * rowLength, (row + 1) * rowLength);
      for (let copy = 0; copy < rowReps; copy++) out.set(values, offset + copy * rowLength);
    });
  }
  for (let axis = rank - 2; axis >= 0; axis--) {
    if (reps[axis] === 1) continue;
    const block = shape[axis] * outStrides[axis];
    forEachFirstReplica(axis, (offset) => {
      for (let copy = 1; copy < reps[axis]; copy++) out.copyWithin(offset + copy * block, offset, offset + block);
    });
  }
}

export function tileInJavaScript(
  args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown },
  fallback: tf.KernelFunc,
): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  const { reps } = args.attrs as unknown as tf.TileAttrs;
  if (x.dtype === 'string' || x.dtype === 'complex64') return fallback(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  const outShape = x.shape.map((size, axis) => size * reps[axis]);
  const found = wasmHeapOf(args.backend);
  if (found != null) {
    // In tfjs-backend-wasm's heap: read x where it lives, write the result where it will live.
    const heap = found.heap as unknown as HeapViews;
    const out = heap.makeOutput(outShape, x.dtype);
    if (tf.util.sizeFromShape(outShape) > 0) tileInto(heap.typedArrayFromHeap(x), [...x.shape], reps, heap.typedArrayFromHeap(out));
    return out;
  }
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

