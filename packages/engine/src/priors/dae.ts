/**
 * `dae`: the image prior of Plug & Play Generative Networks sampling (Nguyen, Clune, Bengio, Dosovitskiy
 * & Yosinski 2017), in image space. PPGN's update is
 *
 *   x_{t+1} = x_t + ε1·∂log p(x)/∂x + ε2·∂log p(y|x)/∂x + N(0, ε3²)
 *
 * The class term is the optimiser's step (the `ppgn` preset: plain SGD, learning rate ε2, on the class
 * objective). This hook adds the other two after each step: a denoising autoencoder R trained on the
 * shapes set (scripts/train-dae.ts, priors/dae-shapes/) gives R(x) − x ∝ ∂log p(x)/∂x (Alain & Bengio
 * 2014), so x ← x + ε1·(R(x) − x) + N(0, ε3²), the noise drawn from the run's seeded Random.
 *
 * The DAE is loaded once per process (`ready`, awaited by the loop before the first step).
 */
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { bundledLayersModel, loadBundledLayersModel } from '../models/bundledLayersModel.ts';
import { drawPerItem, type RunRandoms } from '../random.ts';
import { InvalidSpecError } from '../types.ts';
import { editImages, optionField, type PriorContext, type PriorFactory } from './prior.ts';

/** The bundled DAE's folder (repository root priors/dae-shapes/). */
export const DAE_DIR = fileURLToPath(new URL('../../../../priors/dae-shapes/', import.meta.url));

export interface DaeOptions {
  /** ε1: the step along R(x) − x. */
  epsilon1?: number;
  /** ε3: standard deviation of the Gaussian noise added to every pixel. */
  epsilon3?: number;
  everySteps?: number;
}

/** Loads the DAE once per process; later calls return the same model. */
export function loadDae(): Promise<tfl.LayersModel> {
  return loadBundledLayersModel(DAE_DIR);
}

/** R(x): the DAE's reconstruction of images in [0,1] (a new tensor; the DAE must be loaded). */
export function reconstruct(images: tf.Tensor4D): tf.Tensor4D {
  return bundledLayersModel(DAE_DIR, 'await loadDae()').predict(images) as tf.Tensor4D;
}

/**
 * The options of a denoising-autoencoder step (this prior and `latentDae`): ε1 in [0, 1], ε3 ≥ 0 (noise
 * needs the run's Random), a whole number of steps between edits; errors name the request's field.
 */
export function denoisingStepOptions(options: DaeOptions, context: PriorContext | undefined, prior: string): Required<DaeOptions> {
  const epsilon1 = options.epsilon1 ?? 0.1;
  const epsilon3 = options.epsilon3 ?? 0;
  const everySteps = options.everySteps ?? 1;
  if (!(epsilon1 >= 0 && epsilon1 <= 1)) throw new InvalidSpecError('epsilon1 must be in [0, 1]', optionField(context, 'epsilon1'));
  if (!(epsilon3 >= 0)) throw new InvalidSpecError('epsilon3 must be non-negative', optionField(context, 'epsilon3'));
  if (!Number.isInteger(everySteps) || everySteps < 1) throw new InvalidSpecError('everySteps must be a positive integer', optionField(context, 'everySteps'));
  if (epsilon3 > 0 && !context?.random) throw new InvalidSpecError(`the ${prior} prior draws noise and needs the run's Random`, optionField(context, 'epsilon3'));
  return { epsilon1, epsilon3, everySteps };
}

/** The run's streams as a prior sees them, for `drawPerItem` (a prior with noise has checked `random`). */
export function priorRandoms(context: PriorContext | undefined): RunRandoms {
  return { random: context!.random!, ...(context?.itemRandoms ? { itemRandoms: context.itemRandoms } : {}) };
}

export const dae: PriorFactory<DaeOptions> = (options, context) => {
  const { epsilon1, epsilon3, everySteps } = denoisingStepOptions(options, context, 'dae');
  return {
    ready: async () => { await loadDae(); },
    hook: ({ step, parameterization, images }) => {
      if (step % everySteps !== 0) return;
      editImages(parameterization, images, (x) => {
        let next = tf.add(x, tf.mul(tf.sub(reconstruct(x), x), epsilon1));
        if (epsilon3 > 0) {
          // One draw for the batch, or one per item from its own stream (random.ts).
          next = tf.add(next, drawPerItem(priorRandoms(context), x.shape, (shape, seed) => tf.randomNormal(shape, 0, epsilon3, 'float32', seed)));
        }
        return next as tf.Tensor4D;
      }, 'dae', context);
    },
  };
};
