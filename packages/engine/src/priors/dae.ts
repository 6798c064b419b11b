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
import { modelFilesFromDirectory } from '../models/loadModelFromDirectory.ts';
import { readModelArtifacts } from '../models/modelArtifacts.ts';
import { InvalidSpecError } from '../types.ts';
import { editImages, optionField, type PriorFactory } from './prior.ts';

/** The bundled DAE's folder (repository root priors/dae-shapes/). */
export const DAE_DIR = fileURLToPath(new URL('../../../../priors/dae-shapes/', import.meta.url));

export interface DaeOptions {
  /** ε1: the step along R(x) − x. */
  epsilon1?: number;
  /** ε3: standard deviation of the Gaussian noise added to every pixel. */
  epsilon3?: number;
  everySteps?: number;
}

let loading: Promise<tfl.LayersModel> | null = null;
let loaded: tfl.LayersModel | null = null;

/** Loads the DAE once per process; later calls return the same model. */
export function loadDae(): Promise<tfl.LayersModel> {
  loading ??= (async () => {
    const { artifacts } = await readModelArtifacts(await modelFilesFromDirectory(DAE_DIR));
    loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
    return loaded;
  })().catch((error: unknown) => {
    loading = null;
    throw error;
  });
  return loading;
}

/** R(x): the DAE's reconstruction of images in [0,1] (a new tensor; the DAE must be loaded). */
export function reconstruct(images: tf.Tensor4D): tf.Tensor4D {
  if (!loaded) throw new Error('the DAE is not loaded yet (await loadDae())');
  return loaded.predict(images) as tf.Tensor4D;
}

export const dae: PriorFactory<DaeOptions> = (options, context) => {
  const epsilon1 = options.epsilon1 ?? 0.1;
  const epsilon3 = options.epsilon3 ?? 0;
  const everySteps = options.everySteps ?? 1;
  if (!(epsilon1 >= 0 && epsilon1 <= 1)) throw new InvalidSpecError('epsilon1 must be in [0, 1]', optionField(context, 'epsilon1'));
  if (!(epsilon3 >= 0)) throw new InvalidSpecError('epsilon3 must be non-negative', optionField(context, 'epsilon3'));
  if (!Number.isInteger(everySteps) || everySteps < 1) throw new InvalidSpecError('everySteps must be a positive integer', optionField(context, 'everySteps'));
  const random = context?.random;
  if (epsilon3 > 0 && !random) throw new InvalidSpecError('the dae prior draws noise and needs the run\'s Random', optionField(context, 'epsilon3'));
  return {
    ready: async () => { await loadDae(); },
    hook: ({ step, parameterization, images }) => {
      if (step % everySteps !== 0) return;
      // Drawn outside the edit so the Random advances the same way whatever happens inside: one seed
      // for the batch, or one per item from its own stream (random.ts).
      const itemRandoms = context?.itemRandoms;
      const seeds = epsilon3 === 0 ? [] : itemRandoms ? itemRandoms.map((itemRandom) => itemRandom.nextSeed()) : [random!.nextSeed()];
      editImages(parameterization, images, (x) => {
        let next = tf.add(x, tf.mul(tf.sub(reconstruct(x), x), epsilon1));
        if (epsilon3 > 0) {
          const [, height, width, channels] = x.shape;
          const noise = itemRandoms
            ? tf.concat(seeds.map((seed) => tf.randomNormal([1, height, width, channels], 0, epsilon3, 'float32', seed)), 0)
            : tf.randomNormal(x.shape, 0, epsilon3, 'float32', seeds[0]);
          next = tf.add(next, noise);
        }
        return next as tf.Tensor4D;
      }, 'dae', context);
    },
  };
};
