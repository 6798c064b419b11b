/**
 * Reference image sets (issue 5): the set a request's `reference.set`, `decorrelate.images` and an
 * inversion's `image.reference.set` name. `shapes` is the bundled procedural set, rendered on demand at
 * any size; any other name is a set uploaded through the API. The engine knows nothing of where an
 * uploaded set is stored: whoever runs it (the worker's engine thread) loads the set, resizes it to the
 * run's image size and provides it here for the length of the run (`provideReferenceSets`).
 *
 * Every consumer (metrics/referenceSet.ts, facets.ts, objectives/inversion.ts, colour decorrelation)
 * reads a set through one `ReferenceImageSource`, so a new kind of set is one branch here.
 */
import { InvalidSpecError } from '../types.ts';
import { LABELS } from './shapeClasses.ts';
import { generateShapes, renderShape } from './shapesDataset.ts';

/** The bundled procedural set's name. */
export const BUNDLED_REFERENCE_SET = 'shapes';

/** An uploaded set as the engine takes it: every image at one size, RGB bytes. */
export interface ReferenceImageSet {
  id: string;
  /** Content hash of the stored images: two sets with one hash hold the same images. */
  hash: string;
  sizePx: number;
  count: number;
  /** count × sizePx × sizePx × 3, RGB, 0–255, image after image. */
  pixels: Uint8Array;
  /** Per image: its label, or its file name where the upload gave none. */
  labels: string[];
}

/** Images of a set at one size, however the set is made. */
export interface ReferenceImageSource {
  name: string;
  /** How many images a run evaluates: the request's count, at most the set's size. */
  count: number;
  /** Images `indices`, NHWC RGB in [0,1], concatenated. */
  pixels(indices: readonly number[]): Float32Array;
  label(index: number): string;
}

const provided = new Map<string, ReferenceImageSet>();

/**
 * Makes uploaded sets available by id until the returned function is called. The caller resized every
 * set to the run's image size; a source asked for another size fails loudly rather than rescaling.
 */
export function provideReferenceSets(sets: readonly ReferenceImageSet[]): () => void {
  for (const set of sets) provided.set(set.id, set);
  return () => { for (const set of sets) if (provided.get(set.id) === set) provided.delete(set.id); };
}

/**
 * The set `name` at `sizePx`: shapes rendered with `seed` (image k is of class k mod 8), an uploaded set
 * in upload order. `count` caps how many images a run reads. An InvalidSpecError at `field` when no such
 * set was provided.
 */
export function referenceImageSource(name: string, options: { seed: number; count: number; sizePx: number; field: string }): ReferenceImageSource {
  const { seed, sizePx } = options;
  if (name === BUNDLED_REFERENCE_SET) {
    return {
      name,
      count: options.count,
      pixels: (indices) => {
        const perImage = sizePx * sizePx * 3;
        const out = new Float32Array(indices.length * perImage);
        indices.forEach((index, k) => out.set(renderShape(index % LABELS.length, { seed, index, sizePx }).pixels, k * perImage));
        return out;
      },
      label: (index) => LABELS[index % LABELS.length],
    };
  }
  const set = provided.get(name);
  if (!set) throw new InvalidSpecError(`no reference set "${name}" (GET /v1/reference-sets lists them)`, options.field);
  if (set.sizePx !== sizePx) throw new Error(`reference set "${name}" was provided at ${set.sizePx} px; the run needs ${sizePx} px`);
  const perImage = sizePx * sizePx * 3;
  return {
    name,
    count: Math.min(options.count, set.count),
    pixels: (indices) => {
      const out = new Float32Array(indices.length * perImage);
      indices.forEach((index, k) => {
        if (index < 0 || index >= set.count) throw new InvalidSpecError(`reference set "${name}" has ${set.count} images; there is no image ${index}`, options.field);
        const start = index * perImage;
        for (let i = 0; i < perImage; i++) out[k * perImage + i] = set.pixels[start + i] / 255;
      });
      return out;
    },
    label: (index) => set.labels[index] ?? String(index),
  };
}

/**
 * The images a colour matrix is computed from (`decorrelate: { images }`): 256 shapes images (seed 0,
 * 32 px; the set the bundled models learned) or every image of an uploaded set, and a cache key.
 */
export function colourStatisticsImages(name: string): { key: string; pixels: () => Float32Array } {
  if (name === BUNDLED_REFERENCE_SET) return { key: name, pixels: () => generateShapes({ count: 256, seed: 0, sizePx: 32 }).images };
  const set = provided.get(name);
  if (!set) throw new InvalidSpecError(`no reference set "${name}" (GET /v1/reference-sets lists them)`, 'parameterization.decorrelate.images');
  return { key: `${set.id}@${set.hash}`, pixels: () => Float32Array.from(set.pixels, (v) => v / 255) };
}
