/**
 * `region`: one channel averaged inside a rectangle of the layer's grid, given as fractions of its
 * width and height so it does not depend on the image size. Summing several (with `sum`) asks for
 * different things in different places: spatial control as in Nguyen et al. (2016) and Lucid's
 * spatial objectives.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ObjectiveTerm } from '@featurevis/contracts';
import { InvalidSpecError } from '../types.ts';
import { isSpatial, requireChannel, requireLayer, type ObjectiveFactory } from './context.ts';
import { activationsOf, meanPerItem, objective } from './objective.ts';

export type RegionSpec = Extract<ObjectiveTerm, { type: 'region' }>;

/** A fraction range [start, start + length) of `size` cells → integer [begin, end), at least one cell. */
function cells(start: number, length: number, size: number): [number, number] {
  const begin = Math.min(size - 1, Math.floor(start * size));
  const end = Math.max(begin + 1, Math.min(size, Math.ceil((start + length) * size)));
  return [begin, end];
}

export const region: ObjectiveFactory<RegionSpec> = (spec, { model, field }) => {
  const layer = requireLayer(model, spec.layer, field);
  requireChannel(layer, spec.channel, field);
  if (!isSpatial(layer)) throw new InvalidSpecError(`layer "${spec.layer}" has no spatial axes, so it has no regions`, `${field}.layer`);
  const { x, y, width, height } = spec.region;
  const tolerance = 1e-9;
  if (x + width > 1 + tolerance) throw new InvalidSpecError(`region.x + region.width is ${x + width}; it must be at most 1`, `${field}.region.width`);
  if (y + height > 1 + tolerance) throw new InvalidSpecError(`region.y + region.height is ${y + height}; it must be at most 1`, `${field}.region.height`);
  return objective(`channel ${spec.layer}:${spec.channel} in [${x}, ${x + width}) × [${y}, ${y + height})`, [spec.layer], (activations) => {
    const layerActivations = activationsOf(activations, spec.layer);
    const [, layerHeight, layerWidth] = layerActivations.shape;
    const [top, bottom] = cells(y, height, layerHeight);
    const [left, right] = cells(x, width, layerWidth);
    return meanPerItem(tf.slice(layerActivations, [0, top, left, spec.channel], [-1, bottom - top, right - left, 1]));
  });
};
