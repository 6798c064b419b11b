/**
 * `neuron`: one channel at one spatial position (Lucid's `neuron`), the centre by default. Because a
 * position's receptive field is small, the image changes only around it (Olah et al. 2017).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ObjectiveTerm } from '@featurevis/contracts';
import { InvalidSpecError } from '../types.ts';
import { isSpatial, requireChannel, requireLayer, type ObjectiveFactory } from './context.ts';
import { activationsOf, objective, sliceChannel } from './objective.ts';

export type NeuronSpec = Extract<ObjectiveTerm, { type: 'neuron' }>;

export const neuron: ObjectiveFactory<NeuronSpec> = (spec, { model, field }) => {
  const layer = requireLayer(model, spec.layer, field);
  requireChannel(layer, spec.channel, field);
  const spatial = isSpatial(layer);
  if (!spatial && (spec.x !== undefined || spec.y !== undefined)) {
    throw new InvalidSpecError(`layer "${spec.layer}" has no spatial axes; leave out x and y`, `${field}.${spec.x !== undefined ? 'x' : 'y'}`);
  }
  const where = spatial ? ` at (${spec.x ?? 'centre'}, ${spec.y ?? 'centre'})` : '';
  return objective(`neuron ${spec.layer}:${spec.channel}${where}`, [spec.layer], (activations) => {
    const layerActivations = activationsOf(activations, spec.layer);
    if (layerActivations.rank !== 4) return tf.reshape(sliceChannel(layerActivations, spec.channel), [-1]) as tf.Tensor1D;
    const [, height, width] = layerActivations.shape;
    // Lucid takes shape // 2 as the centre.
    const x = spec.x ?? Math.floor(width / 2);
    const y = spec.y ?? Math.floor(height / 2);
    if (x >= width) throw new InvalidSpecError(`x ${x} is outside layer "${spec.layer}", which is ${width} wide at this image size`, `${field}.x`);
    if (y >= height) throw new InvalidSpecError(`y ${y} is outside layer "${spec.layer}", which is ${height} high at this image size`, `${field}.y`);
    return tf.reshape(tf.slice(layerActivations, [0, y, x, spec.channel], [-1, 1, 1, 1]), [-1]) as tf.Tensor1D;
  });
};
