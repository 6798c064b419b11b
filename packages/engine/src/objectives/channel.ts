/** `channel`: the spatial mean of one channel of a layer (Lucid's `channel`), the usual unit to visualise. */
import * as tf from '@tensorflow/tfjs-core';
import type { ObjectiveTerm } from '@featurevis/contracts';
import { requireChannel, requireLayer, type ObjectiveFactory } from './context.ts';
import { activationsOf, meanPerItem, objective, sliceChannel } from './objective.ts';

export type ChannelSpec = Extract<ObjectiveTerm, { type: 'channel' }>;

export const channel: ObjectiveFactory<ChannelSpec> = (spec, { model, field }) => {
  const layer = requireLayer(model, spec.layer, field);
  requireChannel(layer, spec.channel, field);
  return objective(`channel ${spec.layer}:${spec.channel}`, [spec.layer], (activations) => {
    const layerActivations = activationsOf(activations, spec.layer);
    return meanPerItem(sliceChannel(layerActivations, spec.channel));
  });
};
