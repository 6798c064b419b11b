/**
 * Uploaded reference image sets for a run (issue 5): the sets a spec names are read from storage,
 * resized (bilinear) to the run's image size and handed to the engine thread with the run, in the form
 * the engine takes (`ReferenceImageSet`, datasets/referenceSets.ts). Sets are immutable once stored, so
 * a resized set is cached per process, keyed by its content hash and size, within a memory budget
 * (least recently used evicted first). The bundled `shapes` set is the engine's own: nothing to load.
 */
import type { EngineSettingsRequest } from '@featurevis/contracts';
import { REFERENCE_SETS } from '@featurevis/contracts';
import { ReferenceSetNotFoundError, referenceSetsNamed, type ReferenceSetCatalog, type RgbImage } from '@featurevis/catalog';
import type { ReferenceImageSet } from '@featurevis/engine/datasets';
import { EngineRunError } from './engine-pool.ts';

/**
 * Bilinear resize of 8-bit RGB to size × size, with half-pixel centres (as tf.image.resizeBilinear
 * with halfPixelCenters): a non-square image is stretched, as a PNG inversion target is.
 */
export function resizeBilinear(image: RgbImage, sizePx: number): Uint8Array {
  const { width, height, rgb } = image;
  const out = new Uint8Array(sizePx * sizePx * 3);
  const scaleX = width / sizePx;
  const scaleY = height / sizePx;
  for (let y = 0; y < sizePx; y++) {
    const sy = Math.min(height - 1, Math.max(0, (y + 0.5) * scaleY - 0.5));
    const y0 = Math.floor(sy); const y1 = Math.min(height - 1, y0 + 1); const fy = sy - y0;
    for (let x = 0; x < sizePx; x++) {
      const sx = Math.min(width - 1, Math.max(0, (x + 0.5) * scaleX - 0.5));
      const x0 = Math.floor(sx); const x1 = Math.min(width - 1, x0 + 1); const fx = sx - x0;
      for (let c = 0; c < 3; c++) {
        const top = rgb[(y0 * width + x0) * 3 + c]! * (1 - fx) + rgb[(y0 * width + x1) * 3 + c]! * fx;
        const bottom = rgb[(y1 * width + x0) * 3 + c]! * (1 - fx) + rgb[(y1 * width + x1) * 3 + c]! * fx;
        out[(y * sizePx + x) * 3 + c] = Math.round(top * (1 - fy) + bottom * fy);
      }
    }
  }
  return out;
}

export class ReferenceSetLoader {
  /** Insertion order = least recently used first. */
  private readonly cache = new Map<string, ReferenceImageSet>();

  constructor(private readonly catalog: ReferenceSetCatalog, private readonly budgetBytes: number) {}

  /** The uploaded sets `spec` names, at `sizePx`; an EngineRunError('invalid') naming the field for a set that is gone. */
  async forRun(spec: EngineSettingsRequest, sizePx: number): Promise<ReferenceImageSet[]> {
    const named = referenceSetsNamed(spec).filter(({ id }) => !(REFERENCE_SETS as readonly string[]).includes(id));
    const unique = [...new Map(named.map((n) => [n.id, n])).values()];
    return Promise.all(unique.map(async ({ id, field }) => {
      try {
        return await this.load(id, sizePx);
      } catch (err) {
        if (err instanceof ReferenceSetNotFoundError) throw new EngineRunError('invalid', `${field}: ${err.message}`, field);
        throw err;
      }
    }));
  }

  private async load(id: string, sizePx: number): Promise<ReferenceImageSet> {
    const view = await this.catalog.get(id);
    const key = `${id}@${view.hash}@${sizePx}`;
    const hit = this.cache.get(key);
    if (hit) { this.cache.delete(key); this.cache.set(key, hit); return hit; }
    const { images } = await this.catalog.images(id);
    const perImage = sizePx * sizePx * 3;
    const pixels = new Uint8Array(images.length * perImage);
    images.forEach((image, i) => pixels.set(image.width === sizePx && image.height === sizePx ? image.rgb : resizeBilinear(image, sizePx), i * perImage));
    const set: ReferenceImageSet = { id, hash: view.hash!, sizePx, count: images.length, pixels, labels: view.images.map((image) => image.label ?? image.name) };
    this.cache.set(key, set);
    let total = [...this.cache.values()].reduce((n, s) => n + s.pixels.byteLength, 0);
    for (const [k, s] of this.cache) {
      if (total <= this.budgetBytes || k === key) break;
      this.cache.delete(k); total -= s.pixels.byteLength;
    }
    return set;
  }
}
