/**
 * `clipNorm`: after each step, set to grey the pixels whose colour norm ‖x − ½‖ is below the given
 * percentile of the image's pixel norms (Yosinski et al. 2015, "clipping pixels with small norm").
 * Only the pixels with strong colour survive, so the feature stands out on a neutral background.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidSpecError } from '../types.ts';
import { applyMask, keepAbovePercentile } from './percentile-mask.ts';
import { editImages, NEUTRAL_PIXEL, optionField, type PriorFactory } from './prior.ts';

export interface ClipNormOptions {
  /** 0–100. */
  percentile?: number;
}

export const clipNorm: PriorFactory<ClipNormOptions> = (options, context) => {
  const percentile = checkedPercentile(options.percentile ?? 20, optionField(context, 'percentile'));
  return {
    hook: ({ parameterization, images }) => {
      editImages(parameterization, images, (current) => tf.tidy(() => {
        const norms = tf.norm(tf.sub(current, NEUTRAL_PIXEL), 'euclidean', 3) as tf.Tensor3D;
        return applyMask(current, keepAbovePercentile(norms, percentile), NEUTRAL_PIXEL);
      }), 'clipNorm', context);
    },
  };
};

export function checkedPercentile(percentile: number, field: string): number {
  if (!(percentile >= 0 && percentile <= 100)) throw new InvalidSpecError('percentile must be in [0, 100]', field);
  return percentile;
}
