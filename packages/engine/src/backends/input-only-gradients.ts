/**
 * Per-input (lazy) gradients for TensorFlow.js's fused ops, so that an activation-maximization step
 * computes the gradient of the input image only and never the model's weight gradients.
 *
 * Why this is needed (issue 4): tfjs-core's fused ops (`tf.fused.conv2d`, `tf.fused.depthwiseConv2d`,
 * `tf.fused.matMul`; LayersModels and converted GraphModels run every conv/dense layer through them)
 * take their fused path while a gradient is being recorded whenever the activation is linear
 * (`shouldFuse` in tfjs-core/src/ops/fused_util.ts), and that path differentiates through
 * `customGrad`, whose gradient function computes dx, dFilter and dBias together and eagerly
 * (tfjs-core/src/ops/fused/conv2d.ts). The tape then throws dFilter away because the weights are not
 * on the path from the image, but it has already been paid for: on a 64×64 GraphModel with the
 * pure-JS CPU backend, 13.4 s of a 14.8 s step was `Conv2DBackpropFilter`.
 *
 * Every ordinary (unfused) kernel's registered gradient is lazy instead — it returns one closure per
 * input and the tape calls only the closures of inputs on the path (tfjs-core/src/tape.ts) — so the
 * fix is to give the fused ops the same shape of gradient: a fused op with a linear activation is
 * the unfused op plus a bias, so its gradient is the unfused kernel's registered gradient plus the
 * bias's (a sum of dy), each behind its own closure. Results are unchanged; weight gradients are
 * still computed when something does differentiate with respect to the weights (training).
 *
 * Where it hooks in: tfjs has no public hook to replace a `customGrad` op's gradient, and the
 * customGrad tape node does not record the fused kernel's attributes (strides, padding, ...) that a
 * replacement needs. So `installInputOnlyGradients` wraps the engine's `runKernelFunc` (the one
 * function every kernel call and every customGrad op goes through) to (1) note the fused kernel
 * that a customGrad op's forward function runs, with its attributes, and (2) hand the tape a lazy
 * gradient for that op instead of the eager one. Anything it does not recognise (a customGrad with
 * no fused kernel, a non-linear activation) keeps its original gradient.
 */
import * as tf from '@tensorflow/tfjs-core';

