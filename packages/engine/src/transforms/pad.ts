/**
 * `pad`: a constant border of `px` pixels at grey level `value` (Lucid's `transform.pad`, which the
 * Lucid recipe applies first). With jitter after it, the edges of the image are seen at every position
 * like the centre, instead of being pushed out of the crop.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidSpecError } from '../types.ts';
import type { TransformFactory } from './transform.ts';

export interface PadOptions { px?: number; value?: number }

export const pad: TransformFactory<PadOptions> = (options, context) => {
  const px = options.px ?? 4;
  const value = options.value ?? 0.5;
  const field = context?.field ?? 'transforms';
  if (!Number.isInteger(px) || px < 1) throw new InvalidSpecError('px must be a positive integer', `${field}.px`);
  if (!(value >= 0 && value <= 1)) throw new InvalidSpecError('value must be in [0, 1]', `${field}.value`);
  return (images) => tf.pad(images, [[0, 0], [px, px], [px, px], [0, 0]], value);
};
