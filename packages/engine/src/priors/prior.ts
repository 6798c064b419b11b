/**
 * What a prior is: a penalty on the rendered images (subtracted from the objective, one value per batch
 * item, unweighted: the optimisation loop multiplies it by the request's `weight`), an operation on the
 * image between steps (a step hook), or both.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidSpecError } from '../types.ts';
import type { Parameterization, Penalty, Random, StepHook } from '../units.ts';
import type { ImageParameterization } from '../parameterizations/image-parameterization.ts';

export interface Prior {
  penalty?: Penalty;
  hook?: StepHook;
  /**
   * What the hook edits: the image (default; written back through `setImages`, so the parameterisation
   * must be invertible) or the parameterisation's code (`setCode`: the generator's latent, latentDae).
   */
  acts?: 'image' | 'code';
  /** Work to finish before the first step (loading a model the hook runs); the loop awaits it. */
  ready?: () => Promise<void>;
}

/** What the engine tells a prior about the run; `field` is the prior's place in the request ("priors[2]"). */
export interface PriorContext {
  batch?: number;
  sizePx?: number;
  steps?: number;
  field?: string;
  /** The run's seeded Random, for priors that draw noise between steps (dae). */
  random?: Random;
  /** One stream per batch item when the items draw apart (random.ts itemRandomsOf). */
  itemRandoms?: readonly Random[];
}

export type PriorFactory<Options> = (options: Options, context?: PriorContext) => Prior;

/** The request field an error about `option` names. */
export function optionField(context: PriorContext | undefined, option: string): string {
  return `${context?.field ?? 'priors'}.${option}`;
}

/**
 * The pixel value that the "zeroing" priors move toward. The papers work on mean-subtracted images
 * (Simonyan et al. 2014; Yosinski et al. 2015), where 0 is the mean colour; our images are in [0,1], so
 * their zero is mid-grey.
 */
export const NEUTRAL_PIXEL = 0.5;

/**
 * Step hooks edit the image, not the variables, so they mean the same thing whatever the
 * parameterisation: render, edit, and write back through the parameterisation's exact inverse.
 */
export function editImages(
  parameterization: Parameterization, images: () => tf.Tensor4D, edit: (images: tf.Tensor4D) => tf.Tensor4D,
  prior: string, context?: PriorContext,
): void {
  const setImages = (parameterization as ImageParameterization).setImages;
  if (!setImages) {
    throw new InvalidSpecError(`the ${prior} prior edits the image between steps and needs an invertible parameterisation (pixel, fourier, laplacian)`, context?.field ?? 'priors');
  }
  tf.tidy(() => {
    const current = images();
    setImages(edit(current));
  });
}

/** Per batch item mean over height, width and channels. */
export function meanPerItem(values: tf.Tensor): tf.Tensor1D {
  return tf.mean(values, [1, 2, 3]) as tf.Tensor1D;
}
