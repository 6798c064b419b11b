/**
 * `fourier`: the image's 2-D Fourier coefficients are the variables, each scaled by 1/|f|^decayPower
 * (Olah, Mordvintsev & Schubert 2017, "Feature Visualization"; Lucid's `fft_image`). Natural images'
 * spectra fall off roughly as 1/f, so this whitens the gradient: every frequency band gets a comparable
 * step, instead of the high frequencies that pixel-space gradients favour, and the results lose the
 * high-frequency patterns of naive AM. Lucid pairs it with `decorrelate: true, range: 'sigmoid'`
 * (`image(fft=True, decorrelate=True)`, the 'lucid' preset).
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidSpecError } from '../types.ts';
import { RealFourierBasis } from './fourier-basis.ts';
import { assembleParameterization, noiseVariable, type ParameterizationFactory } from './image-parameterization.ts';
import { noiseStd } from './initialization.ts';
import { ValidRgb, type ColorOptions } from './valid-rgb.ts';

export interface FourierOptions extends ColorOptions {
  /** Exponent of the 1/f scaling; 0 leaves the coefficients unscaled. Lucid's default is 1. */
  decayPower?: number;
}
/**
 * Lucid divides the image by 4, an empirical constant that keeps the first images low in contrast
 * (inside the sigmoid's linear part) for the default noise and learning rate.
 */
const OUTPUT_DIVISOR = 4;

export const fourier: ParameterizationFactory<FourierOptions> = (options, context) => {
  const { batch, sizePx } = context;
  const decayPower = options.decayPower ?? 1;
  if (!(decayPower >= 0)) throw new InvalidSpecError('decayPower must be ≥ 0', 'parameterization.decayPower');
  const validRgb = new ValidRgb(options);
  const basis = new RealFourierBasis(sizePx, sizePx);
  const columns = basis.frequencyColumns;
  // Lucid: scale = √(HW) / max(|f|, 1/max(H,W))^decayPower; the floor keeps the DC term finite and the
  // √(HW) makes the unnormalised inverse transform orthonormal.
  const magnitudes = basis.frequencyMagnitudes();
  const scaleValues = new Float32Array(sizePx * 2 * columns);
  for (let k = 0; k < sizePx; k++) {
    for (let l = 0; l < columns; l++) {
      const value = Math.sqrt(sizePx * sizePx) / Math.max(magnitudes[k * columns + l], 1 / sizePx) ** decayPower;
      scaleValues[k * 2 * columns + l] = value; // real part
      scaleValues[k * 2 * columns + columns + l] = value; // imaginary part
    }
  }
  const scale = tf.tensor2d(scaleValues, [sizePx, 2 * columns]);
  const spectrumShape = [batch, 3, sizePx, 2 * columns];
  const spectrum = noiseVariable(spectrumShape, noiseStd(context.init), context);

  const toRaw = (): tf.Tensor4D => tf.tidy(() => {
    const scaled = tf.reshape(tf.mul(spectrum, scale), [batch * 3, sizePx, 2 * columns]) as tf.Tensor3D;
    const channelsFirst = tf.reshape(basis.inverse(scaled), [batch, 3, sizePx, sizePx]);
    return tf.div(tf.transpose(channelsFirst, [0, 2, 3, 1]), OUTPUT_DIVISOR) as tf.Tensor4D;
  });
  const fromRaw = (raw: tf.Tensor4D): tf.Tensor[] => [tf.tidy(() => {
    const channelsFirst = tf.reshape(tf.transpose(tf.mul(raw, OUTPUT_DIVISOR), [0, 3, 1, 2]), [batch * 3, sizePx, sizePx]) as tf.Tensor3D;
    return tf.div(tf.reshape(basis.forward(channelsFirst), spectrumShape), scale);
  })];

  return assembleParameterization(
    { variables: [spectrum], toRaw, fromRaw, dispose: () => { scale.dispose(); basis.dispose(); } },
    validRgb,
    context,
  );
};
