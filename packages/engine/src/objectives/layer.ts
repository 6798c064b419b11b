/**
 * `layer`: DeepDream's objective (Mordvintsev, Olah & Tyka 2015; Lucid's `deepdream`): the mean
 * square of a whole layer, which amplifies whatever the layer already sees.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ObjectiveTerm } from '@featurevis/contracts';
import { requireLayer, type ObjectiveFactory } from './context.ts';
import { activationsOf, meanPerItem, objective } from './objective.ts';

export type LayerSpec = Extract<ObjectiveTerm, { type: 'layer' }>;

export const layer: ObjectiveFactory<LayerSpec> = (spec, { model, field }) => {
  requireLayer(model, spec.layer, field);
  return objective(`layer ${spec.layer} (DeepDream)`, [spec.layer], (activations) => meanPerItem(tf.square(activationsOf(activations, spec.layer))));
};
