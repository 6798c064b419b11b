/**
 * The input gradient of a convolution, computed as a forward convolution so that it runs at the
 * speed of the backend's forward kernel (XNNPACK on WASM).
 *
 * A strided correlation y[o] = Σ_k x[o·s − p + k·d] w[k] has the adjoint
 *   dx[i] = Σ_k dyDilated[i − (K − 1 − p) + k·d] w[K − 1 − k]        (K = (k − 1)·d + 1, the dilated size)
 * where dyDilated puts dy[o] at o·s with zeros between: a stride-1 correlation of the zero-dilated
 * dy with the spatially flipped filter, padded by K − 1 − p before (Dumoulin & Visin 2016, "A guide
 * to convolution arithmetic for deep learning", §4). Output channels become input channels, so a
 * dense filter is also transposed in its last two axes (done by the callers).
 */
import * as tf from '@tensorflow/tfjs-core';

type Pair = [number, number];
export type ExplicitPadding4D = [[0, 0], Pair, Pair, [0, 0]];

interface AxisGeometry {
  /** How many rows (or columns) of the zero-dilated dy to keep (the rest cannot reach dx). */
  keep: number;
  padding: Pair;
}

/** One spatial axis: sizes in pixels, `padBefore` as the forward convolution padded. */
function axisGeometry(inputSize: number, dySize: number, stride: number, effectiveFilterSize: number, padBefore: number): AxisGeometry | undefined {
  const before = effectiveFilterSize - 1 - padBefore;
  if (before < 0) return undefined; // padding wider than the filter: not expressible as a forward conv
  const dilatedSize = dySize * stride; // zero-dilated dy, including stride − 1 trailing zeros
  const paddedSizeNeeded = inputSize + effectiveFilterSize - 1; // a 'valid' stride-1 conv then yields inputSize
  const keep = Math.min(dilatedSize, paddedSizeNeeded - before);
  if (keep <= 0) return undefined;
  return { keep, padding: [before, paddedSizeNeeded - before - keep] };
}

export interface TransposedConvolutionPlan {
  /** dy dilated by the stride, cropped to what reaches dx; the caller's tidy owns it. */
  dilatedDy: tf.Tensor4D;
  padding: ExplicitPadding4D;
}

/**
 * Prepares dy for the forward convolution that computes dx. Returns undefined for geometries this
 * formulation does not cover (then the backend's own kernel is used).
 */
export function planTransposedConvolution(dy: tf.Tensor4D, convInfo: tf.backend_util.Conv2DInfo): TransposedConvolutionPlan | undefined {
  if (convInfo.dataFormat !== 'channelsLast') return undefined;
  const rows = axisGeometry(convInfo.inHeight, dy.shape[1], convInfo.strideHeight, convInfo.effectiveFilterHeight, convInfo.padInfo.top);
  const cols = axisGeometry(convInfo.inWidth, dy.shape[2], convInfo.strideWidth, convInfo.effectiveFilterWidth, convInfo.padInfo.left);
  if (rows == null || cols == null) return undefined;
  const [batch, height, width, channels] = dy.shape;
  let dilated = dy;
  if (convInfo.strideHeight > 1 || convInfo.strideWidth > 1) {
    // Interleave zeros by padding a unit axis after each row and column, then folding it back in.
    const expanded = tf.reshape(dy, [batch, height, 1, width, 1, channels]);
    const zeroFilled = tf.pad(expanded, [[0, 0], [0, 0], [0, convInfo.strideHeight - 1], [0, 0], [0, convInfo.strideWidth - 1], [0, 0]]);
    dilated = tf.reshape(zeroFilled, [batch, height * convInfo.strideHeight, width * convInfo.strideWidth, channels]);
  }
  if (rows.keep < dilated.shape[1] || cols.keep < dilated.shape[2]) {
    dilated = tf.slice(dilated, [0, 0, 0, 0], [batch, rows.keep, cols.keep, channels]);
  }
  return { dilatedDy: dilated, padding: [[0, 0], rows.padding, cols.padding, [0, 0]] };
}

/** Kernel inputs arrive as TensorInfos; ops need Tensors. The caller's tidy disposes what this makes. */
export function asTensor<R extends tf.Rank>(info: tf.TensorInfo): tf.Tensor<R> {
  return (info instanceof tf.Tensor ? info : tf.engine().makeTensorFromTensorInfo(info)) as tf.Tensor<R>;
}
