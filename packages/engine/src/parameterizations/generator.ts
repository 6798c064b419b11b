/**
 * `generator`: the image is the output of a generator network trained on real images, and the variable
 * is its input code — DGN-AM, "Synthesizing the preferred inputs for neurons in neural networks via deep
 * generator networks" (Nguyen, Dosovitskiy, Yosinski, Brox & Clune 2016). Optimising the code instead of
 * the pixels confines the result to what the generator can draw, a learned prior on images.
 *
 * The bundled generator ('shapes', priors/generator-shapes/, scripts/train-generator.ts) is the decoder
 * of a convolutional autoencoder of the procedural shapes set at 32 px; its codes are 64 values. Its
 * image is resized bilinearly to the run's size when that differs.
 *
 * The code is kept inside the box the codes of real images span (per dimension, their 1st to 99th
 * percentile, codes.json): DGN-AM likewise bounds its code by the range real images' codes take, because
 * a generator is only trained — and only draws realistic images — there. The bound is built into the
 * map rather than enforced by clipping after each step:
 *
 *   code = mid + half · tanh(v),   mid/half the box's centre and half-width, v the variable
 *
 * Clipping would need a step hook on the variables (the loop runs hooks only for priors) and leaves a
 * clipped dimension's Adam moments pushing against the wall; tanh keeps every code inside the box by
 * construction and gives the optimiser a smooth, unconstrained variable.
 *
 * Start: `noise` draws the code as the real codes' mean plus std × (their per-dimension std) × N(0,1)
 * from the run's Random, so `std` is in units of the real codes' spread; any image init (constant,
 * mean, image) is encoded by the autoencoder's encoder, so the first render is the generator's
 * version of that image (G(E(image))), not the image itself. There is no exact inverse (`setImages`),
 * so priors that edit the image between steps and facets are refused by the loop, as for cppn and maco.
 *
 * The generator (and, for an image init, the encoder) load once per process in `ready`, which the loop
 * awaits before the first step.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { bundledLayersModel, loadBundledLayersModel } from '../models/bundledLayersModel.ts';
import { InvalidSpecError } from '../types.ts';
import { drawPerItem } from '../random.ts';
import { variableOf, type ImageParameterization, type ParameterizationFactory } from './image-parameterization.ts';
import { initialImages, noiseStd } from './initialization.ts';

export type GeneratorName = 'shapes';

export interface GeneratorOptions {
  /** Which bundled generator: 'shapes' (default), trained on the procedural shapes set. */
  generator?: GeneratorName;
}

/** The bundled generators' folders (repository root priors/generator-<name>/); the encoder is in encoder/. */
export const GENERATOR_DIRS: Record<GeneratorName, string> = {
  shapes: fileURLToPath(new URL('../../../../priors/generator-shapes/', import.meta.url)),
};

/** Per-dimension statistics of the codes of real images (codes.json, written by the training script). */
export interface CodeStatistics {
  codeDim: number;
  /** The generator's image size. */
  sizePx: number;
  mean: number[];
  std: number[];
  min: number[];
  max: number[];
  /** 1st and 99th percentiles: the box the code is kept in. */
  p01: number[];
  p99: number[];
}

const statisticsCache = new Map<GeneratorName, CodeStatistics>();

/** The generator's code statistics (read once per process; small JSON, read synchronously so the factory can size its variable). */
export function codeStatistics(name: GeneratorName = 'shapes'): CodeStatistics {
  let statistics = statisticsCache.get(name);
  if (!statistics) {
    statistics = JSON.parse(readFileSync(path.join(GENERATOR_DIRS[name], 'codes.json'), 'utf8')) as CodeStatistics;
    statisticsCache.set(name, statistics);
  }
  return statistics;
}

/** Loads a bundled generator G (code → RGB in [0,1]) once per process; later calls return the same model. */
export function loadGenerator(name: GeneratorName = 'shapes'): Promise<tfl.LayersModel> {
  return loadBundledLayersModel(GENERATOR_DIRS[name]);
}

/** Loads the encoder E (RGB in [0,1] at the generator's size → code) of a bundled generator once per process. */
export function loadEncoder(name: GeneratorName = 'shapes'): Promise<tfl.LayersModel> {
  return loadBundledLayersModel(path.join(GENERATOR_DIRS[name], 'encoder'));
}

function loadedModel(directory: string): tfl.LayersModel {
  return bundledLayersModel(directory, "await the parameterisation's ready()");
}

