/**
 * The procedural "shapes" image set: seeded, any size, classes with known causes (shapeClasses.ts).
 * Image k of a seed depends only on (seed, k, sizePx), so a larger set extends a smaller one and any
 * single image can be re-rendered. It is the training set of the bundled models and the engine's
 * default reference image set (for diversity and natural-image statistics).
 */
import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import { Raster } from './raster.ts';
import { CLASSES } from './shapeClasses.ts';

export const DEFAULT_SHAPES_SIZE_PX = 32;
/** Per-value uniform noise so that no two images of a class are exactly alike in flat regions. */
const NOISE_AMPLITUDE = 0.04;

export interface ShapesOptions {
  count: number;
  seed: number;
  sizePx?: number;
  /** Class indices to draw from, in turn; all classes by default. */
  classes?: readonly number[];
}

export interface ShapesBatch {
  /** NHWC, RGB in [0,1]: count × sizePx × sizePx × 3. */
  images: Float32Array;
  /** Class index of each image (into CLASSES). */
  labels: Int32Array;
  /** Variant index of each image (into CLASSES[label].variants). */
  variants: Int32Array;
  count: number;
  sizePx: number;
}

export interface RenderShapeOptions {
  seed: number;
  /** Which image of the seed this is. */
  index?: number;
  sizePx?: number;
  /** A fixed variant; otherwise drawn at random. */
  variant?: number;
}

/** Renders one image of the given class: HWC RGB in [0,1]. */
export function renderShape(classIndex: number, options: RenderShapeOptions): { pixels: Float32Array; variant: number } {
  const shapeClass = CLASSES[classIndex];
  if (!shapeClass) throw new RangeError(`no class ${classIndex}; there are ${CLASSES.length}`);
  const random = seedrandom(`${options.seed}/${options.index ?? 0}`);
  const variant = options.variant ?? Math.floor(random() * shapeClass.variants.length);
  if (variant < 0 || variant >= shapeClass.variants.length) throw new RangeError(`class ${shapeClass.label} has no variant ${variant}`);
  const raster = new Raster(options.sizePx ?? DEFAULT_SHAPES_SIZE_PX);
  shapeClass.draw(raster, random, variant);
  raster.addNoise(NOISE_AMPLITUDE, random);
  return { pixels: raster.pixels, variant };
}

/** `count` images taking the classes in turn (balanced), each seeded by (seed, index). */
export function generateShapes(options: ShapesOptions): ShapesBatch {
  const sizePx = options.sizePx ?? DEFAULT_SHAPES_SIZE_PX;
  const classes = options.classes ?? CLASSES.map((_, index) => index);
  if (classes.length === 0) throw new RangeError('no classes to draw from');
  const pixelsPerImage = sizePx * sizePx * 3;
  const images = new Float32Array(options.count * pixelsPerImage);
  const labels = new Int32Array(options.count);
  const variants = new Int32Array(options.count);
  for (let index = 0; index < options.count; index++) {
    const label = classes[index % classes.length];
    const { pixels, variant } = renderShape(label, { seed: options.seed, index, sizePx });
    images.set(pixels, index * pixelsPerImage);
    labels[index] = label;
    variants[index] = variant;
  }
  return { images, labels, variants, count: options.count, sizePx };
}

/** A ShapesBatch's images as a tensor, NHWC RGB in [0,1]. */
export function shapesTensor(batch: ShapesBatch): tf.Tensor4D {
  return tf.tensor4d(batch.images, [batch.count, batch.sizePx, batch.sizePx, 3]);
}

/** The default reference image set: `count` images of all classes in turn, as a tensor. */
export function referenceImages(count: number, options: { seed?: number; sizePx?: number } = {}): tf.Tensor4D {
  return shapesTensor(generateShapes({ count, seed: options.seed ?? 0, sizePx: options.sizePx }));
}
