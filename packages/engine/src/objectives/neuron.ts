/**
 * `neuron`: one channel at one spatial position (Lucid's `neuron`), the centre by default. Because a
 * position's receptive field is small, the image changes only around it (Olah et al. 2017).
 *
 * The position is a cell of the layer's grid at the run's image size, checked against that grid before
 * the first step. Transforms that shrink the image for a step (scale < 1, jitter's crop) can shrink the
 * grid by a cell or two; the position is then clamped to the grid's edge for that step, rather than
 * failing the run at a random step. The default centre is ⌊size/2⌋ of the grid the step sees, as Lucid.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ObjectiveTerm } from '@featurevis/contracts';
import { InvalidSpecError } from '../types.ts';
import { isSpatial, layerGrid, requireChannel, requireLayer, type ObjectiveFactory } from './context.ts';
import { activationsOf, objective, sliceChannel } from './objective.ts';

export type NeuronSpec = Extract<ObjectiveTerm, { type: 'neuron' }>;

export const neuron: ObjectiveFactory<NeuronSpec> = (spec, { model, field, imageSizePx }) => {
  const layer = requireLayer(model, spec.layer, field);
  requireChannel(layer, spec.channel, field);
  const spatial = isSpatial(layer);
  if (!spatial && (spec.x !== undefined || spec.y !== undefined)) {
    throw new InvalidSpecError(`layer "${spec.layer}" has no spatial axes; leave out x and y`, `${field}.${spec.x !== undefined ? 'x' : 'y'}`);
  }
  if (spatial && imageSizePx !== undefined && (spec.x !== undefined || spec.y !== undefined)) {
    const [height, width] = layerGrid(model, spec.layer, imageSizePx);
    if (spec.x !== undefined && spec.x >= width) throw new InvalidSpecError(`x ${spec.x} is outside layer "${spec.layer}", which is ${width} wide at ${imageSizePx} px`, `${field}.x`);
    if (spec.y !== undefined && spec.y >= height) throw new InvalidSpecError(`y ${spec.y} is outside layer "${spec.layer}", which is ${height} high at ${imageSizePx} px`, `${field}.y`);
  }
  const where = spatial ? ` at (${spec.x ?? 'centre'}, ${spec.y ?? 'centre'})` : '';
  return objective(`neuron ${spec.layer}:${spec.channel}${where}`, [spec.layer], (activations) => {
    const layerActivations = activationsOf(activations, spec.layer);
    if (layerActivations.rank !== 4) return tf.reshape(sliceChannel(layerActivations, spec.channel), [-1]) as tf.Tensor1D;
    const [, height, width] = layerActivations.shape;
    // Lucid takes shape // 2 as the centre.
    const x = Math.min(spec.x ?? Math.floor(width / 2), width - 1);
    const y = Math.min(spec.y ?? Math.floor(height / 2), height - 1);
    return tf.reshape(tf.slice(layerActivations, [0, y, x, spec.channel], [-1, 1, 1, 1]), [-1]) as tf.Tensor1D;
  });
};
