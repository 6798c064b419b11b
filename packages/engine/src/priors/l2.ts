/**
 * `l2`: the mean square of the centred pixels, (x − ½)² (Simonyan, Vedaldi & Zisserman 2014, the
 * "L2-regularised class model"). A Gaussian prior on the image: it keeps pixels that do not help the
 * objective at grey instead of letting them drift to extreme values. Means, not sums, so the weight
 * does not depend on the image size.
 */
import * as tf from '@tensorflow/tfjs-core';
import { meanPerItem, NEUTRAL_PIXEL, type PriorFactory } from './prior.ts';

export const l2: PriorFactory<Record<string, unknown>> = () => ({
  penalty: (images) => tf.tidy(() => meanPerItem(tf.square(tf.sub(images, NEUTRAL_PIXEL)))),
});
