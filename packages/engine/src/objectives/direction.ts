/**
 * `direction`: a vector in a layer's channel space (Olah et al. 2017, "Feature Visualization":
 * directions, not just basis channels, can be meaningful). The value is the spatial mean of the dot
 * product of the activations with the vector (Lucid's `direction`, up to the constant 1/channels).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ObjectiveTerm } from '@featurevis/contracts';
import { InvalidSpecError } from '../types.ts';
import { requireLayer, type ObjectiveFactory } from './context.ts';
import { activationsOf, meanPerItem, objective } from './objective.ts';

export type DirectionSpec = Extract<ObjectiveTerm, { type: 'direction' }>;

export const direction: ObjectiveFactory<DirectionSpec> = (spec, { model, field }) => {
  const layer = requireLayer(model, spec.layer, field);
  if (spec.vector.length !== layer.channels) {
    throw new InvalidSpecError(`vector has ${spec.vector.length} entries; layer "${spec.layer}" has ${layer.channels} channels`, `${field}.vector`);
  }
  return objective(`direction in ${spec.layer}`, [spec.layer], (activations) => {
    const layerActivations = activationsOf(activations, spec.layer);
    const dot = tf.sum(tf.mul(layerActivations, tf.tensor1d(spec.vector)), layerActivations.rank - 1);
    return meanPerItem(dot);
  });
};
