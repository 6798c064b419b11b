/**
 * `DepthwiseConv2dNativeBackpropInput` for the WASM backend, which registers none (tfjs 4.22): a
 * forward depthwise convolution of the stride-dilated dy with the spatially flipped filter (see
 * transposed-convolution.ts). With a channel multiplier m, dy has C·m channels; each is convolved
 * with its own flipped filter and the m results of every input channel are summed.
 *
 * A strided one with multiplier 1 scatters instead (depthwise-scatter.wat: each dy pixel adds
 * dy · filter to the dx pixels its taps read, in one SIMD pass): the dilated dy is s² times dx's
 * pixels over s², mostly zeros, written by a pad and then convolved. MobileNet-style batch 4, the
 * 16→32 px stride-2 layer's gradient: 0.1 ms pad + 0.6 ms convolution that way.
 */
import * as tf from '@tensorflow/tfjs-core';
import { derivedFilter } from './derived-filters.ts';
import { sharedMemoryWasmBase64, wasmBase64 } from './depthwise-scatter.wasm.ts';
import { flipFilter } from './flipped-filter.ts';
import { callKernel } from './kernel-call.ts';
import { convolutionGeometryArgs, SimdKernel, type ConvolutionGeometryArgs } from './simd-kernel.ts';
import { asTensor, planTransposedConvolution } from './transposed-convolution.ts';

/** Byte offsets, then the geometry. */
type DepthwiseScatter = (dy: number, filter: number, dx: number, ...geometry: ConvolutionGeometryArgs) => void;
const depthwiseScatter = new SimdKernel<DepthwiseScatter>(wasmBase64, sharedMemoryWasmBase64, 'depthwiseScatter');

/** Whether the gradient scatters (depthwise-scatter.wat) rather than convolving the dilated dy. */
export function scattersDepthwiseGradient(convInfo: tf.backend_util.Conv2DInfo): boolean {
  return convInfo.outChannels === convInfo.inChannels && convInfo.dataFormat === 'channelsLast'
    && (convInfo.strideHeight > 1 || convInfo.strideWidth > 1);
}

function scatterInHeap(dy: tf.TensorInfo, filter: tf.TensorInfo, convInfo: tf.backend_util.Conv2DInfo, backend: unknown): tf.TensorInfo | null {
  const found = depthwiseScatter.inHeapOf(backend, [dy, filter]);
  if (found == null) return null;
  const { heap, kernel } = found;
  const dx = heap.makeOutput([convInfo.batchSize, convInfo.inHeight, convInfo.inWidth, convInfo.inChannels], 'float32');
  kernel(heap.getMemoryOffset(dy.dataId), heap.getMemoryOffset(filter.dataId), heap.getMemoryOffset(dx.dataId), ...convolutionGeometryArgs(convInfo));
  return dx;
}

export function depthwiseConv2dBackpropInputAsForwardConv(
  args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown },
  fallback?: tf.KernelFunc,
): tf.TensorInfo {
  const attrs = args.attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
  const filterInfo = args.inputs.filter as tf.TensorInfo;
  const [filterHeight, filterWidth, inChannels, multiplier] = filterInfo.shape;
  const convInfo = tf.backend_util.computeConv2DInfo(
    attrs.inputShape, [filterHeight, filterWidth, inChannels, multiplier], attrs.strides, attrs.dilations, attrs.pad,
    attrs.dimRoundingMode, true);
  if (scattersDepthwiseGradient(convInfo)) {
    const scattered = scatterInHeap(args.inputs.dy as tf.TensorInfo, filterInfo, convInfo, args.backend);
    if (scattered != null) return scattered;
  }
  // A kernel output (not an engine tensor) outlives the tidy; a multiplier's channels summed are
  // the tidy's result (an engine tensor, tracked by the caller's scope).
  let direct: tf.TensorInfo | undefined;
  const summed = tf.tidy(() => {
    const plan = planTransposedConvolution(asTensor<tf.Rank.R4>(args.inputs.dy as tf.TensorInfo), convInfo);
    if (plan == null) return undefined;
    // Filter [h, w, C, m]: each of dy's C·m channels (c·m + j) gets w[:, :, c, j], flipped.
    const flipped = derivedFilter(args.backend, filterInfo, 'flipped, depthwise', (values) => {
      const { values: flippedValues } = flipFilter(values, filterInfo.shape, false);
      return { values: flippedValues, shape: [filterHeight, filterWidth, inChannels * multiplier, 1] };
    });
    const perOutputChannel = callKernel(tf.DepthwiseConv2dNative, { x: plan.dilatedDy, filter: flipped },
      { strides: 1, pad: plan.padding, dataFormat: 'NHWC', dilations: [convInfo.dilationHeight, convInfo.dilationWidth] }, args.backend);
    if (multiplier === 1) {
      direct = perOutputChannel;
      return undefined;
    }
    const [batch, height, width] = perOutputChannel.shape;
    return tf.sum(tf.reshape(asTensor(perOutputChannel), [batch, height, width, inChannels, multiplier]), 4);
  });
  const result = direct ?? summed;
  if (result != null) return result;
  if (fallback == null) throw new Error('DepthwiseConv2dNativeBackpropInput: padding wider than the filter is not supported on this backend');
  return fallback(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
}
