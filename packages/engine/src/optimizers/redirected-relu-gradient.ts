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
 * fused conv/dense + relu ops are covered too: inside `f` they run unfused while a gradient is
 * recorded, as tfjs runs them (`withUnfusedActivations`; elsewhere the engine keeps their ReLU fused,
 * backends/input-only-gradients.ts), so each ReLU is a separate Relu kernel with the input x the
 * rule needs.
 *
 * Sign convention: `dy` is the gradient of the loss the optimiser minimises (minus the objective), as
 * in TensorFlow, so "pushing lower" is dy > 0 — the same test as Lucid's.
 *
 * On WASM the ReLU rule runs as one kernel (backends/wasm/redirected-relu-grad.ts), the same
 * operations bit for bit; elsewhere, and for ReLU6, as written below.
 *
 * Cost: the rule is written with 0/1 float masks (`step`) and arithmetic (`mul`, `sub`, `add`, `relu`)
 * rather than Lucid's boolean comparisons and `where`: on tfjs-backend-wasm a `Less`, `Greater`,
 * `LogicalAnd` or `Select` costs about 12–16 ns an element against 3–4 ns for `Step` or `Mul`
 * (measured on 64×16×16×64 under Node), and this gradient runs on every ReLU of every step while the
 * override lasts. The values are Lucid's, element for element, up to the sign of a zero; where `x` or
 * `dy` is NaN or infinite the masks' products give NaN, as tfjs's own ReLU gradient (`dy · step(x)`)
 * does for NaN.
 */
import * as tf from '@tensorflow/tfjs-core';
import { REDIRECTED_RELU_GRAD_KERNEL, redirectedReluGradRuns, withUnfusedActivations } from '../backends/index.ts';

/** 1 where x < 0, else 0 (step(v) is 1 for v > 0, else 0). */
const belowZero = (x: tf.Tensor) => tf.step(tf.neg(x));

/** min(g, 0), without `minimum` (a broadcasting binary op, slow on WASM). */
const negativePart = (g: tf.Tensor) => tf.sub(g, tf.relu(g));

/**
 * 1 for a batch item whose ordinary gradient is zero everywhere (nothing gets through), else 0; shaped
 * [batch, 1, …, 1] to broadcast over the item.
 */
function stuckItems(ordinary: tf.Tensor): tf.Tensor {
  const batch = ordinary.rank === 0 ? 1 : ordinary.shape[0];
  const magnitude = tf.sum(tf.abs(tf.reshape(ordinary, [batch, -1])), 1);
  const stuck = tf.sub(1, tf.step(magnitude));
  return ordinary.rank === 0 ? tf.reshape(stuck, []) : tf.reshape(stuck, [batch, ...ordinary.shape.slice(1).map(() => 1)]);
}

/**
 * ReLU: ordinary = dy where x ≥ 0, else 0. For a stuck item, dy also passes where x < 0 and dy < 0
 * (it raises the input); where x < 0 and dy > 0 it stays 0. So the result is
 * ordinary + stuck · [x < 0] · min(dy, 0).
 */
const redirectedRelu: tf.GradConfig = {
  kernelName: tf.Relu,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved;
    return {
      x: () => tf.tidy(() => {
        const grad = dy as tf.Tensor;
        // On WASM, the same rule in one kernel (backends/wasm/redirected-relu-grad.ts).
        if (redirectedReluGradRuns(x, grad)) return tf.engine().runKernel(REDIRECTED_RELU_GRAD_KERNEL, { x, dy: grad }) as tf.Tensor;
        const below = belowZero(x);
        const ordinary = tf.sub(grad, tf.mul(grad, below));
        const redirectedExtra = tf.mul(tf.mul(below, negativePart(grad)), stuckItems(ordinary));
        return tf.add(ordinary, redirectedExtra);
      }),
    };
  },
};

/**
 * ReLU6: ordinary = dy where 0 ≤ x ≤ 6, else 0. For a stuck item, dy also passes below the range where
 * it raises the input (dy < 0) and above it where it lowers it (dy > 0):
 * ordinary + stuck · ([x < 0] · min(dy, 0) + [x > 6] · max(dy, 0)).
 */
const redirectedRelu6: tf.GradConfig = {
  kernelName: tf.Relu6,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved;
    return {
      x: () => tf.tidy(() => {
        const grad = dy as tf.Tensor;
        const below = belowZero(x);
        const above = tf.step(tf.sub(x, 6));
        const ordinary = tf.sub(grad, tf.mul(grad, tf.add(below, above)));
        const positive = tf.relu(grad);
        const inward = tf.add(tf.mul(below, tf.sub(grad, positive)), tf.mul(above, positive));
        return tf.add(ordinary, tf.mul(inward, stuckItems(ordinary)));
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
    return withUnfusedActivations(f);
  } finally {
    for (const original of originals) if (original) tf.registerGradient(original);
  }
}
