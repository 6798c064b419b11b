/**
 * `l2Decay`: after each step, x ← ½ + (1 − θ)(x − ½) (Yosinski et al. 2015's L2 decay, written as the
 * operation between steps rather than as a penalty; on mean-subtracted images it is x ← (1 − θ)x).
 * Pixels that the objective does not keep pushing fade to grey.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidSpecError } from '../types.ts';
import { editImages, NEUTRAL_PIXEL, optionField, type PriorFactory } from './prior.ts';

export interface L2DecayOptions {
  /** θ in [0, 1): the fraction of each pixel's distance from grey removed per step. */
  theta?: number;
}

export const l2Decay: PriorFactory<L2DecayOptions> = (options, context) => {
  const theta = options.theta ?? 0.01;
  if (!(theta >= 0 && theta < 1)) throw new InvalidSpecError('theta must be in [0, 1)', optionField(context, 'theta'));
  return {
    hook: ({ parameterization, images }) => {
      editImages(parameterization, images, (current) => tf.tidy(() => tf.add(tf.mul(tf.sub(current, NEUTRAL_PIXEL), 1 - theta), NEUTRAL_PIXEL) as tf.Tensor4D), 'l2Decay', context);
    },
  };
};
