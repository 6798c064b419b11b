/**
 * `highFrequencyEnergy`: the energy of the image's high-pass band, the mean square of
 * image − GaussianBlur(image, σ = 1 px), over pixels and channels. A σ = 1 blur keeps frequencies below
 * about a sixth of the sampling rate, so this measures the fine, pixel-scale pattern that image priors
 * (blur, TV, Fourier with 1/f scaling) exist to remove. Zero for a flat image.
 */
import * as tf from '@tensorflow/tfjs-core';
import { gaussianBlur } from '../priors/gaussian-blur.ts';
import { readValues, type Metric } from './metric.ts';

export const HIGH_PASS_SIGMA_PX = 1;

export function highFrequencyEnergyOf(images: tf.Tensor4D): tf.Tensor1D {
  return tf.tidy(() => tf.mean(tf.square(tf.sub(images, gaussianBlur(images, HIGH_PASS_SIGMA_PX))), [1, 2, 3]) as tf.Tensor1D);
}

export const highFrequencyEnergy: Metric = async ({ images }) => readValues(highFrequencyEnergyOf(images));
