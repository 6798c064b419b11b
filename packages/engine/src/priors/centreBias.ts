/**
 * `centreBias`: the mean of (x − ½)² weighted by the squared distance from the image centre
 * (normalised to 1 at the middle of each edge, 2 in the corners). Images pay for colour far from the
 * centre and none at the centre, so the optimiser draws the feature once, in the middle, instead of
 * tiling copies over the whole canvas.
 *
 * Nguyen, Yosinski & Clune 2016 ("Multifaceted Feature Visualization") get the same effect with
 * center-biased regularisation (optimising a growing centre crop and blurring the outer parts more);
 * we chose a penalty on the image because a Penalty sees only the image — not the activations — and
 * because it composes with every parameterisation and transform.
 */
import * as tf from '@tensorflow/tfjs-core';
import { meanPerItem, NEUTRAL_PIXEL, type PriorFactory } from './prior.ts';

export const centreBias: PriorFactory<Record<string, unknown>> = () => ({
  penalty: (images) => tf.tidy(() => {
    const weights = squaredDistanceFromCentre(images.shape[1], images.shape[2]);
    return meanPerItem(tf.mul(tf.square(tf.sub(images, NEUTRAL_PIXEL)), weights));
  }),
});

/** [1, H, W, 1]: ((row − centre)/(H/2))² + ((column − centre)/(W/2))², pixel centres. */
export function squaredDistanceFromCentre(height: number, width: number): tf.Tensor4D {
  const values = new Float32Array(height * width);
  for (let row = 0; row < height; row++) {
    for (let column = 0; column < width; column++) {
      const dy = (row + 0.5 - height / 2) / (height / 2);
      const dx = (column + 0.5 - width / 2) / (width / 2);
      values[row * width + column] = dx * dx + dy * dy;
    }
  }
  return tf.tensor4d(values, [1, height, width, 1]);
}
