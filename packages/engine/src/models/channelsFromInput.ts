/**
 * `ChannelsFromInput` (modelGraph.ts) for a 2-D convolution, whatever the model format: the layer's
 * kernel and bias, read once, give each batch item the filter of its own channel. On WASM the layer's
 * convolution for item i's channel alone is one kernel (backends/wasm/item-channel-conv.ts, with its
 * input gradient); elsewhere it is a depthwise convolution of the input with the items side by side
 * along the channel axis, summed over each item's input channels. layersModelGraph.ts (Conv2D layers)
 * and graphModelGraph.ts (`_FusedConv2D` nodes) build it from what their formats record.
 */
import * as tf from '@tensorflow/tfjs-core';
import { itemChannelConv, itemChannelConvRuns } from '../backends/index.ts';
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
      // [h, w, in, out] → [items, h, w, in]: item i's channel's filter.
      const filter = new Float32Array(items * taps * inChannels);
      for (let item = 0; item < items; item++) {
        for (let tap = 0; tap < taps; tap++) {
          for (let c = 0; c < inChannels; c++) filter[(item * taps + tap) * inChannels + c] = kernelValues[(tap * inChannels + c) * outChannels + perItem[item]];
        }
      }
      return {
        items,
        filter: tf.tensor4d(filter, [items, kernelHeight, kernelWidth, inChannels]),
        bias: biasValues == null ? null : tf.tensor1d(perItem.map((channel) => biasValues[channel])),
      };
    },
    compute(x, weights) {
      const [items, height, width, channels] = x.shape;
      if (items !== weights.items || channels !== inChannels) throw new Error(`channelsFromInput: weights for ${weights.items} items of ${inChannels} channels, input ${x.shape}`);
      if (itemChannelConvRuns(x, weights.filter)) {
        const out = itemChannelConv(x, weights.filter, weights.bias, { strides: g.strides, dilations: g.dilations, pad: g.padding });
        return g.activation === 'relu' ? tf.relu(out) : out;
      }
      // The items side by side along the channel axis: [1, h, w, items · in], and their filters likewise.
      // tfjs's depthwise convolution has no gradient with dilations, so a dilated kernel is written out
      // with zeros between its taps (the same convolution, undilated).
      const stacked = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, height, width, items * channels]) as tf.Tensor4D;
      const filter = g.dilations.some((d) => d > 1) ? zeroDilated(weights.filter, g.dilations) : weights.filter;
      const [, filterHeight, filterWidth] = filter.shape;
      const depthwiseFilter = tf.reshape(tf.transpose(filter, [1, 2, 0, 3]), [filterHeight, filterWidth, items * channels, 1]) as tf.Tensor4D;
      const perChannel = tf.depthwiseConv2d(stacked, depthwiseFilter, g.strides, g.padding);
      const [, outHeight, outWidth] = perChannel.shape;
      let out = tf.transpose(tf.sum(tf.reshape(perChannel, [outHeight, outWidth, items, channels]), 3), [2, 0, 1]);
      if (weights.bias != null) out = tf.add(out, tf.reshape(weights.bias, [items, 1, 1]));
      if (g.activation === 'relu') out = tf.relu(out);
      return tf.reshape(out, [items, outHeight, outWidth, 1]);
    },
  };
}

/** [items, h, w, c] filters with dilation − 1 zeros between their taps: [items, (h − 1)·dh + 1, (w − 1)·dw + 1, c]. */
function zeroDilated(filter: tf.Tensor4D, [dilationHeight, dilationWidth]: [number, number]): tf.Tensor4D {
  const [items, height, width, channels] = filter.shape;
  const spread = tf.pad(tf.reshape(filter, [items, height, 1, width, 1, channels]), [[0, 0], [0, 0], [0, dilationHeight - 1], [0, 0], [0, dilationWidth - 1], [0, 0]]);
  return tf.slice(tf.reshape(spread, [items, height * dilationHeight, width * dilationWidth, channels]), 0,
    [items, (height - 1) * dilationHeight + 1, (width - 1) * dilationWidth + 1, channels]) as tf.Tensor4D;
}
