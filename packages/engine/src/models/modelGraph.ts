/**
 * What the models room needs of a loaded network, whatever its format: its input, its targetable
 * layers (LayersModel) or nodes (GraphModel), its output and logits, and a way to run it up to any set
 * of them. layersModelGraph.ts and graphModelGraph.ts implement it; loadModel.ts builds on it.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { LayerInfo } from '@featurevis/contracts';
import type { ModelFormat } from './modelArtifacts.ts';

export interface ModelGraph {
  format: ModelFormat;
  /** [height, width, channels]; null where any size is accepted. */
  inputShape: Array<number | null>;
  /** Every layer or node an objective can target, in execution order. */
  layers: LayerInfo[];
  outputName: string;
  classes: number;
  /** The tensor holding the pre-softmax class scores, or null when the model gives no such thing. */
  logitsName: string | null;
  /** Runs the model on input already mapped to its own range and channels; `names` are known and distinct. */
  run(input: tf.Tensor4D, names: readonly string[]): tf.Tensor[];
  /** For a layer that is a convolution of another targetable layer's output: its channels from that input. */
  channelsFromInput?(layer: string): ChannelsFromInput | undefined;
  dispose(): void;
}

/** A layer's filter and bias for a choice of one channel per batch item (`ChannelsFromInput.weightsFor`). */
export interface SelectedChannelWeights {
  items: number;
  /** [items, kernel height, kernel width, input channels]: item i's channel's filter. */
  filter: tf.Tensor4D;
  /** [items], or null without a bias. */
  bias: tf.Tensor1D | null;
}

/**
 * One channel per batch item of a convolution layer's output, computed from the layer's input rather
 * than from all of its output channels (a layer sweep: item i maximises channel i). The layer's
 * convolution for item i's channel only is a depthwise convolution of the input with the items
 * stacked along the channel axis, summed over each item's input channels: for a 64-item sweep of a
 * 64-channel layer, 1/64 of the layer's multiply-adds forward and backward.
 */
export interface ChannelsFromInput {
  /** The targetable layer whose output is this layer's input. */
  inputLayer: string;
  /** The weights for `perItem` (item i's channel); tensors the caller frees (or its tidy does). */
  weightsFor(perItem: readonly number[]): SelectedChannelWeights;
  /** Item i's channel of the layer's output from the layer's input: [items, height, width, 1]. */
  compute(input: tf.Tensor4D, weights: SelectedChannelWeights): tf.Tensor4D;
}

/** Shapes come from tfjs with the batch dimension first; the view lists them without it. */
export function withoutBatch(shape: ReadonlyArray<number | null | undefined>): Array<number | null> {
  return shape.slice(1).map((size) => (size === undefined || size === null || size < 0 ? null : size));
}
