/**
 * `blur`: a Gaussian blur of the image every `everySteps` steps (Yosinski, Clune, Nguyen, Fuchs & Lipson
 * 2015, "Understanding Neural Networks Through Deep Visualization"). Gradient ascent adds high-frequency
 * detail that no natural image has; blurring between steps removes it, while the objective keeps
 * re-adding the structure that matters. The paper found small sigmas every few steps (e.g. 0.5 px
 * every 4 steps) best.
 */
import { InvalidSpecError } from '../types.ts';
import { gaussianBlur } from './gaussian-blur.ts';
import { editImages, optionField, type PriorFactory } from './prior.ts';

export interface BlurOptions {
  sigmaPx?: number;
  everySteps?: number;
}

export const blur: PriorFactory<BlurOptions> = (options, context) => {
  const sigmaPx = options.sigmaPx ?? 0.5;
  const everySteps = options.everySteps ?? 4;
  if (!(sigmaPx > 0)) throw new InvalidSpecError('sigmaPx must be positive', optionField(context, 'sigmaPx'));
  if (!Number.isInteger(everySteps) || everySteps < 1) throw new InvalidSpecError('everySteps must be a positive integer', optionField(context, 'everySteps'));
  return {
    hook: ({ step, parameterization, images }) => {
      if (step % everySteps !== 0) return;
      editImages(parameterization, images, (current) => gaussianBlur(current, sigmaPx), 'blur', context);
    },
  };
};
