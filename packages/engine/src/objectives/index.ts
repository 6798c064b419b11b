/**
 * Objectives by request name (packages/contracts engine-spec `Objective`), and `buildObjective`, which
 * turns a request's `objective` — one objective, a composite, or a list with one per batch item — into
 * the one `Objective` the optimisation loop maximises, checking it against the model first (and, given
 * the run's image size, a neuron's position against the layer's grid at that size).
 */
import * as tf from '@tensorflow/tfjs-core';
import { OBJECTIVE_TYPES, type Objective as ObjectiveSpec, type ObjectiveTerm } from '@featurevis/contracts';
import { InvalidSpecError, type LoadedModel } from '../types.ts';
import { channel } from './channel.ts';
import { classLogit } from './class.ts';
import type { ObjectiveContext, ObjectiveFactory } from './context.ts';
import { direction } from './direction.ts';
import { diversity } from './diversity.ts';
import { interpolate } from './interpolate.ts';
import { inversion } from './inversion.ts';
import { layer } from './layer.ts';
import { negate } from './negate.ts';
import { neuron } from './neuron.ts';
import type { ComposableObjective } from './objective.ts';
import { perItem } from './per-item.ts';
import { region } from './region.ts';
import { sum } from './sum.ts';

type FactoryFor<T extends ObjectiveTerm['type']> = ObjectiveFactory<Extract<ObjectiveTerm, { type: T }>>;

export const objectives: { [T in ObjectiveTerm['type']]: FactoryFor<T> } = {
  neuron,
  channel,
  layer,
  class: classLogit,
  direction,
  region,
  diversity,
  inversion,
  sum,
  negate,
  interpolate,
};

/**
 * The request's objective as one Objective over the batch, validated against the model: an unknown
 * layer, a channel out of range or an unknown class label throws InvalidSpecError naming the field.
 */
export function buildObjective(spec: ObjectiveSpec, options: { model: LoadedModel; batchSize: number; field?: string; imageSizePx?: number }): ComposableObjective {
  // Tensors the parts hold across steps; the root objective owns them all (dispose it after the run).
  const kept: tf.Tensor[] = [];
  const keep = <T extends tf.Tensor>(tensor: T): T => {
    kept.push(tf.keep(tensor));
    return tensor;
  };
  const build = (node: ObjectiveSpec, field: string): ComposableObjective => {
    const context: ObjectiveContext = { model: options.model, batchSize: options.batchSize, field, build, keep, ...(options.imageSizePx === undefined ? {} : { imageSizePx: options.imageSizePx }) };
    if (Array.isArray(node)) return perItem(node, context);
    const factory = objectives[node.type] as ObjectiveFactory | undefined;
    if (!factory) throw new InvalidSpecError(`unknown objective type "${(node as { type: string }).type}"; known: ${OBJECTIVE_TYPES.join(', ')}`, `${field}.type`);
    return factory(node, context);
  };
  try {
    return build(spec, options.field ?? 'objective').own(kept);
  } catch (error) {
    // A part failed its checks after another kept a tensor: free what was kept.
    for (const tensor of kept) tensor.dispose();
    throw error;
  }
}

// Whether item i's objective depends on i: a rule of the request (contracts), which facets check too.
export { dependsOnPosition } from '@featurevis/contracts';
export { ComposableObjective, objective, weightedSum } from './objective.ts';
export { classIndex, LOGITS } from './class.ts';
export { interpolationWeights } from './interpolate.ts';
export type { ObjectiveContext, ObjectiveFactory } from './context.ts';
