/**
 * `Conv2DBackpropInput` for the WASM backend, as one forward `Conv2D`: of dy with a sub-pixel filter
 * where that costs XNNPACK less (few input channels, strides: sub-pixel-convolution.ts), else of the
 * stride-dilated dy with the flipped, in/out-transposed filter (transposed-convolution.ts).
 * tfjs-backend-wasm's own kernel is a plain loop; measured here, a gradient step with it cost 12× its
 * forward pass (issue 4).
 */
import * as tf from '@tensorflow/tfjs-core';
import { flippedFilter } from './flipped-filter.ts';
import { planSubPixelConvolution, subPixelConvolution } from './sub-pixel-convolution.ts';
import { asTensor, planTransposedConvolution } from './transposed-convolution.ts';

export function conv2dBackpropInputAsForwardConv(
  args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown },
  fallback: tf.KernelFunc,
): tf.TensorInfo {
  const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const filterInfo = args.inputs.filter as tf.TensorInfo;
  const convInfo = tf.backend_util.computeConv2DInfo(
    attrs.inputShape, filterInfo.shape as [number, number, number, number], attrs.strides, 1, attrs.pad, attrs.dimRoundingMode,
    false, tf.backend_util.convertConv2DDataFormat(attrs.dataFormat));
  const result = tf.tidy(() => {
    const dy = asTensor<tf.Rank.R4>(args.inputs.dy as tf.TensorInfo);
    const subPixel = planSubPixelConvolution(convInfo);
    if (subPixel != null) return subPixelConvolution(dy, filterInfo, args.backend, subPixel, attrs.inputShape);
    const plan = planTransposedConvolution(dy, convInfo);
    if (plan == null) return undefined;
    // [h, w, in, out] → flipped in h and w → [h, w, out, in]: dy's channels are the forward outputs.
    return tf.conv2d(plan.dilatedDy, flippedFilter(filterInfo, args.backend, true), 1, plan.padding);
  });
  return result ?? (fallback(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo);
}
