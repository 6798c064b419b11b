/**
 * The two weight-gradient kernels that tfjs-backend-wasm 4.22 lacks, `Conv2DBackpropFilter` and
 * `DepthwiseConv2dNativeBackpropFilter`, registered for training only (the engine never needs them:
 * activation maximization differentiates with respect to the image). With them, and the engine's
 * input-gradient kernels (registerWasmGradientKernels), tfjs-layers trains on WASM.
 *
 * Why not the CPU backend: its Conv2DBackpropFilter is an element-by-element loop; measured here, one
 * 64-image step of the conv architecture at 32×32 took ~65 s on CPU.
 *
 * Both are written as tf ops over the padded input, for stride 1 and no dilation (what the bundled
 * architectures use); anything else throws rather than silently computing a wrong gradient.
 *   dW[a, b, c, o] = Σ_{n,i,j} xPadded[n, i + a, j + b, c] · dy[n, i, j, o]
 * - dense: a forward convolution (below), at XNNPACK speed; an im2col matMul was 4× slower here
 *   (tfjs-backend-wasm's BatchMatMul with a transposed operand, and the slices and concat).
 * - depthwise (channel multiplier M): o = c·M + m, so each window is multiplied elementwise with dy
 *   and summed over n, i, j.
 */
import * as tf from '@tensorflow/tfjs-core';

type KernelArgs = Parameters<tf.KernelFunc>[0];

function asTensor<R extends tf.Rank>(info: tf.TensorInfo): tf.Tensor<R> {
  return (info instanceof tf.Tensor ? info : tf.engine().makeTensorFromTensorInfo(info)) as tf.Tensor<R>;
}

function convInfoOf(xShape: number[], filterShape: [number, number, number, number], attrs: { strides: number | [number, number]; pad: unknown; dimRoundingMode?: 'floor' | 'round' | 'ceil'; dilations?: number | [number, number]; dataFormat?: 'NHWC' | 'NCHW' }, depthwise: boolean) {
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], filterShape, attrs.strides, attrs.dilations ?? 1,
    attrs.pad as 'same' | 'valid', attrs.dimRoundingMode, depthwise, tf.backend_util.convertConv2DDataFormat(attrs.dataFormat ?? 'NHWC'));
  if (info.strideHeight !== 1 || info.strideWidth !== 1 || info.dilationHeight !== 1 || info.dilationWidth !== 1 || info.dataFormat !== 'channelsLast') {
    throw new Error('training weight gradients on WASM support only stride 1, no dilation, NHWC');
  }
  return info;
}

/** The filterHeight × filterWidth windows of the padded x that line up with dy, in filter order. */
function windows(x: tf.Tensor4D, info: tf.backend_util.Conv2DInfo): tf.Tensor4D[] {
  const { top, bottom, left, right } = info.padInfo;
  const padded = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]);
  const result: tf.Tensor4D[] = [];
  for (let a = 0; a < info.filterHeight; a++) {
    for (let b = 0; b < info.filterWidth; b++) {
      result.push(tf.slice(padded, [0, a, b, 0], [info.batchSize, info.outHeight, info.outWidth, info.inChannels]));
    }
  }
  return result;
}

function conv2dBackpropFilter({ inputs, attrs }: KernelArgs): tf.TensorInfo {
  const a = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  return tf.tidy(() => {
    const x = asTensor<tf.Rank.R4>(inputs.x as tf.TensorInfo);
    const dy = asTensor<tf.Rank.R4>(inputs.dy as tf.TensorInfo);
    const info = convInfoOf(x.shape, a.filterShape, a, false);
    const { top, bottom, left, right } = info.padInfo;
    // The sum over n, i, j is itself a 'valid' convolution: of the padded x with channels and batch
    // swapped ([C, H, W, N]) by dy as the filter ([Ho, Wo, N, O]); its K×K outputs are dW's taps.
    const xByChannel = tf.transpose(tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]), [3, 1, 2, 0]);
    const dyAsFilter = tf.transpose(dy, [1, 2, 0, 3]);
    const taps = tf.conv2d(xByChannel, dyAsFilter, 1, 'valid'); // [C, K, K, O]
    return tf.keep(tf.transpose(taps, [1, 2, 0, 3]));
  });
}

function depthwiseBackpropFilter({ inputs, attrs }: KernelArgs): tf.TensorInfo {
  const a = attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
  return tf.tidy(() => {
    const x = asTensor<tf.Rank.R4>(inputs.x as tf.TensorInfo);
    const dy = asTensor<tf.Rank.R4>(inputs.dy as tf.TensorInfo);
    const info = convInfoOf(x.shape, a.filterShape, a, true);
    const multiplier = a.filterShape[3];
    // dy's channel c·M + m pairs with x's channel c.
    const dyByChannel = tf.reshape(dy, [info.batchSize, info.outHeight, info.outWidth, info.inChannels, multiplier]);
    const taps = windows(x, info).map((window) =>
      tf.sum(tf.mul(tf.expandDims(window, 4), dyByChannel), [0, 1, 2]));
    return tf.keep(tf.reshape(tf.stack(taps), a.filterShape));
  });
}

const KERNELS: [string, tf.KernelFunc][] = [
  [tf.Conv2DBackpropFilter, conv2dBackpropFilter as tf.KernelFunc],
  [tf.DepthwiseConv2dNativeBackpropFilter, depthwiseBackpropFilter as tf.KernelFunc],
];

/** Registers both kernels for `backendName` where it has none of its own (idempotent). */
export function registerWeightGradientKernels(backendName = 'wasm'): void {
  for (const [kernelName, kernelFunc] of KERNELS) {
    if (tf.getKernel(kernelName, backendName) == null) tf.registerKernel({ kernelName, backendName, kernelFunc });
  }
}
