/**
 * What an objective factory is given, and the checks every one of them makes against the model, so
 * that an impossible request (unknown layer, channel out of range) fails before the first step with an
 * InvalidSpecError naming the request field (`objective.channel`, `objective[2].layer`, ...).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayerInfo, ObjectiveTerm, Objective as ObjectiveSpec } from '@featurevis/contracts';
import { InvalidSpecError, type LoadedModel } from '../types.ts';
import type { ComposableObjective } from './objective.ts';

export interface ObjectiveContext {
  model: LoadedModel;
  batchSize: number;
  /** Path of this objective in the request, for error messages: `objective`, `objective.terms[1].objective`. */
  field: string;
  /**
   * The run's image size in pixels, when known. Objectives that address cells of a layer's grid
   * (neuron) check their position against the grid at this size before the first step.
   */
  imageSizePx?: number;
  /**
   * Keeps a tensor the objective reads at every step (an inversion's target activations) out of any
   * tidy scope until the built objective is disposed; returns it.
   */
  keep<T extends tf.Tensor>(tensor: T): T;
  /** Builds a nested objective (composites use it), with its own field path. */
  build(spec: ObjectiveSpec, field: string): ComposableObjective;
}

export type ObjectiveFactory<Spec extends ObjectiveTerm = ObjectiveTerm> = (spec: Spec, context: ObjectiveContext) => ComposableObjective;

/** The model's layer, or an InvalidSpecError at `<field>.layer` listing a few that exist. */
export function requireLayer(model: LoadedModel, layer: string, field: string): LayerInfo {
  const info = model.info.layers.find((candidate) => candidate.name === layer);
  if (info) return info;
  const known = model.info.layers.map((candidate) => candidate.name);
  const shown = known.slice(0, 12).map((name) => `"${name}"`).join(', ');
  throw new InvalidSpecError(`model "${model.id}" has no layer "${layer}"; its layers are ${shown}${known.length > 12 ? `, … (${known.length} in all)` : ''}`, `${field}.layer`);
}

/** Checks `channel` against the layer's channel count, naming `<field>.channel` when it is out of range. */
export function requireChannel(layer: LayerInfo, channel: number, field: string): number {
  if (!Number.isInteger(channel) || channel < 0 || channel >= layer.channels) {
    throw new InvalidSpecError(`channel ${channel} is out of range: layer "${layer.name}" has ${layer.channels} channels (0–${layer.channels - 1})`, `${field}.channel`);
  }
  return channel;
}

/** Whether the layer's output has spatial axes (NHWC) rather than being a vector per item. */
export function isSpatial(layer: LayerInfo): boolean {
  return layer.shape.length === 3;
}

/**
 * The height and width of a spatial layer's grid for square images of `sizePx` pixels, found by one
 * forward pass of a blank image (outside any gradient recording). For fully convolutional models
 * the grid depends on the image size, which the layer's listed shape leaves open.
 */
export function layerGrid(model: LoadedModel, layer: string, sizePx: number): [number, number] {
  const shape = tf.tidy(() => model.activations(tf.fill([1, sizePx, sizePx, 3], 0.5) as tf.Tensor4D, [layer])[0].shape);
  return [shape[1] ?? 1, shape[2] ?? 1];
}
