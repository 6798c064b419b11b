/**
 * `totalVariation`: Mahendran & Vedaldi 2015 ("Understanding Deep Image Representations by Inverting
 * Them"), R(x) = Σ_{i,j,c} ((x[i,j+1,c] − x[i,j,c])² + (x[i+1,j,c] − x[i,j,c])²)^(β/2), here a mean over
 * positions and channels so the weight does not depend on the image size. β = 2 is a smooth
 * (Gaussian) prior; β → 1 allows sharp edges while still removing noise ("spikes"), as the paper shows.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidSpecError } from '../types.ts';
import { meanPerItem, optionField, type PriorFactory } from './prior.ts';

export interface TotalVariationOptions {
  beta?: number;
}

/** For β < 2 the gradient of a^(β/2) is infinite at a = 0 (a flat patch); this keeps it finite. */
const EPSILON = 1e-8;

export const totalVariation: PriorFactory<TotalVariationOptions> = (options, context) => {
  const beta = options.beta ?? 2;
  if (!(beta > 0)) throw new InvalidSpecError('beta must be positive', optionField(context, 'beta'));
  return { penalty: (images) => totalVariationPenalty(images, beta) };
};

/** The per-item mean of the squared-gradient norm to the power β/2. */
export function totalVariationPenalty(images: tf.Tensor4D, beta = 2): tf.Tensor1D {
  return tf.tidy(() => {
    const [, height, width] = images.shape;
    const origin = tf.slice(images, [0, 0, 0, 0], [-1, height - 1, width - 1, -1]);
    const right = tf.slice(images, [0, 0, 1, 0], [-1, height - 1, width - 1, -1]);
    const below = tf.slice(images, [0, 1, 0, 0], [-1, height - 1, width - 1, -1]);
    const squaredNorm = tf.add(tf.square(tf.sub(right, origin)), tf.square(tf.sub(below, origin))) as tf.Tensor4D;
    return meanPerItem(beta === 2 ? squaredNorm : tf.pow(tf.add(squaredNorm, EPSILON), beta / 2) as tf.Tensor4D);
  });
}
