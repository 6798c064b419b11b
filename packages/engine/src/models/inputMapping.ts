/**
 * The engine optimises images as RGB in [0,1]; each model wants its own input. This maps one to the
 * other inside the differentiated function, so gradients flow back to the RGB image.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelMetadata } from '@featurevis/contracts';
import { InvalidSpecError } from '../types.ts';

export type InputPreprocessing =
  | { kind: 'range'; range: [number, number] }
  /** mean and std apply to pixels in [0,1] (the torchvision convention), per channel or broadcast. */
  | { kind: 'normalization'; mean: number[]; std: number[] };

/** Unless the metadata says otherwise, a model takes pixels in [0,1]. */
export const DEFAULT_INPUT_RANGE: [number, number] = [0, 1];

// ITU-R BT.601 luma weights: what PIL's convert('L') and tf.image.rgb_to_grayscale use, so a
// grayscale model sees what it was trained on.
const LUMA_WEIGHTS = [0.299, 0.587, 0.114];

export function preprocessingFromMetadata(metadata: ModelMetadata | undefined, channels: number): InputPreprocessing {
  const input = metadata?.input;
  if (input && 'mean' in input) {
    for (const [name, values] of [['mean', input.mean], ['std', input.std]] as const) {
      if (values.length !== 1 && values.length !== channels) {
        throw new InvalidSpecError(`metadata.input.${name} has ${values.length} values; the model has ${channels} input channels (give 1 or ${channels})`, `metadata.input.${name}`);
      }
    }
    return { kind: 'normalization', mean: [...input.mean], std: [...input.std] };
  }
  if (input && 'range' in input) return { kind: 'range', range: [input.range[0], input.range[1]] };
  return { kind: 'range', range: DEFAULT_INPUT_RANGE };
}

/** RGB in [0,1], NHWC → what the model expects: its channel count, then its range or mean/std. */
export function mapToModelInput(rgb: tf.Tensor4D, channels: number, preprocessing: InputPreprocessing): tf.Tensor4D {
  return tf.tidy(() => {
    let images: tf.Tensor4D = rgb;
    if (channels === 1) {
      images = tf.sum(tf.mul(rgb, tf.tensor1d(LUMA_WEIGHTS)), -1, true);
    } else if (channels !== 3) {
      throw new InvalidSpecError(`models with ${channels} input channels are not supported (only 1 or 3)`, 'model');
    }
    if (preprocessing.kind === 'range') {
      const [low, high] = preprocessing.range;
      if (low === 0 && high === 1) return images;
      return tf.add(tf.mul(images, high - low), low);
    }
    return tf.div(tf.sub(images, tf.tensor1d(preprocessing.mean)), tf.tensor1d(preprocessing.std));
  });
}
