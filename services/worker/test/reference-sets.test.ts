/**
 * The worker's resize of an uploaded reference image to the run's size: bilinear with half-pixel
 * centres, as TensorFlow.js's resizeBilinear (which a PNG inversion target goes through), so an image
 * reaches the engine the same whichever way it came in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { resizeBilinear } from '../src/reference-sets.ts';

for (const [width, height, sizePx] of [[5, 7, 16], [40, 24, 16], [16, 16, 16]] as const) {
  test(`${width}×${height} → ${sizePx}×${sizePx} matches tf.image.resizeBilinear (half-pixel centres) within rounding`, async () => {
    await tf.setBackend('cpu');
    const rgb = Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 37 + (i % 5) * 11) % 256);
    const ours = resizeBilinear({ width, height, rgb }, sizePx);
    const expected = tf.tidy(() => tf.image.resizeBilinear(tf.tensor4d(Float32Array.from(rgb), [1, height, width, 3]), [sizePx, sizePx], false, true).dataSync());
    assert.equal(ours.length, sizePx * sizePx * 3);
    const worst = ours.reduce((max, v, i) => Math.max(max, Math.abs(v - expected[i]!)), 0);
    assert.ok(worst <= 0.5 + 1e-3, `largest difference ${worst}`);
  });
}
