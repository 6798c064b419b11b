/**
 * `cppn`: the image is the output of a small compositional pattern-producing network (Stanley 2007)
 * evaluated at every pixel's coordinates (x, y, r); the network's weights are the variables
 * (Mordvintsev, Pezzotti, Schubert & Olah 2018, "Differentiable Image Parameterizations", Distill;
 * Lucid's `cppn`). The images are smooth and resolution-free, and often more striking than pixel-based
 * ones. Each batch item has its own network. 1×1 convolutions are written as batched matrix products.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidSpecError } from '../types.ts';
import { drawPerItem } from '../random.ts';
import { assembleParameterization, variableOf, type ParameterizationFactory } from './image-parameterization.ts';
import { initialImages, type Initialization, type InitializationContext } from './initialization.ts';
import { ValidRgb } from './valid-rgb.ts';

/**
 * Init: 'noise' is the network's own initialisation (its `std` is not used: the weights follow Lucid's
 * variance scaling); 'constant' and 'mean' start from that uniform colour; 'image' is refused, as a
 * CPPN has no inverse. The output is always a sigmoid, as in Lucid.
 */
export interface CppnOptions {
  /** Hidden layers (Lucid: 8). */
  hiddenLayers?: number;
  /** Units per hidden layer before the composite activation doubles them (Lucid: 24). */
  hiddenChannels?: number;
}

/**
 * Lucid's composite activation: atan and its square, each divided by its RMS over N(0,1) inputs
 * (0.67 and 0.6) so that activations keep unit scale through the layers.
 */
function compositeActivation(x: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    const a = tf.atan(x);
    return tf.concat([tf.div(a, 0.67), tf.div(tf.square(a), 0.6)], 2) as tf.Tensor3D;
  });
}

/** Coordinates per pixel, [1, H·W, 3]: x and y uniform in [−√3, √3] (unit variance, as Lucid), and r = √(x²+y²)/√2 (unit RMS). */
function coordinateGrid(sizePx: number): tf.Tensor3D {
  const values = new Float32Array(sizePx * sizePx * 3);
  const extent = Math.sqrt(3);
  const coordinate = (i: number) => (sizePx === 1 ? 0 : -extent + (2 * extent * i) / (sizePx - 1));
  for (let row = 0; row < sizePx; row++) {
    for (let column = 0; column < sizePx; column++) {
      const x = coordinate(column);
      const y = coordinate(row);
      const offset = (row * sizePx + column) * 3;
      values[offset] = x;
      values[offset + 1] = y;
      values[offset + 2] = Math.hypot(x, y) / Math.SQRT2;
    }
  }
  return tf.tensor3d(values, [1, sizePx * sizePx, 3]);
}

export const cppn: ParameterizationFactory<CppnOptions> = (options, context) => {
  const { batch, sizePx } = context;
  const layers = options.hiddenLayers ?? 8;
  const hiddenChannels = options.hiddenChannels ?? 24;
  if (!Number.isInteger(layers) || layers < 1 || layers > 32) throw new InvalidSpecError('hiddenLayers must be an integer from 1 to 32', 'parameterization.hiddenLayers');
  if (!Number.isInteger(hiddenChannels) || hiddenChannels < 1 || hiddenChannels > 256) {
    throw new InvalidSpecError('hiddenChannels must be an integer from 1 to 256', 'parameterization.hiddenChannels');
  }
  const init = context.init ?? { type: 'noise' };
  if (init.type === 'image') throw new InvalidSpecError('a CPPN has no inverse: init image is not supported; use noise, constant or mean', 'init.type');
  const validRgb = new ValidRgb({ range: 'sigmoid' });
  const initialBias = uniformBias(init, validRgb, context);

  const variables: tf.Variable[] = [];
  let inputChannels = 3;
  for (let layer = 0; layer < layers; layer++) {
    // Variance scaling (fan-in, truncated normal), as Lucid's slim.conv2d initialiser.
    const std = Math.sqrt(1 / inputChannels);
    variables.push(variableOf(drawPerItem(context, [batch, inputChannels, hiddenChannels], (shape, seed) => tf.truncatedNormal(shape, 0, std, 'float32', seed))));
    variables.push(variableOf(tf.zeros([batch, 1, hiddenChannels])));
    inputChannels = 2 * hiddenChannels;
  }
  // Lucid starts the output layer at zero: the first image is uniform, and the pattern grows from the
  // hidden layers' features as the output weights move away from zero.
  const outputWeights = variableOf(tf.zeros([batch, inputChannels, 3]));
  const outputBias = variableOf(initialBias);
  variables.push(outputWeights, outputBias);
  const coordinates = coordinateGrid(sizePx);

  return assembleParameterization(
    {
      variables,
      toRaw: () => tf.tidy(() => {
        let net = tf.tile(coordinates, [batch, 1, 1]) as tf.Tensor3D;
        for (let layer = 0; layer < layers; layer++) {
          net = compositeActivation(tf.add(tf.matMul(net, variables[2 * layer] as tf.Tensor3D), variables[2 * layer + 1]) as tf.Tensor3D);
        }
        const raw = tf.add(tf.matMul(net, outputWeights as tf.Tensor3D), outputBias);
        return tf.reshape(raw, [batch, sizePx, sizePx, 3]) as tf.Tensor4D;
      }),
      dispose: () => coordinates.dispose(),
    },
    validRgb,
    { ...context, init: undefined },
  );
};

/** The output bias that makes the zero-weight network render the init's uniform colour (mid-grey for noise). */
function uniformBias(init: Initialization, validRgb: ValidRgb, context: InitializationContext): tf.Tensor {
  return tf.tidy(() => {
    const colour = initialImages(init, { ...context, batch: 1, sizePx: 1 }) ?? tf.fill([1, 1, 1, 3], 0.5);
    return tf.tile(tf.reshape(validRgb.fromRgb(colour as tf.Tensor4D), [1, 1, 3]), [context.batch, 1, 1]);
  });
}
