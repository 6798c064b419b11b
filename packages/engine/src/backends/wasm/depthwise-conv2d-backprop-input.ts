/**
 * `DepthwiseConv2dNativeBackpropInput` for the WASM backend, which registers none (tfjs 4.22): a
 * forward depthwise convolution of the stride-dilated dy with the spatially flipped filter (see
 * transposed-convolution.ts). With a channel multiplier m, dy has C·m channels; each is convolved
 * with its own flipped filter and the m results of every input channel are summed.
 */
import * as tf from '@tensorflow/tfjs-core';
import { derivedFilter } from './derived-filters.ts';
import { flipFilter } from './flipped-filter.ts';
import { callKernel } from './kernel-call.ts';
import { asTensor, planTransposedConvolution } from './transposed-convolution.ts';

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
  let result: tf.TensorInfo | undefined;
  tf.tidy(() => {
    const plan = planTransposedConvolution(asTensor<tf.Rank.R4>(args.inputs.dy as tf.TensorInfo), convInfo);
    if (plan == null) return;
    // Filter [h, w, C, m]: each of dy's C·m channels (c·m + j) gets w[:, :, c, j], flipped.
    const flipped = derivedFilter(args.backend, filterInfo, 'flipped, depthwise', (values) => {
      const { values: flippedValues } = flipFilter(values, filterInfo.shape, false);
      return { values: flippedValues, shape: [filterHeight, filterWidth, inChannels * multiplier, 1] };
    });
    const perOutputChannel = callKernel(tf.DepthwiseConv2dNative, { x: plan.dilatedDy, filter: flipped },
      { strides: 1, pad: plan.padding, dataFormat: 'NHWC', dilations: [convInfo.dilationHeight, convInfo.dilationWidth] }, args.backend);
    // A kernel output (not an engine tensor) outlives the tidy; the sum of a multiplier's channels is kept.
    if (multiplier === 1) {
      result = perOutputChannel;
      return;
    }
    const [batch, height, width] = perOutputChannel.shape;
    result = tf.keep(tf.sum(tf.reshape(asTensor(perOutputChannel), [batch, height, width, inChannels, multiplier]), 4));
  });
  if (result != null) return result;
  if (fallback == null) throw new Error('DepthwiseConv2dNativeBackpropInput: padding wider than the filter is not supported on this backend');
  return fallback(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
}
