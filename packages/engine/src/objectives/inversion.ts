/**
 * `inversion`: feature inversion (Mahendran & Vedaldi 2015, "Understanding Deep Image Representations
 * by Inverting Them"). Given a target image x0 and its activations Φ0 = Φ(x0) at a layer, the paper
 * minimises ||Φ(x) − Φ0||² / ||Φ0||² plus a natural-image prior (TV: the `mahendran` preset). As an
 * objective to maximise, item i's value is minus that distance (`l2`), or minus the cosine distance
 * 1 − cos(Φ(x), Φ0) (`cosine`, blind to the activations' scale); both are 0 at the target itself.
 * What the optimised image keeps of the target is what the layer keeps of it.
 *
 * Φ0 is computed once, when the objective is built, at the run's image size (a PNG of another size is
 * resized bilinearly first), and kept until the built objective is disposed.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ObjectiveTerm } from '@featurevis/contracts';
import { referenceImageSource } from '../datasets/index.ts';
import { decodePng } from '../png.ts';
import { InvalidSpecError } from '../types.ts';
import { requireLayer, type ObjectiveFactory } from './context.ts';
import { activationsOf, objective } from './objective.ts';

export type InversionSpec = Extract<ObjectiveTerm, { type: 'inversion' }>;

/** Below this squared norm a target's activations count as zero (a layer silent on the image). */
const EPSILON = 1e-12;

/** The target image, [1, size, size, 3] RGB in [0,1], or an InvalidSpecError at `<field>.image`. */
function targetImage(image: InversionSpec['image'], sizePx: number | undefined, field: string): tf.Tensor4D {
  if (typeof image !== 'string') {
    const { set, index, seed = 0 } = image.reference;
    const size = sizePx ?? 32;
    // The same image as a `reference` set's image `index` (metrics/referenceSet.ts).
    const source = referenceImageSource(set, { seed, count: Number.MAX_SAFE_INTEGER, sizePx: size, field: `${field}.image.reference.set` });
    if (index >= source.count) throw new InvalidSpecError(`reference set "${set}" has ${source.count} images; there is no image ${index}`, `${field}.image.reference.index`);
    return tf.tensor4d(source.pixels([index]), [1, size, size, 3]);
  }
  let decoded: ReturnType<typeof decodePng>;
  try {
    decoded = decodePng(Buffer.from(image, 'base64'));
  } catch (error) {
    throw new InvalidSpecError(`the inversion's target image is not a valid base64 PNG: ${(error as Error).message}`, `${field}.image`);
  }
  const { width, height, rgb } = decoded;
  const size = sizePx ?? width;
  return tf.tidy(() => {
    const pixels = tf.tensor4d(rgb, [1, height, width, 3]);
    return width === size && height === size ? pixels : tf.clipByValue(tf.image.resizeBilinear(pixels, [size, size], false, true), 0, 1);
  });
}

export const inversion: ObjectiveFactory<InversionSpec> = (spec, { model, field, imageSizePx, keep }) => {
  requireLayer(model, spec.layer, field);
  const metric = spec.metric ?? 'l2';
  // Flattened once: [1, features]; each item's activations are compared with it by broadcasting.
  const targetFlat = keep(tf.tidy(() => tf.reshape(model.activations(targetImage(spec.image, imageSizePx, field), [spec.layer])[0], [1, -1]) as tf.Tensor2D));
  const targetSquaredNorm = keep(tf.tidy(() => tf.maximum(tf.sum(tf.square(targetFlat)), EPSILON)));
  const source = typeof spec.image === 'string' ? 'an image' : `${spec.image.reference.set} image ${spec.image.reference.index}`;
  return objective(`inversion of ${source} at ${spec.layer} (${metric})`, [spec.layer], (activations, batchSize) => {
    const flat = tf.reshape(activationsOf(activations, spec.layer), [batchSize, -1]);
    if (metric === 'cosine') {
      const dot = tf.sum(tf.mul(flat, targetFlat), 1);
      const norms = tf.mul(tf.sqrt(tf.maximum(tf.sum(tf.square(flat), 1), EPSILON)), tf.sqrt(targetSquaredNorm));
      return tf.sub(tf.div(dot, norms), 1) as tf.Tensor1D;
    }
    return tf.neg(tf.div(tf.sum(tf.square(tf.sub(flat, targetFlat)), 1), targetSquaredNorm)) as tf.Tensor1D;
  });
};
