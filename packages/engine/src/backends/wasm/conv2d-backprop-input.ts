/**
 * `Conv2DBackpropInput` for the WASM backend, as one forward `Conv2D`: of dy with a sub-pixel filter
 * where that costs XNNPACK less (few input channels, strides: sub-pixel-convolution.ts), else of the
 * stride-dilated dy with the flipped, in/out-transposed filter (transposed-convolution.ts).
 * tfjs-backend-wasm's own kernel is a plain loop; measured here, a gradient step with it cost 12× its
 * forward pass (issue 4).
 */
import * as tf from '@tensorflow/tfjs-core';
import { derivedFilter } from './derived-filters.ts';
import { flipFilter } from './flipped-filter.ts';
import { callKernel } from './kernel-call.ts';
import { planSubPixelConvolution, subPixelConvolution, subPixelFilter, subPixelVariant } from './sub-pixel-convolution.ts';
import { asTensor, planTransposedConvolution } from './transposed-convolution.ts';

export function conv2dBackpropInputAsForwardConv(
  args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown },
  fallback: tf.KernelFunc,
): tf.TensorInfo {
  const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const { backend } = args;
  const dy = args.inputs.dy as tf.TensorInfo;
  const filter = args.inputs.filter as tf.TensorInfo;
  const convInfo = tf.backend_util.computeConv2DInfo(
    attrs.inputShape, filter.shape as [number, number, number, number], attrs.strides, 1, attrs.pad, attrs.dimRoundingMode,
    false, tf.backend_util.convertConv2DDataFormat(attrs.dataFormat));
  const subPixel = planSubPixelConvolution(convInfo);
  if (subPixel != null) {
    const subPixelWeights = derivedFilter(backend, filter, subPixelVariant(subPixel), (values) => subPixelFilter(values, filter.shape, subPixel));
    return subPixelConvolution(dy, subPixelWeights, backend, subPixel, attrs.inputShape);
  }
  let result: tf.TensorInfo | undefined;
  tf.tidy(() => {
    const plan = planTransposedConvolution(asTensor<tf.Rank.R4>(dy), convInfo);
    if (plan == null) return;
    // [h, w, in, out] → flipped in h and w → [h, w, out, in]: dy's channels are the forward outputs.
    const flipped = derivedFilter(backend, filter, 'flipped, transposed', (values) => flipFilter(values, filter.shape, true));
    // A kernel output (not an engine tensor): the tidy frees the dilated dy, not this.
    result = callKernel(tf.Conv2D, { x: plan.dilatedDy, filter: flipped }, { strides: 1, pad: plan.padding, dataFormat: 'NHWC', dilations: 1 }, backend);
  });
  return result ?? (fallback(args as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo);
}
