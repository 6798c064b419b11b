/**
 * Colour decorrelation (Olah, Mordvintsev & Schubert 2017, "Feature Visualization", Distill; Lucid's
 * `_linear_decorelate_color`). The optimiser works in a space whose three channels are uncorrelated
 * across natural images; a fixed 3×3 matrix — a square root of the colour covariance — maps that space
 * to RGB. Without it the optimiser spends its steps on colour noise that natural images never show.
 */
import * as tf from '@tensorflow/tfjs-core';
import { colourStatisticsImages } from '../datasets/referenceSets.ts';
import { EigenvalueDecomposition, Matrix, inverse } from 'ml-matrix';

/** A 3×3 matrix as rows. */
export type ColorMatrix = readonly (readonly number[])[];

/**
 * Lucid's `color_correlation_svd_sqrt`, computed from ImageNet: U·√Λ of the RGB covariance, one
 * column per principal colour (luminance first).
 */
export const IMAGENET_COLOR_CORRELATION_SQRT: ColorMatrix = [
  [0.26, 0.09, 0.02],
  [0.27, 0.0, -0.05],
  [0.27, -0.09, 0.03],
];

/**
 * The square root of the colour covariance of a set of images, in Lucid's form U·√Λ (eigenvectors of
 * the covariance scaled by the square roots of their eigenvalues, largest first), so that a
 * decorrelated colour with unit variance per channel maps to a pixel with that covariance.
 * `images` are NHWC or flat RGB triples in [0,1].
 */
export function colorCorrelationSqrtFromImages(images: tf.Tensor | ArrayLike<number>): ColorMatrix {
  const values = images instanceof tf.Tensor ? images.dataSync() : images;
  const pixelCount = Math.floor(values.length / 3);
  if (pixelCount < 2) throw new RangeError('colorCorrelationSqrtFromImages needs at least two RGB pixels');
  const mean = [0, 0, 0];
  for (let i = 0; i < pixelCount * 3; i++) mean[i % 3] += values[i] / pixelCount;
  const covariance = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  for (let p = 0; p < pixelCount; p++) {
    for (let a = 0; a < 3; a++) {
      for (let b = 0; b < 3; b++) {
        covariance[a][b] += (values[p * 3 + a] - mean[a]) * (values[p * 3 + b] - mean[b]) / (pixelCount - 1);
      }
    }
  }
  const eigen = new EigenvalueDecomposition(new Matrix(covariance), { assumeSymmetric: true });
  const order = [0, 1, 2].sort((i, j) => eigen.realEigenvalues[j] - eigen.realEigenvalues[i]);
  const vectors = eigen.eigenvectorMatrix;
  return [0, 1, 2].map((row) => order.map((column) => vectors.get(row, column) * Math.sqrt(Math.max(0, eigen.realEigenvalues[column]))));
}

/**
 * Lucid divides the matrix by its largest column norm so that a unit step in decorrelated space never
 * moves a pixel by more than a unit step in RGB.
 */
export function normalizeColorMatrix(matrix: ColorMatrix): number[][] {
  const columnNorms = [0, 1, 2].map((c) => Math.hypot(matrix[0][c], matrix[1][c], matrix[2][c]));
  const largest = Math.max(...columnNorms);
  if (!(largest > 0)) throw new RangeError('colour matrix is zero');
  return matrix.map((row) => row.map((value) => value / largest));
}

/** Maps decorrelated colours to RGB and back. Both directions are linear; `toRgb(fromRgb(x)) = x`. */
export class ColorDecorrelation {
  /** Right-multiplies flat [N,3] colours: rgb = t · Mᵀ. */
  readonly toRgbMatrix: tf.Tensor2D;
  readonly fromRgbMatrix: tf.Tensor2D;

  constructor(matrix: ColorMatrix = IMAGENET_COLOR_CORRELATION_SQRT) {
    const normalized = normalizeColorMatrix(matrix);
    const transposed = new Matrix(normalized).transpose();
    this.toRgbMatrix = tf.tensor2d(transposed.to2DArray());
    this.fromRgbMatrix = tf.tensor2d(inverse(transposed).to2DArray());
  }

  toRgb(decorrelated: tf.Tensor4D): tf.Tensor4D {
    return applyColorMatrix(decorrelated, this.toRgbMatrix);
  }

  fromRgb(rgb: tf.Tensor4D): tf.Tensor4D {
    return applyColorMatrix(rgb, this.fromRgbMatrix);
  }

  dispose(): void {
    this.toRgbMatrix.dispose();
    this.fromRgbMatrix.dispose();
  }
}

function applyColorMatrix(images: tf.Tensor4D, matrix: tf.Tensor2D): tf.Tensor4D {
  return tf.tidy(() => tf.reshape(tf.matMul(tf.reshape(images, [-1, 3]), matrix), images.shape));
}

/** What a request's `decorrelate` may name: Lucid's fixed matrix, a given one, or one computed from an image set. */
export type DecorrelateOption = boolean | { matrix: ColorMatrix } | { images: string };

/** Matrices computed from image sets, by set and content (sets are immutable once stored). */
const setMatrices = new Map<string, ColorMatrix>();

/**
 * The colour matrix a `decorrelate` option names (not false). `{ images: 'shapes' }` computes it from
 * the bundled procedural image set (256 images, seed 0, 32 px; the set the bundled models learned),
 * `{ images: '<id>' }` from every image of an uploaded reference set; each once per process.
 */
export function resolveColorMatrix(option: Exclude<DecorrelateOption, false>): ColorMatrix {
  if (option === true) return IMAGENET_COLOR_CORRELATION_SQRT;
  if ('matrix' in option) return option.matrix;
  const images = colourStatisticsImages(option.images);
  let matrix = setMatrices.get(images.key);
  if (!matrix) {
    matrix = colorCorrelationSqrtFromImages(images.pixels());
    setMatrices.set(images.key, matrix);
  }
  return matrix;
}
