/**
 * What every image parameterisation shares: the factory signature, and the assembly of
 * "variables → unconstrained NHWC values → valid RGB" with its inverse. Each unit (pixel, fourier,
 * laplacian, cppn) supplies only its spatial map.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidSpecError } from '../types.ts';
import { drawPerItem } from '../random.ts';
import type { Parameterization, Random } from '../units.ts';
import { initialImages, type Initialization, type InitializationContext } from './initialization.ts';
import type { ValidRgb } from './valid-rgb.ts';

export interface ParameterizationContext extends InitializationContext {
  random: Random;
  /** One stream per batch item when the items draw apart (random.ts itemRandomsOf): noise comes from them. */
  itemRandoms?: readonly Random[];
  /** Where the variables start; noise (std 0.01) when absent. */
  init?: Initialization;
}

/** A parameterisation that can also write images back into its variables (pixel, fourier, laplacian). */
export interface ImageParameterization extends Parameterization {
  /**
   * Sets the variables so that `render()` gives `images` (NHWC in [0,1]; exactly, up to float error and
   * the sigmoid range's logit clamp). Absent where the map has no inverse (cppn). Step hooks edit
   * images through it, so they work in pixel space whatever the parameterisation.
   */
  setImages?(images: tf.Tensor4D): void;
  /**
   * Asks the loop to accumulate |∂objective/∂image| over the steps and return it as an attribution map
   * beside each image (`VisualizationOutput.attributions`): MACO's transparency map (Fel et al. 2023).
   */
  readonly recordsAttributions?: boolean;
  /**
   * Work to finish before the first `render()`, awaited by the loop (the generator parameterisation
   * loads its network once per process and encodes an image init).
   */
  ready?(): Promise<void>;
  /**
   * The variables' gradient for a gradient `g` with respect to the rendered images — what
   * `tf.grads(render)(variables, g)` returns — where render's Jacobian is the identity (pixels clipped
   * with a straight-through gradient, no colour map): `[g]`, without rendering again. Absent elsewhere.
   */
  variableGradients?(g: tf.Tensor4D): tf.Tensor[];
}

export type ParameterizationFactory<Options> = (options: Options, context: ParameterizationContext) => ImageParameterization;

/** The unit-specific part: variables and a differentiable map to unconstrained NHWC values. */
export interface SpatialMap {
  variables: tf.Variable[];
  /** Variables → unconstrained values [batch, size, size, 3]. */
  toRaw(): tf.Tensor4D;
  /** Unconstrained values → one value per variable such that toRaw() returns them; omitted where no inverse exists. */
  fromRaw?(raw: tf.Tensor4D): tf.Tensor[];
  /** Frees what the map owns besides its variables (bases, coordinates). */
  dispose?(): void;
  /** toRaw() is the one variable's values as they are (pixel): its Jacobian is the identity. */
  identity?: boolean;
}

/** Assembles a unit's spatial map and the shared colour/range stage, and applies a non-noise init. */
export function assembleParameterization(spatial: SpatialMap, validRgb: ValidRgb, context: ParameterizationContext): ImageParameterization {
  const render = (): tf.Tensor4D => tf.tidy(() => validRgb.toRgb(spatial.toRaw()));
  const dispose = (): void => {
    for (const variable of spatial.variables) variable.dispose();
    spatial.dispose?.();
    validRgb.dispose();
  };
  const fromRaw = spatial.fromRaw;
  const setImages = fromRaw
    ? (images: tf.Tensor4D): void => {
      tf.tidy(() => {
        const values = fromRaw(validRgb.fromRgb(images));
        spatial.variables.forEach((variable, i) => variable.assign(values[i]));
      });
    }
    : undefined;
  try {
    const target = initialImages(context.init, context);
    if (target) {
      try {
        if (!setImages) throw new InvalidSpecError(`init '${context.init?.type}' needs an invertible parameterisation`, 'init.type');
        setImages(target);
      } finally {
        target.dispose();
      }
    }
  } catch (error) {
    dispose();
    throw error;
  }
  // Identity map and straight-through range: the images' gradient is the variable's, as it is (the
  // loop skips a second render and its backward pass: measured in bench/README.md, seventh session).
  const variableGradients = spatial.identity && spatial.variables.length === 1 && validRgb.passesGradientThrough
    ? (g: tf.Tensor4D): tf.Tensor[] => [g]
    : undefined;
  return {
    variables: spatial.variables, render, dispose,
    ...(setImages ? { setImages } : {}),
    ...(variableGradients ? { variableGradients } : {}),
  };
}

/** A trainable variable holding `initial`, which it takes over (tf.variable alone would leave it allocated). */
export function variableOf(initial: tf.Tensor): tf.Variable {
  const variable = tf.variable(initial, true, undefined, 'float32');
  initial.dispose();
  return variable;
}

/**
 * A variable of seeded N(0, std²) values (zeros when std is 0) of `shape` = [batch, ...]: each item's
 * from its own stream when the run has them (random.ts drawPerItem).
 */
export function noiseVariable(shape: number[], std: number, randoms: Pick<ParameterizationContext, 'random' | 'itemRandoms'>): tf.Variable {
  return variableOf(std === 0 ? tf.zeros(shape) : drawPerItem(randoms, shape, (drawShape, seed) => tf.randomNormal(drawShape, 0, std, 'float32', seed)));
}
