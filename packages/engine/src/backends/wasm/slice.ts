/**
 * `Slice` for the WASM backend in tfjs-backend-wasm's heap: the input read where it lives and the
 * output written in contiguous runs (one typed-array copy per run), instead of tfjs-backend-wasm's
 * JavaScript loop, which copies the whole input out of the heap first (`readSync`) and then moves one
 * element at a time. Measured here: the three [64, 31, 31, 3] slices of a batch-64 32-px image that
 * the total-variation prior and metric take cost 14 ms together that way (`slice4d`) — per step where
 * the prior is on. A contiguous slice is one copy (tfjs's path copied the whole input out of the heap
 * first). Strings keep tfjs's own path.
 */
import * as tf from '@tensorflow/tfjs-core';
import { wasmHeapOf, type HeapViews, type NumericArray } from './simd-kernel.ts';



/** Runs shorter than this are gathered element by element into an ordinary array, copied in once. */
const SHORT_RUN = 16;

export function sliceInHeap(
  args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown },
  fallback: tf.KernelFunc,
): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  const { begin, size } = args.attrs as unknown as tf.SliceAttrs;
  const found = x.dtype === 'string' || x.dtype === 'complex64' ? null : wasmHeapOf(args.backend);
  const [starts, sizes] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
  if (found == null) return fallback(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
  const heap = found.heap as unknown as HeapViews;
  const out = heap.makeOutput(sizes, x.dtype);
  const count = tf.util.sizeFromShape(sizes);
  if (count === 0) return out;
  const source = heap.typedArrayFromHeap(x);
  const target = heap.typedArrayFromHeap(out);
  if (tf.slice_util.isSliceContinous(x.shape, starts, sizes)) {
    // One run (an image of a batch, a range of rows): tfjs's path copied the whole input out first.
    const from = tf.slice_util.computeFlatOffset(starts, tf.util.computeStrides(x.shape));
    target.set(source.subarray(from, from + count));
    return out;
  }
  const rank = x.shape.length;
  const strides = [...tf.util.computeStrides(x.shape), 1];
  // The axis whose partial extent, with every axis after it taken whole, makes one contiguous run.
  let axis = rank - 1;
  while (axis > 0 && starts[axis] === 0 && sizes[axis] === x.shape[axis]) axis--;
  const run = sizes[axis] * strides[axis];
  const runs = count / run;
  const scratch = run < SHORT_RUN ? new (target.constructor as new (length: number) => NumericArray)(count) : null;
  const index = new Array<number>(axis).fill(0);
  for (let r = 0; r < runs; r++) {
    let from = starts[axis] * strides[axis];
    for (let k = 0; k < axis; k++) from += (starts[k] + index[k]) * strides[k];
    if (scratch != null) {
      for (let i = 0; i < run; i++) scratch[r * run + i] = source[from + i];
    } else {
      target.set(source.subarray(from, from + run), r * run);
    }
    // Next index over the axes before `axis`, last fastest.
    for (let k = axis - 1; k >= 0; k--) {
      if (++index[k] < sizes[k]) break;
      index[k] = 0;
    }
  }
  if (scratch != null) target.set(scratch);
  return out;
}
