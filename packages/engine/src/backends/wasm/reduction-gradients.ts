/**
 * The gradients of `Mean` and `Sum` as one broadcast (`Tile`, tile.ts on WASM) of the scaled dy,
 * instead of tfjs's `mul(reshape(dy), ones(x.shape))` (then `div` by the count, for `Mean`).
 *
 * Why: tfjs-backend-wasm's broadcasting `Multiply` costs 4–10 ns a value (a batch-64 shapes-dw-graph
 * step spent 1 ms in it, for the global average pool's gradient of 262 k values) and `Fill` and
 * `RealDiv` add two more passes. Every spatial mean of an objective (channel and per-item objectives:
 * objectives/per-item.ts) and every global pooling layer takes this gradient on every step.
 * Same values, bit for bit: dy / n (or dy) repeated, which is what dy · 1 / n was.
 */
import * as tf from '@tensorflow/tfjs-core';

/** dy (already scaled) reshaped to x's rank with the reduced `axes` of size 1, repeated to x's shape. */
function broadcastBack(dy: tf.Tensor, x: tf.Tensor, axes: number[]): tf.Tensor {
  const expandedShape = x.shape.map((size, i) => (axes.includes(i) ? 1 : size));
  return tf.broadcastTo(tf.reshape(dy, expandedShape), x.shape);
}

export const meanGradient: tf.GradConfig = {
  kernelName: tf.Mean,
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    const { axis } = attrs as unknown as tf.MeanAttrs;
    const axes = tf.util.parseAxisParam(axis, x.shape);
    const count = axes.reduce((product, i) => product * x.shape[i], 1);
    return { x: () => broadcastBack(tf.div(dy as tf.Tensor, count), x, axes) };
  },
};

export const sumGradient: tf.GradConfig = {
  kernelName: tf.Sum,
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    const { axis } = attrs as unknown as tf.SumAttrs;
    return { x: () => broadcastBack(dy as tf.Tensor, x, tf.util.parseAxisParam(axis, x.shape)) };
  },
};
