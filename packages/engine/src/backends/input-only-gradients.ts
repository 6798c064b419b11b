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
 * no fused kernel, an activation other than linear or ReLU) keeps its original gradient.
 *
 * Fused ReLU under the tape: while a gradient is recorded tfjs also unfuses every non-linear
 * activation (`shouldFuse`), so a conv + bias + ReLU layer ran as Conv2D, Add and Relu — two extra
 * passes over the activation in the forward pass, 15 % of a batch-64 shapes-dw-graph step on WASM,
 * where XNNPACK applies bias and ReLU inside the convolution for free. ReLU's gradient needs only the
 * op's output (dy · step(y) equals dy · step(x) for y = max(x, 0)), so `fuseReluUnderTape` wraps the
 * fused ops (`tf.fused.*`, which LayersModels call; GraphModels through graph-model-fused-ops.ts)
 * to take tfjs's fused path anyway: during the op's own code `gradientDepth` reads 0, the one thing
 * `shouldFuse` looks at, while every kernel and customGrad the op runs is recorded with the real
 * depth (`runKernelFunc` below restores it), and the lazy gradient applies ReLU's registered gradient
 * to y. Lucid's redirected ReLU gradient needs the pre-activation, so it runs its steps inside
 * `withUnfusedActivations` (optimizers/redirected-relu-gradient.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerGraphModelFusedOps } from './graph-model-fused-ops.ts';

type NamedGradients = Record<string, () => tf.Tensor>;
type BackwardsFunc = (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => NamedGradients;

interface KernelInvocation { kernelName: string; inputs: tf.NamedTensorMap; attrs?: tf.NamedAttrMap }
interface CustomGradInvocation { forwardFunc: unknown; backwardsFunc: BackwardsFunc; inputs: tf.NamedTensorMap }
type RunKernelFuncParams = KernelInvocation | CustomGradInvocation;

/** The parts of tfjs-core's Engine this module touches (private in its typings, stable since tfjs 2). */
interface PatchableEngine {
  runKernelFunc(params: RunKernelFuncParams): tf.Tensor | tf.Tensor[];
  isTapeOn(): boolean;
  state: { gradientDepth: number };
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
 * dy through the fused activation, from the op's output y: linear passes dy; ReLU applies the
 * registered Relu gradient (relu-grad.ts on WASM) to y in place of x. Undefined for other activations.
 */
function throughActivation(activation: unknown, dy: tf.Tensor, y: tf.Tensor): tf.Tensor | undefined {
  if (activation == null || activation === 'linear') return dy;
  if (activation !== 'relu') return undefined;
  const relu = tf.getGradient(tf.Relu);
  return relu == null ? undefined : relu.gradFunc(dy, [y], {}).x();
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
    const unfused = tf.getGradient(unfusedKernel);
    if (unfused == null) return undefined;
    const y = saved[2];
    const bias = saved[3];
    // The op may have reshaped its output after the kernel (rank-3 input, matMul batch dims).
    const dyLikeKernel = throughActivation(attrs.activation, dy.shape.join() === y.shape.join() ? dy : tf.reshape(dy, y.shape), y);
    if (dyLikeKernel == null) return undefined;
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

/** Set by `fuseReluUnderTape` while a fused op's own code runs: the gradient depth to restore in kernels. */
let forcedFusion: { gradientDepth: number } | undefined;
/** While above 0, fused ReLUs run unfused under the tape, as tfjs runs them. */
let unfusedActivationScopes = 0;
/** Whether `fuseReluUnderTape`'s wrappers force fusion (installInputOnlyGradients turns them on). */
let reluFusionOn = false;

/** Runs `f` with fused ReLUs unfused while a gradient is recorded (separate Relu kernels, as tfjs does). */
export function withUnfusedActivations<T>(f: () => T): T {
  unfusedActivationScopes++;
  try {
    return f();
  } finally {
    unfusedActivationScopes--;
  }
}

/**
 * Wraps a fused op (`tf.fused.conv2d`, `depthwiseConv2d`, `matMul`) so that with a ReLU activation it
 * keeps its fused kernel while a gradient is recorded (see the module comment). Inside
 * `withUnfusedActivations` a ReLU or ReLU6 runs as its own kernel after the op with bias fused (linear
 * activation: tfjs's fused path, our lazy gradient), where tfjs would run the convolution, a bias Add
 * and the activation: the Add was a third of a redirected-ReLU step's extra cost (batch 64 shapes-a,
 * 0.3 of 0.9 ms on conv1 alone). The convolution addon and tfjs's CPU kernels add the bias to the
 * finished sum, so their values are unchanged bit for bit; XNNPACK starts its sums from the bias (last-bit differences).
 */
function fuseReluUnderTape<A extends { activation?: string }, R>(op: (args: A) => R): (args: A) => R {
  return (args: A) => {
    const engine = tf.engine() as unknown as PatchableEngine;
    if (reluFusionOn && unfusedActivationScopes > 0 && (args.activation === 'relu' || args.activation === 'relu6') && forcedFusion == null
        && engine.isTapeOn()) {
      const linear = op({ ...args, activation: 'linear' }) as unknown as tf.Tensor;
      return (args.activation === 'relu' ? tf.relu(linear) : tf.relu6(linear)) as unknown as R;
    }
    if (!reluFusionOn || args.activation !== 'relu' || unfusedActivationScopes > 0 || forcedFusion != null || !engine.isTapeOn()) return op(args);
    const gradientDepth = engine.state.gradientDepth;
    forcedFusion = { gradientDepth };
    engine.state.gradientDepth = 0;
    try {
      return op(args);
    } finally {
      engine.state.gradientDepth = gradientDepth;
      forcedFusion = undefined;
    }
  };
}

type FusedOps = { conv2d: (args: never) => tf.Tensor; depthwiseConv2d: (args: never) => tf.Tensor; matMul: (args: never) => tf.Tensor };

/** Wraps `tf.fused`'s ops once (a plain object, shared with tfjs-layers); the wrappers check `reluFusionOn`. */
let wrappedFusedOps = false;
function wrapFusedOps(): void {
  if (wrappedFusedOps) return;
  wrappedFusedOps = true;
  const fused = tf.fused as unknown as FusedOps;
  fused.conv2d = fuseReluUnderTape(fused.conv2d);
  fused.depthwiseConv2d = fuseReluUnderTape(fused.depthwiseConv2d);
  fused.matMul = fuseReluUnderTape(fused.matMul);
}

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
    if (forcedFusion != null && this.state.gradientDepth === 0) {
      // A fused op forced onto its fused path runs a kernel or its customGrad: record it as usual.
      this.state.gradientDepth = forcedFusion.gradientDepth;
      try {
        return recordingRunKernelFunc.call(this, params);
      } finally {
        this.state.gradientDepth = 0;
      }
    }
    return recordingRunKernelFunc.call(this, params);
  }

  function recordingRunKernelFunc(this: PatchableEngine, params: RunKernelFuncParams): tf.Tensor | tf.Tensor[] {
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
  wrapFusedOps();
  registerGraphModelFusedOps();
  reluFusionOn = true;
  const uninstall = () => {
    if (engine.runKernelFunc === runKernelFunc) engine.runKernelFunc = originalRunKernelFunc;
    reluFusionOn = false;
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
