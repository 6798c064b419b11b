/**
 * `clipContribution`: after each step, set to grey the pixels whose contribution to the objective,
 * Σ_c |(x − ½) · ∂f/∂x| (a first-order estimate of how much the activation would drop if the pixel were
 * set to grey), is below the given percentile (Yosinski et al. 2015, "clipping pixels with small
 * contribution"). Needs the step's gradient of the objective with respect to the images
 * (StepHook's `gradients`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkedPercentile } from './clipNorm.ts';
import { applyMask, keepAbovePercentile } from './percentile-mask.ts';
import { editImages, NEUTRAL_PIXEL, optionField, type PriorFactory } from './prior.ts';

export interface ClipContributionOptions {
  /** 0–100. */
  percentile?: number;
}

export const clipContribution: PriorFactory<ClipContributionOptions> = (options, context) => {
  const percentile = checkedPercentile(options.percentile ?? 20, optionField(context, 'percentile'));
  return {
    hook: ({ parameterization, images, gradients }) => {
      if (!gradients) throw new Error('clipContribution needs the gradient of the objective with respect to the images (StepHook context.gradients)');
      editImages(parameterization, images, (current) => tf.tidy(() => {
        const contributions = tf.sum(tf.abs(tf.mul(tf.sub(current, NEUTRAL_PIXEL), gradients)), 3) as tf.Tensor3D;
        return applyMask(current, keepAbovePercentile(contributions, percentile), NEUTRAL_PIXEL);
      }), 'clipContribution', context);
    },
  };
};
