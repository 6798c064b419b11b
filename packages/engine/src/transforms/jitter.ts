/**
 * `jitter`: a random crop that drops up to `px` pixels from the image's edges, so the content moves by
 * up to `px` pixels (Lucid's `transform.jitter`, which crops to size − px at a random offset). The
 * crop's gradient is a zero-padding, so the whole image keeps learning over the steps.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidSpecError } from '../types.ts';
import { randomInt, type TransformFactory } from './transform.ts';

export interface JitterOptions { px?: number }

export const jitter: TransformFactory<JitterOptions> = (options, context) => {
  const px = options.px ?? 2;
  if (!Number.isInteger(px) || px < 1) throw new InvalidSpecError('px must be a positive integer', `${context?.field ?? 'transforms'}.px`);
  return (images, random) => {
    const [, height, width] = images.shape;
    // Draw both offsets every step even when the image is too small to move, so the random stream
    // (and hence every later draw) does not depend on the image size.
    const dy = randomInt(random, px), dx = randomInt(random, px);
    const shrink = Math.min(px, height - 1, width - 1);
    if (shrink < 1) return images;
    return tf.slice(images, [0, Math.min(dy, shrink), Math.min(dx, shrink), 0], [-1, height - shrink, width - shrink, -1]);
  };
};
