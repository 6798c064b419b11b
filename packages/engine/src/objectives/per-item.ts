/**
 * A list of objectives, one per batch item: item i of the batch maximises objective i, so one
 * optimisation serves many units (a layer sweep runs its channels as one batch; issue 4 relies on it).
 * Each item's image gets the gradient of its own objective only, because the batch items do not
 * interact in the model.
 *
 * The general case evaluates every objective on the whole batch and keeps item i of objective i. The
 * common sweep case — every item a `channel` of the same layer — is computed in one pass instead: from
 * the layer's input, item i's channel only, where the layer is a convolution the model can redo that
 * way (objective.ts `channelMeansFromInput`); else the spatial mean of the layer dotted with a one-hot
 * channel mask per item, O(batch · layer) rather than O(batch² · layer).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Objective as ObjectiveSpec } from '@featurevis/contracts';
import { InvalidSpecError } from '../types.ts';
import { requireChannel, requireLayer, type ObjectiveContext } from './context.ts';
import { activationsOf, channelMeansFromInput, objective, unionOfLayers, type ComposableObjective } from './objective.ts';

export function perItem(specs: ObjectiveSpec[], context: ObjectiveContext): ComposableObjective {
  const { field, batchSize, build } = context;
  if (specs.length !== batchSize) {
    throw new InvalidSpecError(`${field} lists ${specs.length} objectives but the batch has ${batchSize} images; give one objective per image (or leave image.batch out)`, field);
  }
  const first = specs[0];
  const sameLayerChannels = !Array.isArray(first) && first.type === 'channel'
    && specs.every((spec) => !Array.isArray(spec) && spec.type === 'channel' && spec.layer === first.layer);
  if (sameLayerChannels) {
    // Checked as channel.ts checks each item, without building 64 objectives the batch never runs.
    const channels = specs.map((spec, i) => requireChannel(requireLayer(context.model, first.layer, `${field}[${i}]`), (spec as { channel: number }).channel, `${field}[${i}]`));
    const description = `per image: ${channels.map((channel) => `channel ${first.layer}:${channel}`).join('; ')}`;
    const fromInput = channelMeansFromInput(description, first.layer, () => channels, context);
    if (fromInput != null) return fromInput;
    const channelCount = context.model.info.layers.find((layer) => layer.name === first.layer)!.channels;
    return objective(description, [first.layer], (activations) => {
      const layerActivations = activationsOf(activations, first.layer);
      const spatialAxes = Array.from({ length: layerActivations.rank - 2 }, (_, i) => i + 1);
      const meanPerChannel = spatialAxes.length > 0 ? tf.mean(layerActivations, spatialAxes) : layerActivations;
      const mask = tf.oneHot(tf.tensor1d(channels, 'int32'), channelCount);
      return tf.sum(tf.mul(meanPerChannel, mask), 1) as tf.Tensor1D;
    });
  }
  const items = specs.map((spec, i) => build(spec, `${field}[${i}]`));
  const description = `per image: ${items.map((item) => item.description).join('; ')}`;
  return objective(description, unionOfLayers(items), (activations, size) => {
    const values = items.map((item, i) => tf.slice(item.value(activations, size), [i], [1]));
    return tf.concat(values) as tf.Tensor1D;
  });
}
