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
