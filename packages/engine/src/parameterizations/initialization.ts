/**
 * Where the optimisation starts (the request's `init`). Noise is drawn by each parameterisation in its
 * own variable space; every other start is an image in [0,1] that the parameterisation writes through
 * its inverse (`setImages`), so "start from this image" means the first render *is* this image.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Init } from '@featurevis/contracts';
import { PNG } from 'pngjs';
import { InvalidSpecError } from '../types.ts';

/**
 * The request's init (noise { std }, constant { value }, mean, image { png }), or, for library callers,
 * an image given as pixels: RGB in [0,1], HWC (one image for the whole batch) or NHWC (one per item).
 */
export type Initialization = Init | { type: 'image'; pixels: ArrayLike<number> | tf.Tensor };

/** What the init needs to know of the run. */
export interface InitializationContext {
  batch: number;
  sizePx: number;
  /** The model's input mean colour in [0,1] (from its normalisation), for `{ type: 'mean' }`; grey when absent. */
  meanRgb?: readonly number[];
}

/** Noise std when the init gives none (Lucid's pixel, Fourier and pyramid images start at 0.01). */
export const DEFAULT_NOISE_STD = 0.01;

/** The std of the noise start, or 0 when the init is an image (noise would only be overwritten). */
export function noiseStd(init: Initialization | undefined): number {
  if (init === undefined) return DEFAULT_NOISE_STD;
  return init.type === 'noise' ? init.std ?? DEFAULT_NOISE_STD : 0;
}

/** The init's target images [batch, size, size, 3] in [0,1], or null for noise. */
export function initialImages(init: Initialization | undefined, context: InitializationContext): tf.Tensor4D | null {
  if (init === undefined || init.type === 'noise') return null;
  const { batch, sizePx } = context;
  const shape: [number, number, number, number] = [batch, sizePx, sizePx, 3];
  switch (init.type) {
    case 'constant':
      return tf.fill(shape, checkedColour([init.value ?? 0.5], 'init.value')[0]);
    case 'mean': {
      const mean = checkedColour(context.meanRgb ?? [0.5, 0.5, 0.5], 'init');
      const rgb = mean.length === 1 ? [mean[0], mean[0], mean[0]] : mean;
      return tf.tidy(() => tf.mul(tf.ones(shape), tf.tensor1d(rgb)) as tf.Tensor4D);
    }
    case 'image':
      return 'png' in init ? decodePngImage(init.png, context) : pixelImages(init.pixels, context);
    default:
      throw new InvalidSpecError(`unknown init type ${(init as { type: string }).type}`, 'init.type');
  }
}

function checkedColour(values: readonly number[], field: string): number[] {
  if (!(values.length === 1 || values.length === 3) || values.some((v) => !(v >= 0 && v <= 1))) {
    throw new InvalidSpecError(`init colour ${JSON.stringify(values)} must be one or three values in [0,1]`, field);
  }
  return [...values];
}

function pixelImages(pixels: ArrayLike<number> | tf.Tensor, { batch, sizePx }: InitializationContext): tf.Tensor4D {
  const values = pixels instanceof tf.Tensor ? pixels.dataSync() : pixels;
  const perImage = sizePx * sizePx * 3;
  if (values.length === perImage) {
    return tf.tidy(() => tf.tile(tf.tensor4d(Float32Array.from(values), [1, sizePx, sizePx, 3]), [batch, 1, 1, 1]));
  }
  if (values.length === perImage * batch) return tf.tensor4d(Float32Array.from(values), [batch, sizePx, sizePx, 3]);
  throw new InvalidSpecError(`init image has ${values.length} values; expected ${perImage} (${sizePx}×${sizePx}×3) or ${perImage * batch}`, 'init.pixels');
}

/**
 * A base64 PNG, composited over grey where it is transparent (grey is the neutral start of AM), and
 * resized bilinearly to the image size; the same image starts every batch item.
 */
function decodePngImage(base64: string, { batch, sizePx }: InitializationContext): tf.Tensor4D {
  let png: PNG;
  try {
    png = PNG.sync.read(Buffer.from(base64, 'base64'));
  } catch (error) {
    throw new InvalidSpecError(`init image is not a valid base64 PNG: ${(error as Error).message}`, 'init.png');
  }
  const { width, height, data } = png; // 8-bit RGBA, whatever the file's colour type
  const rgb = new Float32Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const alpha = data[p * 4 + 3] / 255;
    for (let c = 0; c < 3; c++) rgb[p * 3 + c] = alpha * (data[p * 4 + c] / 255) + (1 - alpha) * 0.5;
  }
  return tf.tidy(() => {
    const image = tf.tensor4d(rgb, [1, height, width, 3]);
    const resized = height === sizePx && width === sizePx ? image : tf.image.resizeBilinear(image, [sizePx, sizePx], false, true);
    return tf.tile(tf.clipByValue(resized, 0, 1), [batch, 1, 1, 1]);
  });
}
