/**
 * `adam` (Kingma & Ba 2015): the default, as in Lucid's render_vis. Its per-variable step size makes the
 * learning rate independent of the objective's scale, which differs by orders of magnitude between a
 * logit and a mid-layer channel.
 *
 * tfjs's AdamOptimizer, with each variable's update run as one `FeaturevisAdam` kernel where the
 * backend has it (WASM: backends/wasm/adam.ts) — the same values bit for bit, one pass instead of
 * thirteen kernels. Elsewhere (the pure-JS CPU backend) tfjs's own update runs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ADAM_KERNEL, fusedAdamRuns, type AdamConstants } from '../backends/index.ts';
import type { OptimizerFactory } from './optimizer.ts';

const BETA1 = 0.9;
const BETA2 = 0.999;

type Moment = { originalName: string; variable: tf.Variable };
/** AdamOptimizer's state, protected in its typings. */
interface AdamState { accumulatedFirstMoment: Moment[]; accumulatedSecondMoment: Moment[]; epsilon: number; learningRate: number }

export class FusedAdamOptimizer extends tf.AdamOptimizer {
  /** β1ᵗ and β2ᵗ as f32 (tfjs keeps them in scalar tensors, accBeta1/2; this path keeps them here). */
  private accBeta1Value = Math.fround(BETA1);
  private accBeta2Value = Math.fround(BETA2);
  /** Decided at the first step: the backend does not change during a run. */
  private fused: boolean | undefined;

  constructor(learningRate: number) {
    super(learningRate, BETA1, BETA2);
  }

  override applyGradients(variableGradients: Parameters<tf.AdamOptimizer['applyGradients']>[0]): void {
    const named = Array.isArray(variableGradients)
      ? variableGradients.map(({ name, tensor }) => ({ name, gradient: tensor }))
      : Object.entries(variableGradients).map(([name, gradient]) => ({ name, gradient: gradient as tf.Tensor }));
    this.fused ??= named.every(({ name, gradient }) => {
      const value = tf.engine().registeredVariables[name];
      return value != null && gradient != null && fusedAdamRuns([gradient, value]);
    });
    if (!this.fused) {
      super.applyGradients(variableGradients);
      return;
    }
    const state = this as unknown as AdamState;
    const constants: AdamConstants = {
      beta1: Math.fround(BETA1),
      oneMinusBeta1: Math.fround(1 - BETA1),
      beta2: Math.fround(BETA2),
      oneMinusBeta2: Math.fround(1 - BETA2),
      oneMinusAccBeta1: Math.fround(1 - this.accBeta1Value),
      oneMinusAccBeta2: Math.fround(1 - this.accBeta2Value),
      epsilon: Math.fround(state.epsilon),
      negLearningRate: Math.fround(-state.learningRate),
    };
    tf.tidy(() => {
      named.forEach(({ name, gradient }, i) => {
        if (gradient == null) return;
        const value = tf.engine().registeredVariables[name];
        // The moments as tfjs creates them (names, order), so the rest of AdamOptimizer still works.
        state.accumulatedFirstMoment[i] ??= { originalName: `${name}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        state.accumulatedSecondMoment[i] ??= { originalName: `${name}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        const m = state.accumulatedFirstMoment[i].variable;
        const v = state.accumulatedSecondMoment[i].variable;
        const [newValue, newM, newV] = tf.engine().runKernel(ADAM_KERNEL, { value, m, v, gradient }, constants as unknown as tf.NamedAttrMap) as tf.Tensor[];
        m.assign(newM);
        v.assign(newV);
        value.assign(newValue);
      });
    });
    this.accBeta1Value = Math.fround(this.accBeta1Value * Math.fround(BETA1));
    this.accBeta2Value = Math.fround(this.accBeta2Value * Math.fround(BETA2));
    this.incrementIterations();
  }
}

export const adam: OptimizerFactory = ({ learningRate }) => new FusedAdamOptimizer(learningRate);
