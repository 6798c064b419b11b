/**
 * The shapes of the engine's small, self-describing units. Each unit lives in its own file in the
 * room named after its kind (objectives/, parameterizations/, priors/, transforms/, metrics/) and is
 * registered under its request name, so that the request schema (@featurevis/contracts engine-spec),
 * the docs and the engine list the same things (a test checks it).
 */
import type * as tf from '@tensorflow/tfjs-core';

/** A seeded random source; every random choice of a run draws from it so seeds reproduce. */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** An integer seed for tfjs random ops (tf.randomNormal(..., seed)). */
  nextSeed(): number;
}

/** Layer outputs by name, for the batch being optimised. */
export type Activations = ReadonlyMap<string, tf.Tensor>;

/**
 * An objective: a function of activations giving one value per batch item (to be maximised).
 * `layers` lists what it reads; the special name '@logits' means the model's pre-softmax class scores.
 */
export interface Objective {
  readonly description: string;
  readonly layers: readonly string[];
  value(activations: Activations, batchSize: number): tf.Tensor1D;
  /**
   * Frees the tensors the objective holds across steps (an inversion's target activations). Whoever
   * builds an objective disposes it when the run ends; objectives that hold nothing may omit it.
   */
  dispose?(): void;
}

/**
 * An image parameterisation: trainable variables plus a differentiable map from them to a batch of
 * RGB images in [0,1], NHWC.
 */
export interface Parameterization {
  readonly variables: tf.Variable[];
  render(): tf.Tensor4D;
  dispose(): void;
}

/**
 * A differentiable augmentation applied to the rendered images before the model sees them. With
 * `itemRandoms` (one stream per batch item, random.ts) each item draws its own offsets or angles from
 * its own stream; without, one draw serves the batch.
 */
export type Transform = (images: tf.Tensor4D, random: Random, itemRandoms?: readonly Random[]) => tf.Tensor4D;

/** A penalty subtracted from the objective (L1, L2, total variation, ...): one value per batch item. */
export type Penalty = (images: tf.Tensor4D) => tf.Tensor1D;

/** An operation on the parameterisation's variables between steps (blur every k, clipping, ...). */
export type StepHook = (context: { step: number; parameterization: Parameterization; images: () => tf.Tensor4D; gradients?: tf.Tensor4D }) => void;
