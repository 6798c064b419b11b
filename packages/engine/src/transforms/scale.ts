/**
 * `scale`: resize by a factor drawn from `factors` (Lucid's `transform.random_scale`), bilinearly, so
 * the unit is asked for its pattern at several sizes. `tf.image.resizeBilinear` is differentiable on
 * every backend the engine runs (ResizeBilinearGrad is registered by cpu and wasm).
 *
 * One factor per step for the whole batch: items scaled apart would have different sizes and could not
 * share the model's pass, so a run with per-item streams of more than one item is refused (visualize.ts);
 * a single item draws from its own stream.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidSpecError } from '../types.ts';
import { randomChoice, type TransformFactory } from './transform.ts';

export interface ScaleOptions { factors?: number[] }

export const DEFAULT_SCALE_FACTORS = [0.95, 0.975, 1, 1.025, 1.05];

export const scale: TransformFactory<ScaleOptions> = (options, context) => {
  const factors = options.factors ?? DEFAULT_SCALE_FACTORS;
  if (factors.length === 0 || factors.some((f) => !(f > 0))) throw new InvalidSpecError('factors must be a non-empty list of positive numbers', `${context?.field ?? 'transforms'}.factors`);
  return (images, random, itemRandoms) => {
    if (itemRandoms && itemRandoms.length > 1) throw new InvalidSpecError('the scale transform cannot draw a factor per batch item', 'itemSeeds');
    const factor = randomChoice(itemRandoms?.[0] ?? random, factors);
    const [, height, width] = images.shape;
    const size: [number, number] = [Math.max(1, Math.round(height * factor)), Math.max(1, Math.round(width * factor))];
    if (size[0] === height && size[1] === width) return images;
    return tf.image.resizeBilinear(images, size, true);
  };
};
