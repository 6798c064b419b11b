/**
 * `diversity`: Lucid's diversity term (Olah et al. 2017, "Feature Visualization", section
 * "Diversity"): the batch items' Gram matrices at a layer, each normalised to unit length, should point
 * in different directions. Item i's value is minus the sum of its cosine similarities to the other
 * items, so the batch mean is minus Lucid's `diversity(layer)`. Lucid adds it with a weight of about
 * 100 to the unit's objective; alone, it only pushes the images apart.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ObjectiveTerm } from '@featurevis/contracts';
import { requireLayer, type ObjectiveFactory } from './context.ts';
import { activationsOf, objective } from './objective.ts';

export type DiversitySpec = Extract<ObjectiveTerm, { type: 'diversity' }>;

export const diversity: ObjectiveFactory<DiversitySpec> = (spec, { model, field }) => {
  const layer = requireLayer(model, spec.layer, field);
  return objective(`diversity at ${spec.layer}`, [spec.layer], (activations, batchSize) => {
    const layerActivations = activationsOf(activations, spec.layer);
    const flattened = tf.reshape(layerActivations, [batchSize, -1, layer.channels]) as tf.Tensor3D;
    const grams = tf.reshape(tf.matMul(flattened, flattened, true, false), [batchSize, -1]) as tf.Tensor2D;
    // tf.nn.l2_normalize with Lucid's epsilon 1e-10 on the squared norm.
    const unit = tf.mul(grams, tf.rsqrt(tf.maximum(tf.sum(tf.square(grams), 1, true), 1e-10)));
    const similarities = tf.matMul(unit, unit, false, true);
    const toOthers = tf.sub(tf.sum(similarities, 1), tf.sum(tf.square(unit), 1));
    return tf.neg(toOthers) as tf.Tensor1D;
  });
};
