/** Held-out accuracy of anything that maps a batch of images to class scores. */
import * as tf from '@tensorflow/tfjs-core';
import type { ShapesBatch } from '@featurevis/engine/datasets';

/** Images in, class scores (or probabilities) out, [n, classes]. */
export type Classify = (images: tf.Tensor4D) => tf.Tensor;

/** Fraction of `batch` whose argmax class is its label, evaluated `chunk` images at a time. */
export function accuracy(classify: Classify, batch: ShapesBatch, chunk = 128): number {
  const pixels = batch.sizePx * batch.sizePx * 3;
  let correct = 0;
  for (let start = 0; start < batch.count; start += chunk) {
    const count = Math.min(chunk, batch.count - start);
    const predicted = tf.tidy(() => {
      const images = tf.tensor4d(batch.images.subarray(start * pixels, (start + count) * pixels), [count, batch.sizePx, batch.sizePx, 3]);
      return tf.argMax(classify(images), -1).dataSync();
    });
    for (let k = 0; k < count; k++) if (predicted[k] === batch.labels[start + k]) correct++;
  }
  return correct / batch.count;
}
