/**
 * `l1`: the mean absolute value of the centred pixels, |x − ½|. A Laplacian prior: unlike L2 it pushes
 * small deviations all the way to grey, so the image becomes sparse — only the pixels that matter to the
 * unit keep colour.
 */
import * as tf from '@tensorflow/tfjs-core';
import { meanPerItem, NEUTRAL_PIXEL, type PriorFactory } from './prior.ts';

export const l1: PriorFactory<Record<string, unknown>> = () => ({
  penalty: (images) => tf.tidy(() => meanPerItem(tf.abs(tf.sub(images, NEUTRAL_PIXEL)))),
});
