/**
 * Hand-designed image priors by request name. Each factory takes its options and returns
 * { penalty?, hook? }: a penalty (one value per batch item, unweighted — the loop multiplies by the
 * request's weight and subtracts it from the objective) and/or a step hook that edits the image between
 * steps through the parameterisation's inverse.
 */
import { blur } from './blur.ts';
import { centreBias } from './centreBias.ts';
import { clipContribution } from './clipContribution.ts';
import { clipNorm } from './clipNorm.ts';
import { dae } from './dae.ts';
import { latentDae } from './latentDae.ts';
import { l1 } from './l1.ts';
import { l2 } from './l2.ts';
import { l2Decay } from './l2Decay.ts';
import type { PriorFactory } from './prior.ts';
import { totalVariation } from './totalVariation.ts';

export const priors = { l2, l1, totalVariation, centreBias, blur, clipNorm, clipContribution, l2Decay, dae, latentDae } satisfies Record<string, PriorFactory<never>>;
export type PriorName = keyof typeof priors;

export { l2, l1, totalVariation, centreBias, blur, clipNorm, clipContribution, l2Decay, dae, latentDae };
export { loadDae, reconstruct, DAE_DIR, type DaeOptions } from './dae.ts';
export { loadLatentDae, reconstructCode, LATENT_DAE_DIR, type LatentDaeOptions } from './latentDae.ts';
export type { Prior, PriorContext, PriorFactory } from './prior.ts';
export { editImages, NEUTRAL_PIXEL } from './prior.ts';
export { gaussianBlur, gaussianKernel } from './gaussian-blur.ts';
export { totalVariationPenalty } from './totalVariation.ts';
export type { TotalVariationOptions } from './totalVariation.ts';
export type { BlurOptions } from './blur.ts';
export type { ClipNormOptions } from './clipNorm.ts';
export type { ClipContributionOptions } from './clipContribution.ts';
export type { L2DecayOptions } from './l2Decay.ts';
