/**
 * `pixel`: one variable per pixel and channel, the parameterisation of classic activation maximisation
 * (Erhan et al. 2009; Simonyan, Vedaldi & Zisserman 2014; Yosinski et al. 2015). With
 * `decorrelate: true, range: 'sigmoid'` it is Lucid's `pixel_image`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { assembleParameterization, noiseVariable, type ParameterizationFactory } from './image-parameterization.ts';
import { noiseStd } from './initialization.ts';
import { ValidRgb, type ColorOptions } from './valid-rgb.ts';

export type PixelOptions = ColorOptions;

export const pixel: ParameterizationFactory<PixelOptions> = (options, context) => {
  const { batch, sizePx } = context;
  const validRgb = new ValidRgb(options);
  const values = noiseVariable([batch, sizePx, sizePx, 3], noiseStd(context.init), context);
  return assembleParameterization(
    {
      variables: [values],
      toRaw: () => tf.clone(values) as tf.Tensor4D,
      fromRaw: (raw) => [raw],
      identity: true,
    },
    validRgb,
    context,
  );
};