type NamedGradients = Record<string, () => tf.Tensor>;
type BackwardsFunc = (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => NamedGradients;

interface KernelInvocation { kernelName: string; inputs: tf.NamedTensorMap; attrs?: tf.NamedAttrMap }
interface CustomGradInvocation { forwardFunc: unknown; backwardsFunc: BackwardsFunc; inputs: tf.NamedTensorMap }
type RunKernelFuncParams = KernelInvocation | CustomGradInvocation;

/** The parts of tfjs-core's Engine this module touches (private in its typings, stable since tfjs 2). */
interface PatchableEngine {
  runKernelFunc(params: RunKernelFuncParams): tf.Tensor | tf.Tensor[];
  isTapeOn(): boolean;
}

/** A lazy gradient for one fused kernel: undefined when it cannot handle the call (the eager one is used). */
type LazyFusedGradient = (dy: tf.Tensor, saved: tf.Tensor[], attrs: tf.NamedAttrMap) => NamedGradients | undefined;

/** Gradient of a broadcast bias add: dy summed over the broadcast axes (tfjs getFusedBiasGradient). */
function biasGradient(bias: tf.Tensor, dy: tf.Tensor): tf.Tensor {
  const reduceAxes = tf.broadcast_util.getReductionAxes(bias.shape, dy.shape);
  const summed = reduceAxes.length > 0 ? tf.sum(dy, reduceAxes) : dy;
  return tf.reshape(summed, bias.shape);
}

/**
 * Builds the lazy gradient of a fused op from the registered gradient of its unfused kernel.
 * All three fused ops save `[first, second, y, bias?]` (tfjs-core/src/ops/fused/*.ts) and take
 * `(x, filter, bias?)` / `(a, b, bias?)` as customGrad inputs '0', '1', '2'.
 */
function fusedGradientFromUnfused(
  unfusedKernel: string,
  /** Maps the fused op's saved tensors to the unfused gradient's saved inputs and input order. */
  layout: (saved: tf.Tensor[]) => { unfusedSaved: tf.Tensor[]; inputNames: [string, string] },
): LazyFusedGradient {
  return (dy, saved, attrs) => {
    // While a gradient is recorded, tfjs fuses only linear activations (shouldFuse); any other
    // activation here means a caller ran the fused kernel some other way, so keep the eager gradient.
    if (attrs.activation != null && attrs.activation !== 'linear') return undefined;
    const unfused = tf.getGradient(unfusedKernel);
    if (unfused == null) return undefined;
    const y = saved[2];
    const bias = saved[3];
    // The op may have reshaped its output after the kernel (rank-3 input, matMul batch dims).
    const dyLikeKernel = dy.shape.join() === y.shape.join() ? dy : tf.reshape(dy, y.shape);
    const { unfusedSaved, inputNames } = layout(saved);
    const grads = unfused.gradFunc(dyLikeKernel, unfusedSaved, attrs);
    const lazy: NamedGradients = { 0: grads[inputNames[0]], 1: grads[inputNames[1]] };
    if (bias != null) lazy[2] = () => biasGradient(bias, dyLikeKernel);
    return lazy;
  };
}

const lazyFusedGradients: Record<string, LazyFusedGradient> = {
  // saved = [filter, x4D, y, bias?]; Conv2D's gradient saves [x, filter].
  [tf.FusedConv2D]: fusedGradientFromUnfused(tf.Conv2D, (s) => ({ unfusedSaved: [s[1], s[0]], inputNames: ['x', 'filter'] })),
  [tf.FusedDepthwiseConv2D]: fusedGradientFromUnfused(tf.DepthwiseConv2dNative, (s) => ({ unfusedSaved: [s[1], s[0]], inputNames: ['x', 'filter'] })),
  // saved = [a3D, b3D, y, bias?]; BatchMatMul's gradient saves [a, b].
  [tf._FusedMatMul]: fusedGradientFromUnfused(tf.BatchMatMul, (s) => ({ unfusedSaved: [s[0], s[1]], inputNames: ['a', 'b'] })),
};

/** The fused kernels one customGrad op's forward function ran. */
interface ForwardCapture { fusedKernels: Array<{ kernelName: string; attrs: tf.NamedAttrMap }> }

const installedOn = new WeakMap<object, () => void>();

/**
 * Makes the gradients of tfjs's fused ops per input and lazy (see the module comment). Idempotent;
 * `initBackend` calls it. Returns a function that restores tfjs's original behaviour (tests use it to
 * compare against the eager gradients).
 */
export function installInputOnlyGradients(): () => void {
  const engine = tf.engine() as unknown as PatchableEngine;
  const existing = installedOn.get(engine);
  if (existing) return existing;

  const originalRunKernelFunc = engine.runKernelFunc;
  // A stack, because a customGrad op's forward function may itself run customGrad ops.
  const captures: ForwardCapture[] = [];

  function runKernelFunc(this: PatchableEngine, params: RunKernelFuncParams): tf.Tensor | tf.Tensor[] {
    if ('kernelName' in params) {
      const capture = captures[captures.length - 1];
      if (capture && params.kernelName in lazyFusedGradients) {
        capture.fusedKernels.push({ kernelName: params.kernelName, attrs: params.attrs ?? {} });
      }
      return originalRunKernelFunc.call(this, params);
    }
    if (!this.isTapeOn()) return originalRunKernelFunc.call(this, params);

    const capture: ForwardCapture = { fusedKernels: [] };
    const eagerBackwards = params.backwardsFunc;
    const backwardsFunc: BackwardsFunc = (dy, saved) => {
      const only = capture.fusedKernels.length === 1 ? capture.fusedKernels[0] : undefined;
      const lazy = only && !Array.isArray(dy) ? lazyFusedGradients[only.kernelName](dy, saved, only.attrs) : undefined;
      return lazy ?? eagerBackwards(dy, saved);
    };
    captures.push(capture);
    try {
      return originalRunKernelFunc.call(this, { ...params, backwardsFunc });
    } finally {
      captures.pop();
    }
  }

  engine.runKernelFunc = runKernelFunc;
  const uninstall = () => {
    if (engine.runKernelFunc === runKernelFunc) engine.runKernelFunc = originalRunKernelFunc;
    installedOn.delete(engine);
  };
  installedOn.set(engine, uninstall);
  return uninstall;
}

/** Kernels that compute a gradient with respect to weights; none should run during an AM step. */
export const weightGradientKernelNames: readonly string[] = [
  tf.Conv2DBackpropFilter,
  tf.DepthwiseConv2dNativeBackpropFilter,
  tf.Conv3DBackpropFilterV2,
];
