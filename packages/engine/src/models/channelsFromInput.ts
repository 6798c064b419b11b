/**
 * `ChannelsFromInput` (modelGraph.ts) for a 2-D convolution, whatever the model format: the layer's
 * kernel and bias, read once, give each batch item the filter of its own channel, and the layer's
 * convolution for item i's channel alone is a depthwise convolution of the input with the items side
 * by side along the channel axis, summed over each item's input channels. layersModelGraph.ts (Conv2D
 * layers) and graphModelGraph.ts (`_FusedConv2D` nodes) build it from what their formats record.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ChannelsFromInput } from './modelGraph.ts';

export interface ConvolutionGeometry {
  /** The targetable layer or node whose output the convolution reads. */
  inputLayer: string;
  /** [kernel height, kernel width, input channels, output channels]. */
  kernel: tf.Tensor4D;
  bias?: tf.Tensor1D;
  activation: 'relu' | 'linear';
  padding: 'same' | 'valid';
  strides: [number, number];
  dilations: [number, number];
}

/** Undefined where tfjs's depthwise convolution cannot take the geometry (strides and dilations both above 1). */
export function convolutionChannelsFromInput(g: ConvolutionGeometry): ChannelsFromInput | undefined {
  if (g.strides.some((s) => s > 1) && g.dilations.some((d) => d > 1)) return undefined;
  const [kernelHeight, kernelWidth, inChannels, outChannels] = g.kernel.shape;
  // The weights' values, read once: the per-item filters are built from them in JavaScript (a gather
  // and a transpose of the kernel as tfjs kernels cost more than the few thousand values they move).
  const kernelValues = g.kernel.dataSync() as Float32Array;
  const biasValues = g.bias == null ? null : g.bias.dataSync() as Float32Array;
  return {
    inputLayer: g.inputLayer,
    weightsFor(perItem) {
      const items = perItem.length;
      const taps = kernelHeight * kernelWidth;
      // [h, w, in, out] → [h, w, items · in, 1]: item i's channel's filter on its own block of inputs.
      const filter = new Float32Array(taps * items * inChannels);
      for (let tap = 0; tap < taps; tap++) {
        for (let item = 0; item < items; item++) {
          for (let c = 0; c < inChannels; c++) filter[(tap * items + item) * inChannels + c] = kernelValues[(tap * inChannels + c) * outChannels + perItem[item]];
        }
      }
      return {
        items,
        filter: tf.tensor4d(filter, [kernelHeight, kernelWidth, items * inChannels, 1]),
        bias: biasValues == null ? null : tf.tensor1d(perItem.map((channel) => biasValues[channel])),
      };
    },
    compute(x, weights) {
      const [items, height, width, channels] = x.shape;
      if (items !== weights.items || channels !== inChannels) throw new Error(`channelsFromInput: weights for ${weights.items} items of ${inChannels} channels, input ${x.shape}`);
      // The items side by side along the channel axis: [1, h, w, items · in].
      const stacked = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, height, width, items * channels]) as tf.Tensor4D;
      const perChannel = tf.depthwiseConv2d(stacked, weights.filter, g.strides, g.padding, 'NHWC', g.dilations);
      const [, outHeight, outWidth] = perChannel.shape;
      let out = tf.transpose(tf.sum(tf.reshape(perChannel, [outHeight, outWidth, items, channels]), 3), [2, 0, 1]);
      if (weights.bias != null) out = tf.add(out, tf.reshape(weights.bias, [items, 1, 1]));
      if (g.activation === 'relu') out = tf.relu(out);
      return tf.reshape(out, [items, outHeight, outWidth, 1]);
    },
  };
}
