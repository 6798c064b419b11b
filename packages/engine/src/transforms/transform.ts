/**
 * What a transform is: a random, differentiable augmentation of the rendered images, drawn afresh at
 * every step from the run's seeded Random (Mordvintsev et al. 2015; Olah et al. 2017, "transformation
 * robustness"). Optimising through them keeps only the patterns the unit responds to wherever they
 * sit, which removes the high-frequency "adversarial" noise that pixel-exact optimisation finds.
 * Each may change the image size: the bundled models are fully convolutional and a model with a fixed
 * input size gets its input resized by the models room.
 */
import type { Transform } from '../units.ts';

export interface TransformContext {
  /** Where the transform sits in the request ("transforms[2]"), for error messages. */
  field?: string;
}

export type TransformFactory<Options> = (options: Options, context?: TransformContext) => Transform;

/** An integer drawn uniformly from [0, max]. */
export function randomInt(random: { next(): number }, max: number): number {
  return Math.min(max, Math.floor(random.next() * (max + 1)));
}

/** One element of a non-empty list, drawn uniformly. */
export function randomChoice<T>(random: { next(): number }, values: readonly T[]): T {
  return values[Math.min(values.length - 1, Math.floor(random.next() * values.length))];
}
