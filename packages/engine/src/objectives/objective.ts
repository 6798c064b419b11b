/**
 * Objectives that compose, after Lucid's `objectives.py`: each objective is a small function of the
 * model's activations giving one value per batch item, and `a.add(b)`, `a.sub(b)`, `a.mul(k)` and
 * `a.neg()` build new ones. The optimisation loop only ever sees the `Objective` interface.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ChannelsFromInput } from '../models/modelGraph.ts';
import type { Activations, Objective } from '../units.ts';

export type ObjectiveValue = (activations: Activations, batchSize: number) => tf.Tensor1D;

export class ComposableObjective implements Objective {
  /** Tensors this objective holds across steps (see `own`), freed by `dispose`. */
  private owned: tf.Tensor[] = [];

  constructor(
    readonly description: string,
    readonly layers: readonly string[],
    private readonly compute: ObjectiveValue,
  ) {}

  /**
   * Hands tensors to the objective to free in `dispose`. `buildObjective` gives the root of a built
   * objective every tensor its parts kept (ObjectiveContext.keep), so disposing the root frees them all;
   * objectives composed in code with add/sub/mul/neg do not take over their parts' tensors.
   */
  own(tensors: readonly tf.Tensor[]): this {
    this.owned.push(...tensors);
    return this;
  }

  dispose(): void {
    for (const tensor of this.owned) tensor.dispose();
    this.owned = [];
  }

  value(activations: Activations, batchSize: number): tf.Tensor1D {
    return this.compute(activations, batchSize);
  }

  add(other: ComposableObjective): ComposableObjective {
    return weightedSum([{ objective: this, weight: 1 }, { objective: other, weight: 1 }]);
  }

  sub(other: ComposableObjective): ComposableObjective {
    return weightedSum([{ objective: this, weight: 1 }, { objective: other, weight: -1 }]);
  }

  mul(weight: number): ComposableObjective {
    return weightedSum([{ objective: this, weight }]);
  }

  neg(): ComposableObjective {
    return new ComposableObjective(`-(${this.description})`, this.layers, (activations, batchSize) => tf.neg(this.value(activations, batchSize)));
  }
}

export function objective(description: string, layers: readonly string[], value: ObjectiveValue): ComposableObjective {
  return new ComposableObjective(description, layers, value);
}

/** The layers several objectives read, each once. */
export function unionOfLayers(objectives: readonly Objective[]): string[] {
  return [...new Set(objectives.flatMap((o) => o.layers))];
}

export function weightedSum(terms: ReadonlyArray<{ objective: Objective; weight: number }>): ComposableObjective {
  const description = terms.map(({ objective, weight }) => (weight === 1 ? objective.description : `${weight}·(${objective.description})`)).join(' + ');
  return new ComposableObjective(description, unionOfLayers(terms.map((t) => t.objective)), (activations, batchSize) =>
    tf.addN(terms.map(({ objective, weight }) => {
      const value = objective.value(activations, batchSize);
      return weight === 1 ? value : tf.mul(value, weight);
    })) as tf.Tensor1D);
}

/** The activations of one layer, which the loop guarantees are present (they are in `layers`). */
export function activationsOf(activations: Activations, layer: string): tf.Tensor {
  const tensor = activations.get(layer);
  if (!tensor) throw new Error(`activations of "${layer}" were not computed; list the layer in the objective's layers`);
  return tensor;
}

/** Mean over every axis but the first (batch): [batch, ...] → [batch]. */
export function meanPerItem(tensor: tf.Tensor): tf.Tensor1D {
  if (tensor.rank === 1) return tensor as tf.Tensor1D;
  return tf.mean(tensor, Array.from({ length: tensor.rank - 1 }, (_, i) => i + 1)) as tf.Tensor1D;
}

/**
 * One channel of the last axis, keeping the axis (size 1). A slice, not `tf.gather`: gather's gradient
 * needs UnsortedSegmentSum, which the WASM backend does not register; a slice's gradient is a pad.
 */
export function sliceChannel(tensor: tf.Tensor, channel: number): tf.Tensor {
  const last = tensor.rank - 1;
  const begin = tensor.shape.map((_, axis) => axis === last ? channel : 0);
  const size = tensor.shape.map((_, axis) => axis === last ? 1 : -1);
  return tf.slice(tensor, begin, size);
}

/**
 * The spatial mean of channel `channelsFor(items)[i]` of `layer` for batch item i, computed from the
 * layer's input where the model offers that (LoadedModel.channelsFromInput: a convolution layer; 1/64
 * of its work for a 64-channel sweep), else undefined and the caller takes the layer's output. The
 * weights for the run's batch are built once and kept; another batch size (a reference set's chunks)
 * gets its own inside the step's tidy.
 */
export function channelMeansFromInput(
  description: string,
  layer: string,
  channelsFor: (items: number) => number[],
  context: { model: { channelsFromInput?(layer: string): ChannelsFromInput | undefined }; batchSize: number; keep<T extends tf.Tensor>(tensor: T): T },
): ComposableObjective | undefined {
  const fromInput = context.model.channelsFromInput?.(layer);
  if (fromInput == null) return undefined;
  const prepared = fromInput.weightsFor(channelsFor(context.batchSize));
  context.keep(prepared.filter);
  if (prepared.bias != null) context.keep(prepared.bias);
  return objective(description, [fromInput.inputLayer], (activations) => {
    const input = activationsOf(activations, fromInput.inputLayer) as tf.Tensor4D;
    const items = input.shape[0];
    return meanPerItem(fromInput.compute(input, items === prepared.items ? prepared : fromInput.weightsFor(channelsFor(items))));
  });
}
