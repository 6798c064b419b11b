/**
 * Gradient normalisation: each batch item's image gradient divided by its root mean square, so that a
 * plain gradient step moves every image by about `learningRate` per pixel whatever the objective's
 * scale (a logit vs a channel mean), and items of a per-item batch move at the same pace. Adam does
 * much the same by itself; for SGD it is what makes one learning rate fit every unit.
 */
import * as tf from '@tensorflow/tfjs-core';

const EPSILON = 1e-8;

export function normalizeGradients(gradients: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const rms = tf.sqrt(tf.mean(tf.square(gradients), [1, 2, 3], true));
    return tf.div(gradients, tf.add(rms, EPSILON));
  });
}