/**
 * A parameterisation whose image is drawn from a code (the generator's): it shows its code and takes a
 * new one, so a step hook can act in the latent space (the `latentDae` prior, PPGN sampling in code
 * space) as image priors act on pixels through `setImages`.
 */
export interface CodeParameterization extends ImageParameterization {
  /** The code the variable stands for, [batch, codeDim], inside the real codes' box (a new tensor). */
  code(): tf.Tensor2D;
  /** Sets the variable so that `code()` gives `code`, each value first clamped just inside the box. */
  setCode(code: tf.Tensor2D): void;
  /** The statistics of real images' codes in this code space (their per-dimension std sets noise units). */
  readonly statistics: CodeStatistics;
}

/** A generator parameterisation: also shows and takes its current code. */
export type GeneratorParameterization = CodeParameterization;

/** Whether a parameterisation exposes a code a latent step hook can edit. */
export function isCodeParameterization(parameterization: object): parameterization is CodeParameterization {
  return typeof (parameterization as Partial<CodeParameterization>).setCode === 'function';
}

export const generator: ParameterizationFactory<GeneratorOptions> = (options, context): GeneratorParameterization => {
  const { batch, sizePx } = context;
  const name = options.generator ?? 'shapes';
  if (!Object.hasOwn(GENERATOR_DIRS, name)) throw new InvalidSpecError(`unknown generator "${String(name)}"; bundled: ${Object.keys(GENERATOR_DIRS).join(', ')}`, 'parameterization.generator');
  const statistics = codeStatistics(name);
  const { codeDim } = statistics;
  const generatorDir = GENERATOR_DIRS[name];
  // Checked (and, for an image, decoded) now, so a bad init fails before any work; encoded in ready().
  let startImages = initialImages(context.init, context);

  const [mid, half] = tf.tidy(() => {
    const low = tf.tensor1d(statistics.p01);
    const high = tf.tensor1d(statistics.p99);
    return [tf.div(tf.add(low, high), 2), tf.div(tf.sub(high, low), 2)];
  });
  /** The variable v whose tanh map gives `code`, codes first clamped just inside the box. */
  const unconstrained = (code: tf.Tensor2D): tf.Tensor2D => tf.tidy(() => tf.atanh(tf.clipByValue(tf.div(tf.sub(code, mid), half), -0.999, 0.999)) as tf.Tensor2D);
  const codeOf = (v: tf.Tensor): tf.Tensor2D => tf.add(mid, tf.mul(half, tf.tanh(v))) as tf.Tensor2D;

  const std = noiseStd(context.init);
  const initialCode = tf.tidy(() => {
    const mean = tf.tile(tf.tensor2d(statistics.mean, [1, codeDim]), [batch, 1]);
    const spread = tf.tensor2d(statistics.std, [1, codeDim]);
    const noise = std === 0 ? tf.zerosLike(mean) : tf.mul(drawPerItem(context, [batch, codeDim], (shape, seed) => tf.randomNormal(shape, 0, std, 'float32', seed)), spread);
    return unconstrained(tf.add(mean, noise) as tf.Tensor2D);
  });
  const variable = variableOf(initialCode);
  let disposed = false;

  return {
    variables: [variable],
    code: () => tf.tidy(() => codeOf(variable)),
    // PPGN's latent update acts on the code h; the variable is v = atanh((h − mid)/half), so a code the
    // hook moves past the box's wall comes back just inside it (the clamp in `unconstrained`).
    setCode: (code) => { tf.tidy(() => { variable.assign(unconstrained(code)); }); },
    statistics,
    ready: async () => {
      await loadGenerator(name);
      if (!startImages || disposed) return;
      const encoder = await loadEncoder(name);
      if (!startImages || disposed) return;
      const images = startImages;
      tf.tidy(() => {
        const atGeneratorSize = sizePx === statistics.sizePx ? images : tf.image.resizeBilinear(images, [statistics.sizePx, statistics.sizePx], false, true);
        variable.assign(unconstrained(encoder.predict(atGeneratorSize) as tf.Tensor2D));
      });
      images.dispose();
      startImages = null;
    },
    render: () => tf.tidy(() => {
      const image = loadedModel(generatorDir).apply(codeOf(variable)) as tf.Tensor4D;
      return image.shape[1] === sizePx && image.shape[2] === sizePx ? image : tf.image.resizeBilinear(image, [sizePx, sizePx], false, true);
    }),
    dispose: () => {
      if (disposed) return;
      disposed = true;
      variable.dispose();
      tf.dispose([mid, half]);
      startImages?.dispose();
    },
  };
};
