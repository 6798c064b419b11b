/**
 * One channel per batch item of a convolution layer, from the layer's input, as two WASM kernels
 * (item-channel-conv.wat): `FeaturevisItemChannelConv` (forward, with the items' biases) and
 * `FeaturevisItemChannelConvBackpropInput` (its gradient with respect to the input), which the
 * registered gradient of the first runs.
 *
 * Why: the channel objectives (a layer sweep: item i maximises channel i; or one channel for every
 * item) compute only the channels they need from the layer's input (models/channelsFromInput.ts).
 * Expressed in tfjs kernels that took a Transpose, a depthwise convolution, a Sum, a Transpose, a bias
 * Add forward and, backward, a Tile, a depthwise input gradient and a Transpose — about twenty kernel
 * calls, for a few thousand multiply-adds an item. Measured on two threads: 0.26 ms forward + backward
 * at batch 1 (a fifth of a shapes-a step) and 1.2–2.2 ms at batch 64; these two kernels do the same
 * arithmetic in one pass each.
 *
 * Where the convolution addon runs the convolutions (native-conv.ts), it runs these two kernels too (in
 * AVX-512 or AVX2, with these as their fallback): at batch 64 on shapes-a's conv3 the WebAssembly pair
 * took ≈ 0.5 ms of a 9.5 ms step.
 *
 * Inputs: x [items, height, width, C] and filter [items, kernel height, kernel width, C] (float32),
 * bias [items] optional; attrs `strides`, `dilations` ([h, w]) and `pad` ('same' | 'valid') as
 * tfjs's conv2d. Output [items, out height, out width, 1].
 */
import * as tf from '@tensorflow/tfjs-core';
import { sharedMemoryWasmBase64, wasmBase64 } from './item-channel-conv.wasm.ts';
import { convolutionGeometryArgs, SimdKernel, type ConvolutionGeometryArgs } from './simd-kernel.ts';

export const ITEM_CHANNEL_CONV_KERNEL = 'FeaturevisItemChannelConv';
export const ITEM_CHANNEL_CONV_BACKPROP_INPUT_KERNEL = 'FeaturevisItemChannelConvBackpropInput';

export interface ItemChannelConvAttrs {
  strides: [number, number];
  dilations: [number, number];
  pad: 'same' | 'valid';
}

/** Byte offsets (bias 0: none), then the geometry. */
type Forward = (x: number, filter: number, bias: number, out: number, ...geometry: ConvolutionGeometryArgs) => void;
type BackpropInput = (dy: number, filter: number, dx: number, ...geometry: ConvolutionGeometryArgs) => void;

const forwardSimd = new SimdKernel<Forward>(wasmBase64, sharedMemoryWasmBase64, 'itemChannelConv');
const backpropInputSimd = new SimdKernel<BackpropInput>(wasmBase64, sharedMemoryWasmBase64, 'itemChannelConvBackpropInput');

/** The convolution's geometry (tfjs's, with one output channel) and the kernels' geometry arguments; throws where the filter does not fit. */
export function itemChannelConvGeometry(inputShape: readonly number[], filterShape: readonly number[], attrs: ItemChannelConvAttrs): { info: tf.backend_util.Conv2DInfo; args: ConvolutionGeometryArgs } {
  const [items, height, width, channels] = inputShape as [number, number, number, number];
  const [filterItems, kernelHeight, kernelWidth, filterChannels] = filterShape as [number, number, number, number];
  if (filterItems !== items || filterChannels !== channels) {
    throw new Error(`${ITEM_CHANNEL_CONV_KERNEL}: filter ${filterShape} does not fit input ${inputShape}`);
  }
  const info = tf.backend_util.computeConv2DInfo([items, height, width, channels], [kernelHeight, kernelWidth, channels, 1], attrs.strides, attrs.dilations, attrs.pad);
  return { info, args: convolutionGeometryArgs(info) };
}

export function itemChannelConvKernel(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown }): tf.TensorInfo {
  const { x, filter, bias } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo; bias?: tf.TensorInfo };
  const simd = forwardSimd.requireHeapOf(ITEM_CHANNEL_CONV_KERNEL, args.backend, bias == null ? [x, filter] : [x, filter, bias]);
  const { info, args: shape } = itemChannelConvGeometry(x.shape, filter.shape, args.attrs as unknown as ItemChannelConvAttrs);
  const out = simd.heap.makeOutput([info.batchSize, info.outHeight, info.outWidth, 1], 'float32');
  simd.kernel(simd.heap.getMemoryOffset(x.dataId), simd.heap.getMemoryOffset(filter.dataId),
    bias == null ? 0 : simd.heap.getMemoryOffset(bias.dataId), simd.heap.getMemoryOffset(out.dataId), ...shape);
  return out;
}

export function itemChannelConvBackpropInputKernel(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown }): tf.TensorInfo {
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const { inputShape, ...attrs } = args.attrs as unknown as ItemChannelConvAttrs & { inputShape: number[] };
  const simd = backpropInputSimd.requireHeapOf(ITEM_CHANNEL_CONV_BACKPROP_INPUT_KERNEL, args.backend, [dy, filter]);
  const { args: shape } = itemChannelConvGeometry(inputShape, filter.shape, attrs);
  const dx = simd.heap.makeOutput([...inputShape], 'float32');
  simd.kernel(simd.heap.getMemoryOffset(dy.dataId), simd.heap.getMemoryOffset(filter.dataId), simd.heap.getMemoryOffset(dx.dataId), ...shape);
  return dx;
}

/**
 * The input gradient only: the filters and biases are the model's constants. x's shape comes with the
 * forward attributes (`itemChannelConv`), so x is not saved (tfjs clones what a kernel saves, a kernel
 * call every step).
 */
export const itemChannelConvGradient: tf.GradConfig = {
  kernelName: ITEM_CHANNEL_CONV_KERNEL,
  inputsToSave: ['filter'],
  gradFunc: (dy, saved, attrs) => {
    const [filter] = saved;
    return {
      x: () => tf.engine().runKernel(ITEM_CHANNEL_CONV_BACKPROP_INPUT_KERNEL, { dy: dy as tf.Tensor, filter }, attrs) as tf.Tensor,
    };
  },
};

/** Whether the kernels can run for these tensors on the active backend. */
export function itemChannelConvRuns(x: tf.Tensor, filter: tf.Tensor): boolean {
  return forwardSimd.runsFor(ITEM_CHANNEL_CONV_KERNEL, [x, filter]) && tf.getKernel(ITEM_CHANNEL_CONV_BACKPROP_INPUT_KERNEL, tf.getBackend()) != null;
}

/** Item i's channel: x's item i convolved with filter's item i, plus bias[i]. [items, out height, out width, 1]. */
export function itemChannelConv(x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D | null, attrs: ItemChannelConvAttrs): tf.Tensor4D {
  const inputs: tf.NamedTensorMap = bias == null ? { x, filter } : { x, filter, bias };
  // inputShape: for the gradient (itemChannelConvGradient); the forward kernel takes it from x.
  return tf.engine().runKernel(ITEM_CHANNEL_CONV_KERNEL, inputs, { ...attrs, inputShape: x.shape } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}
