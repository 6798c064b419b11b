/**
 * `interpolate`: batch item i of n maximises (1 − t)·from + t·to with t = i/(n − 1), a walk from one
 * objective to another across the batch (Lucid's `channel_interpolate`, generalised to any two
 * objectives). Starting every item from correlated noise is what makes the walk look continuous in
 * Lucid; here the items share the run's seed but not their noise.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ObjectiveTerm } from '@featurevis/contracts';
import type { ObjectiveFactory } from './context.ts';
import { objective, unionOfLayers } from './objective.ts';

export type InterpolateSpec = Extract<ObjectiveTerm, { type: 'interpolate' }>;

/** t for each of `batchSize` items: 0, 1/(n − 1), …, 1 (just 0 for a batch of one). */
export function interpolationWeights(batchSize: number): number[] {
  return Array.from({ length: batchSize }, (_, i) => (batchSize > 1 ? i / (batchSize - 1) : 0));
}

export const interpolate: ObjectiveFactory<InterpolateSpec> = (spec, { field, build }) => {
  const from = build(spec.from, `${field}.from`);
  const to = build(spec.to, `${field}.to`);
  return objective(`interpolate from ${from.description} to ${to.description}`, unionOfLayers([from, to]), (activations, batchSize) => {
    const t = tf.tensor1d(interpolationWeights(batchSize));
    return tf.add(tf.mul(tf.sub(1, t), from.value(activations, batchSize)), tf.mul(t, to.value(activations, batchSize))) as tf.Tensor1D;
  });
};
