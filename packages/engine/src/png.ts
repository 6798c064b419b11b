/**
 * PNG encoding of the engine's images (NHWC RGB in [0,1]) with pngjs. Quantisation rounds to the
 * nearest 8-bit level after clamping, so the same floats always give the same bytes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { PNG } from 'pngjs';
import type { EncodedImage } from './types.ts';

/** Encodes one RGB image given as interleaved floats in [0,1] (height × width × 3). */
export function encodePng(rgb: Float32Array | number[], width: number, height: number): Uint8Array {
  if (rgb.length !== width * height * 3) throw new RangeError(`expected ${width * height * 3} values for a ${width}×${height} RGB image, got ${rgb.length}`);
  const png = new PNG({ width, height, colorType: 2, inputColorType: 2, inputHasAlpha: false });
  const data = Buffer.alloc(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.round(Math.min(1, Math.max(0, rgb[i])) * 255);
  png.data = data;
  return new Uint8Array(PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false }));
}

/** Encodes every image of a batch; the tensor is left to the caller. */
export async function encodeBatch(images: tf.Tensor4D): Promise<EncodedImage[]> {
  const [batch, height, width, channels] = images.shape;
  if (channels !== 3) throw new RangeError(`expected RGB images, got ${channels} channels`);
  const values = await images.data() as Float32Array;
  const perImage = height * width * 3;
  return Array.from({ length: batch }, (_, index) => ({
    index, width, height, png: encodePng(values.subarray(index * perImage, (index + 1) * perImage), width, height),
  }));
}

/** Decodes a PNG to RGB floats in [0,1] (alpha dropped): for tests and image-based initialisation. */
export function decodePng(bytes: Uint8Array): { width: number; height: number; rgb: Float32Array } {
  const png = PNG.sync.read(Buffer.from(bytes));
  const rgb = new Float32Array(png.width * png.height * 3);
  for (let i = 0, j = 0; i < png.data.length; i += 4, j += 3) {
    rgb[j] = png.data[i] / 255; rgb[j + 1] = png.data[i + 1] / 255; rgb[j + 2] = png.data[i + 2] / 255;
  }
  return { width: png.width, height: png.height, rgb };
}
