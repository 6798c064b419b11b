/** `channel`: the spatial mean of one channel of a layer (Lucid's `channel`), the usual unit to visualise. */
import * as tf from '@tensorflow/tfjs-core';
import type { ObjectiveTerm } from '@featurevis/contracts';
import { requireChannel, requireLayer, type ObjectiveFactory } from './context.ts';
import { activationsOf, channelMeansFromInput, meanPerItem, objective, sliceChannel } from './objective.ts';

export type ChannelSpec = Extract<ObjectiveTerm, { type: 'channel' }>;

export const channel: ObjectiveFactory<ChannelSpec> = (spec, context) => {
  const { model, field } = context;
  const layer = requireLayer(model, spec.layer, field);
  requireChannel(layer, spec.channel, field);
  const description = `channel ${spec.layer}:${spec.channel}`;
  // From the layer's input where it is a convolution: the same path a sweep's batch takes (per-item.ts),
  // so a one-unit run and its item in a batched run compute the same values.
  const fromInput = channelMeansFromInput(description, spec.layer, (items) => new Array<number>(items).fill(spec.channel), context);
  if (fromInput != null) return fromInput;
  return objective(description, [spec.layer], (activations) => {
    const layerActivations = activationsOf(activations, spec.layer);
    return meanPerItem(sliceChannel(layerActivations, spec.channel));
  });
};
