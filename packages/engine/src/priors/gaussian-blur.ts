/**
 * A separable Gaussian blur of NHWC images: two depthwise convolutions (a column and a row of the
 * kernel) after reflect padding, so edges are not darkened toward zero. Used between steps, where no
 * gradient is needed.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The normalised 1-D kernel over ±⌈3σ⌉ pixels (capped so the reflect padding fits the image). */
export function gaussianKernel(sigmaPx: number, maxRadiusPx: number): Float32Array {
  const radius = Math.max(1, Math.min(Math.ceil(3 * sigmaPx), maxRadiusPx));
  const kernel = new Float32Array(2 * radius + 1);
  for (let i = -radius; i <= radius; i++) kernel[i + radius] = Math.exp(-(i * i) / (2 * sigmaPx * sigmaPx));
  const sum = kernel.reduce((a, b) => a + b, 0);
  return kernel.map((v) => v / sum);
}

export function gaussianBlur(images: tf.Tensor4D, sigmaPx: number): tf.Tensor4D {
  const [, height, width, channels] = images.shape;
  if (height < 2 || width < 2) return tf.clone(images);
  const kernel = gaussianKernel(sigmaPx, Math.min(height, width) - 1);
  const radius = (kernel.length - 1) / 2;
  return tf.tidy(() => {
    const padded = tf.mirrorPad(images, [[0, 0], [radius, radius], [radius, radius], [0, 0]], 'reflect');
    const perChannel = (shape: [number, number]) => tf.tile(tf.tensor4d(kernel, [...shape, 1, 1]), [1, 1, channels, 1]) as tf.Tensor4D;
    const vertical = tf.depthwiseConv2d(padded, perChannel([kernel.length, 1]), 1, 'valid');
    return tf.depthwiseConv2d(vertical, perChannel([1, kernel.length]), 1, 'valid');
  });
}
