/**
 * `rotate`: rotate about the centre by an angle drawn from `degrees` (Lucid's `transform.random_rotate`),
 * with bilinear sampling and the edge pixels repeated outside the image.
 *
 * Hand-written because tfjs's rotation (`tf.image.rotateWithOffset`, `tf.image.transform`) has no
 * gradient. Rotation is linear in the image, so it is a sum of four `gatherND`s (the bilinear corners)
 * weighted per output pixel, with its transpose (`scatterND`, registered by cpu and wasm) as the
 * gradient. Indices and weights depend only on the size and the angle, so they are built once per pair
 * and cached. With per-item streams each item is rotated by its own angle.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidSpecError } from '../types.ts';
import { randomChoice, type TransformFactory } from './transform.ts';

export interface RotateOptions { degrees?: number[] }

export const DEFAULT_ROTATE_DEGREES = [-5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5];

interface Sampler { indices: Int32Array[]; weights: Float32Array[] }

/** The four bilinear corners of each output pixel, rotated by `degrees` about the image centre. */
export function rotationSampler(height: number, width: number, degrees: number): Sampler {
  const radians = (degrees * Math.PI) / 180;
  const cos = Math.cos(radians), sin = Math.sin(radians);
  const cy = (height - 1) / 2, cx = (width - 1) / 2;
  const n = height * width;
  const indices = [0, 1, 2, 3].map(() => new Int32Array(n));
  const weights = [0, 1, 2, 3].map(() => new Float32Array(n));
  const clampY = (v: number) => Math.min(height - 1, Math.max(0, v));
  const clampX = (v: number) => Math.min(width - 1, Math.max(0, v));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      // Inverse map: the source of output (y, x) is the point rotated by −angle.
      const sy = clampY(cy + (y - cy) * cos - (x - cx) * sin);
      const sx = clampX(cx + (y - cy) * sin + (x - cx) * cos);
      const y0 = Math.floor(sy), x0 = Math.floor(sx);
      const y1 = Math.min(height - 1, y0 + 1), x1 = Math.min(width - 1, x0 + 1);
      const fy = sy - y0, fx = sx - x0;
      const i = y * width + x;
      indices[0][i] = y0 * width + x0; weights[0][i] = (1 - fy) * (1 - fx);
      indices[1][i] = y0 * width + x1; weights[1][i] = (1 - fy) * fx;
      indices[2][i] = y1 * width + x0; weights[2][i] = fy * (1 - fx);
      indices[3][i] = y1 * width + x1; weights[3][i] = fy * fx;
    }
  }
  return { indices, weights };
}

/**
 * Applies a sampler to NHWC images, positions first so one gather serves the whole batch. The sampling
 * is linear, out = S·x, so its gradient is Sᵀ·dy: the same four index lists scattered back with
 * `scatterND` (which sums duplicate indices). tfjs gives `gatherND` no gradient of its own, hence the
 * custom one.
 */
function sample(images: tf.Tensor4D, sampler: Sampler): tf.Tensor4D {
  const [batch, height, width, channels] = images.shape;
  const n = height * width;
  const apply = tf.customGrad((...inputs: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, save] = inputs as [tf.Tensor, tf.GradSaveFunc];
    const positions = tf.reshape(tf.transpose(x as tf.Tensor4D, [1, 2, 0, 3]), [n, batch, channels]);
    let out: tf.Tensor | undefined;
    for (let k = 0; k < 4; k++) {
      const corner = tf.mul(tf.gatherND(positions, tf.tensor2d(sampler.indices[k], [n, 1], 'int32')), tf.tensor3d(sampler.weights[k], [n, 1, 1]));
      out = out ? tf.add(out, corner) : corner;
    }
    save([]);
    return {
      value: tf.transpose(tf.reshape(out!, [height, width, batch, channels]), [2, 0, 1, 3]),
      gradFunc: (dy: tf.Tensor) => {
        const upstream = tf.reshape(tf.transpose(dy as tf.Tensor4D, [1, 2, 0, 3]), [n, batch, channels]);
        let grad: tf.Tensor | undefined;
        for (let k = 0; k < 4; k++) {
          const weighted = tf.mul(upstream, tf.tensor3d(sampler.weights[k], [n, 1, 1]));
          const scattered = tf.scatterND(tf.tensor2d(sampler.indices[k], [n, 1], 'int32'), weighted, [n, batch, channels]);
          grad = grad ? tf.add(grad, scattered) : scattered;
        }
        return tf.transpose(tf.reshape(grad!, [height, width, batch, channels]), [2, 0, 1, 3]);
      },
    };
  });
  return apply(images) as tf.Tensor4D;
}

export const rotate: TransformFactory<RotateOptions> = (options, context) => {
  const degrees = options.degrees ?? DEFAULT_ROTATE_DEGREES;
  if (degrees.length === 0 || degrees.some((d) => !Number.isFinite(d))) throw new InvalidSpecError('degrees must be a non-empty list of angles', `${context?.field ?? 'transforms'}.degrees`);
  const samplers = new Map<string, Sampler>();
  const rotateBy = (images: tf.Tensor4D, angle: number): tf.Tensor4D => {
    if (angle % 360 === 0) return images;
    const [, height, width] = images.shape;
    const key = `${height}x${width}@${angle}`;
    let sampler = samplers.get(key);
    if (!sampler) samplers.set(key, sampler = rotationSampler(height, width, angle));
    return sample(images, sampler);
  };
  return (images, random, itemRandoms) => {
    const angles = (itemRandoms ?? [random]).map((stream) => randomChoice(stream, degrees));
    if (angles.every((angle) => angle === angles[0])) return rotateBy(images, angles[0]);
    // The sampling is per pixel and per item alike, so rotating the items one by one gives each the
    // values it would get alone.
    return tf.concat(angles.map((angle, item) => rotateBy(tf.slice(images, [item, 0, 0, 0], [1, -1, -1, -1]), angle)), 0);
  };
};
