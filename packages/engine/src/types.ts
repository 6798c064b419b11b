/**
 * The engine's public surface. The engine knows nothing of HTTP, Redis or S3: it takes model files,
 * a resolved spec and a seed, and returns images, metrics and a trace.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { ModelView, JobRequest } from '@featurevis/contracts';
import type { ChannelsFromInput } from './models/modelGraph.ts';

/** Where a model's files come from (bundled folder, storage, an upload): model.json and its weight paths. */
export interface ModelFiles {
  /** Parsed model.json. */
  modelJson: unknown;
  /** Reads a weight file by the path its weights manifest gives. */
  readWeights(path: string): Promise<Uint8Array>;
}

/** What the engine needs of a loaded model: activations of named layers for a batch of images. */
export interface LoadedModel {
  id: string;
  hash: string;
  info: ModelView;
  /**
   * Runs the model on `images` (NHWC, RGB in [0,1]; mapped inside to the model's own input range,
   * channel count and mean/std) and returns the named layers' outputs. Call inside tf.tidy / a gradient
   * function; the returned tensors belong to the caller's scope.
   */
  activations(images: tf.Tensor4D, layers: string[]): tf.Tensor[];
  /**
   * Where a layer is a convolution of another layer's output (tfjs-layers Conv2D): a way to compute one
   * channel per batch item from that input (models/modelGraph.ts). Channel objectives use it.
   */
  channelsFromInput?(layer: string): ChannelsFromInput | undefined;
  dispose(): void;
}

/**
 * A visualization request as the worker hands it to the engine: the API's request with the seed set.
 * `itemSeeds` (engine-level, not a request field) gives each batch item its own random stream, one
 * seed per item, so that item i's images are those of a batch-1 run seeded with itemSeeds[i] (random.ts;
 * the worker's grouped runs, issue 4). Without it a batch of 1 draws from `seed` as its own item, and a
 * larger batch draws everything from `seed` for the whole batch.
 */
export type VisualizationSpec = JobRequest & { seed: number; itemSeeds?: number[] };

export interface StepProgress { step: number; steps: number; objective: number }

export interface VisualizeOptions {
  /** Called every `progressEverySteps` steps and after the last. */
  onProgress?: (progress: StepProgress) => void;
  progressEverySteps?: number;
  /** Checked between steps; when it returns true the run stops with a CanceledError. */
  isCanceled?: () => boolean;
}

export interface EncodedImage { index: number; width: number; height: number; png: Uint8Array }

/**
 * A dataset example (issue 5): one of the reference images on which batch item `index`'s objective is
 * highest (`kind` 'top', rank 0 the highest) or lowest ('bottom', rank 0 the lowest).
 */
export interface DatasetExample extends EncodedImage {
  kind: 'top' | 'bottom';
  rank: number;
  /** The item's objective on this image. */
  value: number;
  /** Which image of the reference set (re-renderable from the set, its seed and this index). */
  referenceIndex: number;
  /** The image's class in the reference set. */
  label: string;
}

export interface VisualizationOutput {
  images: EncodedImage[];
  /** Intermediate images at the requested snapshot steps. */
  snapshots: Array<EncodedImage & { step: number }>;
  /**
   * Per image, where the objective looked: the mean |∂objective/∂image| over the steps, averaged over
   * colour and scaled so the largest value is 1, as a grey PNG (MACO's transparency map, Fel et al. 2023).
   * Present only for parameterisations that record it (`maco`).
   */
  attributions?: EncodedImage[];
  /**
   * With `reference`: per batch item, the top-k and bottom-k reference images for its objective
   * (k = `reference.examples`), item by item, top then bottom, each by rank.
   */
  examples?: DatasetExample[];
  /** The objective's value (batch mean) at every step. */
  trace: number[];
  /** Final objective value, class probability, total variation, high-frequency energy, ... */
  metrics: Record<string, unknown>;
  /** The settings actually used: the spec with every default and preset expanded. */
  settings: Record<string, unknown>;
  backend: string;
  /**
   * WASM only: what ran the convolutions — the packages/native-conv addon on 'avx512' or 'avx2', or
   * 'xnnpack'. They sum in different orders, so byte-identical reproduction needs the same one (and
   * the same backend).
   */
  convolutions?: 'avx512' | 'avx2' | 'xnnpack';
  timings: { totalMs: number; meanStepMs: number; stepsPerSecond: number };
}

export class CanceledError extends Error {
  constructor(message = 'canceled') { super(message); this.name = 'CanceledError'; }
}

/** A request that can never succeed (unknown layer, channel out of range, ...): not retried. */
export class InvalidSpecError extends Error {
  constructor(message: string, readonly field?: string) { super(message); this.name = 'InvalidSpecError'; }
}
