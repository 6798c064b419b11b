/**
 * Lucid's redirected ReLU gradient (lucid/misc/redirected_relu_grad.py), used for the first steps of a
 * run (`reluGradientOverrideSteps`).
 *
 * Why: a unit behind a ReLU whose input is negative everywhere for an image gets no gradient at all,
 * so optimisation never starts and the result is the initial grey. Lucid's fix: where the ordinary
 * ReLU gradient is zero for a whole batch item, pass the incoming gradient through the ReLU anyway —
 * except where it would push an already-negative input further down. Once the unit is alive the
 * ordinary gradient is non-zero and is used unchanged. ReLU6 gets the same treatment at both ends.
 *
 * How: tfjs looks a kernel's gradient up in its gradient registry when the forward op is recorded on
 * the tape (tfjs-core engine.ts), so `withRedirectedReluGradients(f)` registers the redirected
 * gradients for 'Relu' and 'Relu6', runs `f`, and puts the originals back. Models need no change, and
 * fused conv/dense + relu ops are covered too: while a gradient is being recorded tfjs unfuses any
 * non-linear activation into a separate Relu kernel (`shouldFuse`, tfjs-core ops/fused_util.ts).
 *
 * Sign convention: `dy` is the gradient of the loss the optimiser minimises (minus the objective), as
 * in TensorFlow, so "pushing lower" is dy > 0 — the same test as Lucid's.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Ordinary gradient where any of it gets through for a batch item, else the redirected one. */
function chooseWhereBlocked(ordinary: tf.Tensor, redirected: tf.Tensor): tf.Tensor {
  const batch = ordinary.shape[0] ?? 1;
  const perItem = tf.reshape(ordinary, [batch, -1]);
  const anythingThrough = tf.greater(tf.sum(tf.abs(perItem), 1), 0);
  const mask = tf.reshape(anythingThrough, [batch, ...ordinary.shape.slice(1).map(() => 1)]);
  return tf.where(tf.broadcastTo(mask, ordinary.shape), ordinary, redirected);
}

const redirectedRelu: tf.GradConfig = {
  kernelName: tf.Relu,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved;
    return {
      x: () => tf.tidy(() => {
        const grad = dy as tf.Tensor;
        const negative = tf.less(x, 0);
        const zeros = tf.zerosLike(grad);
        const ordinary = tf.where(negative, zeros, grad);
        const pushingLower = tf.logicalAnd(negative, tf.greater(grad, 0));
        return chooseWhereBlocked(ordinary, tf.where(pushingLower, zeros, grad));
      }),
    };
  },
};

const redirectedRelu6: tf.GradConfig = {
  kernelName: tf.Relu6,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved;
    return {
      x: () => tf.tidy(() => {
        const grad = dy as tf.Tensor;
        const below = tf.less(x, 0);
        const above = tf.greater(x, 6);
        const zeros = tf.zerosLike(grad);
        const ordinary = tf.where(tf.logicalOr(below, above), zeros, grad);
        const pushingOut = tf.logicalOr(tf.logicalAnd(below, tf.greater(grad, 0)), tf.logicalAnd(above, tf.less(grad, 0)));
        return chooseWhereBlocked(ordinary, tf.where(pushingOut, zeros, grad));
      }),
    };
  },
};

/** Runs `f` with the redirected ReLU/ReLU6 gradients registered, restoring the originals afterwards. */
export function withRedirectedReluGradients<T>(f: () => T): T {
  const originals = [tf.getGradient(tf.Relu), tf.getGradient(tf.Relu6)];
  tf.registerGradient(redirectedRelu);
  tf.registerGradient(redirectedRelu6);
  try {
    return f();
  } finally {
    for (const original of originals) if (original) tf.registerGradient(original);
  }
}
