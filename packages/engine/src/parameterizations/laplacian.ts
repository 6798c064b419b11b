/**
 * `laplacian`: the image is a sum of bilinearly upsampled images at 1, 1/2, 1/4, … of the size (Lucid's
 * `laplacian_pyramid` param, after the Laplacian pyramid of Burt & Adelson 1983). The coarse levels
 * have few variables, so low frequencies get large, coherent gradient steps — the same aim as the 1/f
 * scaling of the Fourier parameterisation (Olah et al. 2017), in pixel space.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidSpecError } from '../types.ts';
import { assembleParameterization, noiseVariable, type ParameterizationFactory } from './image-parameterization.ts';
import { noiseStd } from './initialization.ts';
import { ValidRgb, type ColorOptions } from './valid-rgb.ts';

export interface LaplacianOptions extends ColorOptions {
  /** Pyramid levels, each half the size of the one before; Lucid's default is 4. */
  levels?: number;
}

export const laplacian: ParameterizationFactory<LaplacianOptions> = (options, context) => {
  const { batch, sizePx } = context;
  const levels = options.levels ?? 4;
  if (!Number.isInteger(levels) || levels < 1 || sizePx >> (levels - 1) < 1) {
    throw new InvalidSpecError(`levels must be an integer from 1 to ${Math.floor(Math.log2(sizePx)) + 1} for ${sizePx} px`, 'parameterization.levels');
  }
  const validRgb = new ValidRgb(options);
  const std = noiseStd(context.init);
  const pyramid = Array.from({ length: levels }, (_, level) => {
    const levelSizePx = Math.floor(sizePx / 2 ** level);
    return noiseVariable([batch, levelSizePx, levelSizePx, 3], std, context);
  });
  return assembleParameterization(
    {
      variables: pyramid,
      toRaw: () => tf.tidy(() => tf.addN(pyramid.map((level, i) =>
        // alignCorners, because tfjs's ResizeBilinearGrad ignores halfPixelCenters: the gradient would not
        // match the forward pass with it.
        i === 0 ? tf.clone(level) : tf.image.resizeBilinear(level as tf.Tensor4D, [sizePx, sizePx], true))) as tf.Tensor4D),
      // One exact right inverse: the whole image in the finest level, the coarser levels zero.
      fromRaw: (raw) => pyramid.map((level, i) => (i === 0 ? tf.clone(raw) : tf.zerosLike(level))),
    },
    validRgb,
    context,
  );
};
