/**
 * `latentDae`: the prior of Plug & Play Generative Networks sampling (Nguyen, Clune, Bengio, Dosovitskiy
 * & Yosinski 2017) in the generator's latent space, as in the paper:
 *
 *   h_{t+1} = h_t + ε1·(R_h(h_t) − h_t) + ε2·∂log p(y|G(h_t))/∂h_t + N(0, ε3²)
 *
 * The class term is the optimiser's step on the `generator` parameterisation's variable (sampling with
 * `space: 'latent'`: plain SGD, learning rate ε2). This hook adds the other two after each step, on the
 * code h itself (CodeParameterization.code/setCode, not the image): R_h is a denoising autoencoder of
 * the bundled generator's codes of real shapes images (scripts/train-latent-dae.ts,
 * priors/latent-dae-shapes/), so R_h(h) − h ∝ ∂log p(h)/∂h (Alain & Bengio 2014).
 *
 * ε3 is in units of each code dimension's spread among real images (the generator's codes.json std), as
 * the generator's noise init is: the dimensions' spreads differ about 2×, and the DAE was trained with
 * noise of 0.3 std. The noise comes from each item's own stream (random.ts drawPerItem), so a grouped
 * run's item draws what it would alone.
 *
 * The generator parameterisation keeps its code in the real codes' 1st–99th percentile box through
 * code = mid + half·tanh(v); the hook's new code is written back as v = atanh((h − mid)/half), clamped
 * just inside the box. Note that ε2 then scales the gradient in v, ∂/∂h · half·(1 − tanh²v), not in h.
 */
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { bundledLayersModel, loadBundledLayersModel } from '../models/bundledLayersModel.ts';
import { isCodeParameterization } from '../parameterizations/generator.ts';
import { drawPerItem } from '../random.ts';
import { InvalidSpecError } from '../types.ts';
import { denoisingStepOptions, priorRandoms } from './dae.ts';
import type { PriorFactory } from './prior.ts';

/** The bundled latent DAE's folder (repository root priors/latent-dae-shapes/), for the 'shapes' generator. */
export const LATENT_DAE_DIR = fileURLToPath(new URL('../../../../priors/latent-dae-shapes/', import.meta.url));

export interface LatentDaeOptions {
  /** ε1: the step along R_h(h) − h. */
  epsilon1?: number;
  /** ε3: standard deviation of the Gaussian noise added to every code value, in units of the real codes' per-dimension std. */
  epsilon3?: number;
  everySteps?: number;
}

/** Loads the latent DAE once per process; later calls return the same model. */
export function loadLatentDae(): Promise<tfl.LayersModel> {
  return loadBundledLayersModel(LATENT_DAE_DIR);
}

/** R_h(h): the latent DAE's reconstruction of codes [batch, codeDim] (a new tensor; the DAE must be loaded). */
export function reconstructCode(codes: tf.Tensor2D): tf.Tensor2D {
  return bundledLayersModel(LATENT_DAE_DIR, 'await loadLatentDae()').predict(codes) as tf.Tensor2D;
}

export const latentDae: PriorFactory<LatentDaeOptions> = (options, context) => {
  const { epsilon1, epsilon3, everySteps } = denoisingStepOptions(options, context, 'latentDae');
  return {
    acts: 'code',
    ready: async () => { await loadLatentDae(); },
    hook: ({ step, parameterization }) => {
      if (step % everySteps !== 0) return;
      if (!isCodeParameterization(parameterization)) {
        throw new InvalidSpecError('the latentDae prior edits the generator\'s code between steps and needs the generator parameterisation', context?.field ?? 'priors');
      }
      const { std } = parameterization.statistics;
      tf.tidy(() => {
        const code = parameterization.code();
        let next = tf.add(code, tf.mul(tf.sub(reconstructCode(code), code), epsilon1));
        if (epsilon3 > 0) {
          // One draw per item from its own stream (or one for the batch), whatever happens in the DAE.
          const noise = drawPerItem(priorRandoms(context), code.shape, (shape, seed) => tf.randomNormal(shape, 0, epsilon3, 'float32', seed));
          next = tf.add(next, tf.mul(noise, tf.tensor2d(std, [1, std.length])));
        }
        parameterization.setCode(next as tf.Tensor2D);
      });
    },
  };
};

/**
 * Refuses sampling requests whose space and parameterisation disagree, naming the request's field:
 * latent sampling moves a generator's code, and image sampling's dae prior writes pixels back, which a
 * generator cannot take.
 */
export function checkSamplingSpace(settings: { sampling?: { space?: string }; parameterization: { type: string } }): void {
  const space = settings.sampling?.space;
  if (space === 'latent' && settings.parameterization.type !== 'generator') {
    throw new InvalidSpecError(`sampling in the latent space moves a generator's code and needs the generator parameterisation, not "${settings.parameterization.type}"`, 'parameterization.type');
  }
  if (space === 'image' && settings.parameterization.type === 'generator') {
    throw new InvalidSpecError('sampling in image space edits pixels, which the generator parameterisation cannot take back; use sampling.space \'latent\' to sample its code', 'sampling.space');
  }
}
