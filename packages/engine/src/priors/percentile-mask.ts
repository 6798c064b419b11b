/**
 * The mask behind Yosinski et al.'s clipping priors: per image, the ⌊p/100 · H·W⌋ pixels with the
 * smallest score get 0, the rest 1 (ties broken by position, so the fraction is exact).
 */
import * as tf from '@tensorflow/tfjs-core';

/** scores [B, H, W] → mask [B, H, W, 1]. */
export function keepAbovePercentile(scores: tf.Tensor3D, percentile: number): tf.Tensor4D {
  const [batch, height, width] = scores.shape;
  const pixels = height * width;
  const dropped = Math.floor((Math.min(Math.max(percentile, 0), 100) / 100) * pixels);
  const values = scores.dataSync();
  const mask = new Float32Array(batch * pixels).fill(1);
  for (let item = 0; item < batch; item++) {
    const offset = item * pixels;
    const order = Array.from({ length: pixels }, (_, i) => i).sort((a, b) => values[offset + a] - values[offset + b] || a - b);
    for (let i = 0; i < dropped; i++) mask[offset + order[i]] = 0;
  }
  return tf.tensor4d(mask, [batch, height, width, 1]);
}

/** Sets masked-out pixels to `neutral`, keeping the others. */
export function applyMask(images: tf.Tensor4D, mask: tf.Tensor4D, neutral: number): tf.Tensor4D {
  return tf.tidy(() => tf.add(tf.mul(tf.sub(images, neutral), mask), neutral) as tf.Tensor4D);
}
