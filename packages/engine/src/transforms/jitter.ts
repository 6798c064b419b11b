/**
 * `jitter`: a random crop that drops up to `px` pixels from the image's edges, so the content moves by
 * up to `px` pixels (Lucid's `transform.jitter`, which crops to size − px at a random offset). The
 * crop's gradient is a zero-padding, so the whole image keeps learning over the steps. With per-item
 * streams each item is cropped at its own offset (the crops have one size, so they batch again).
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidSpecError } from '../types.ts';
import { randomInt, type TransformFactory } from './transform.ts';

export interface JitterOptions { px?: number }

export const jitter: TransformFactory<JitterOptions> = (options, context) => {
  const px = options.px ?? 2;
  if (!Number.isInteger(px) || px < 1) throw new InvalidSpecError('px must be a positive integer', `${context?.field ?? 'transforms'}.px`);
  return (images, random, itemRandoms) => {
    const [, height, width] = images.shape;
    // Draw both offsets every step even when the image is too small to move, so the random stream
    // (and hence every later draw) does not depend on the image size.
    const offsets = (itemRandoms ?? [random]).map((stream) => [randomInt(stream, px), randomInt(stream, px)]);
    const shrink = Math.min(px, height - 1, width - 1);
    if (shrink < 1) return images;
    const crop = (x: tf.Tensor4D, [dy, dx]: number[]) => tf.slice(x, [0, Math.min(dy, shrink), Math.min(dx, shrink), 0], [-1, height - shrink, width - shrink, -1]);
    if (offsets.length === 1) return crop(images, offsets[0]);
    return tf.concat(offsets.map((offset, item) => crop(tf.slice(images, [item, 0, 0, 0], [1, -1, -1, -1]), offset)), 0);
  };
};
