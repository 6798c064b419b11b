/**
 * What the models room needs of a loaded network, whatever its format: its input, its targetable
 * layers (LayersModel) or nodes (GraphModel), its output and logits, and a way to run it up to any set
 * of them. layersModelGraph.ts and graphModelGraph.ts implement it; loadModel.ts builds on it.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { LayerInfo } from '@featurevis/contracts';
import type { ModelFormat } from './modelArtifacts.ts';

export interface ModelGraph {
  format: ModelFormat;
  /** [height, width, channels]; null where any size is accepted. */
  inputShape: Array<number | null>;
  /** Every layer or node an objective can target, in execution order. */
  layers: LayerInfo[];
  outputName: string;
  classes: number;
  /** The tensor holding the pre-softmax class scores, or null when the model gives no such thing. */
  logitsName: string | null;
  /** Runs the model on input already mapped to its own range and channels; `names` are known and distinct. */
  run(input: tf.Tensor4D, names: readonly string[]): tf.Tensor[];
  dispose(): void;
}

/** Shapes come from tfjs with the batch dimension first; the view lists them without it. */
export function withoutBatch(shape: ReadonlyArray<number | null | undefined>): Array<number | null> {
  return shape.slice(1).map((size) => (size === undefined || size === null || size < 0 ? null : size));
}
