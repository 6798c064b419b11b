/**
 * Uploaded reference image sets (issue 5), stored like models: under `reference-sets/<id>/`, each image
 * normalised (decoded and re-encoded as an 8-bit RGB PNG, `image-<index>.png`) and `manifest.json`, the
 * ReferenceSetView that GET /v1/reference-sets/{id} shows, written last so a half-uploaded set is never
 * listed. The bundled procedural set `shapes` is the engine's and is not stored.
 */
import { createHash } from 'node:crypto';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import type { EngineSettingsRequest, ReferenceSetView } from '@featurevis/contracts';
import type { Storage } from '@featurevis/storage';

export const REFERENCE_SET_MANIFEST = 'manifest.json';
export const referenceSetKey = (id: string, file: string) => `reference-sets/${id}/${file}`;
export const referenceImageKey = (id: string, index: number) => referenceSetKey(id, `image-${index}.png`);

export class ReferenceSetNotFoundError extends Error {
  readonly status = 404;
  constructor(readonly id: string) { super(`no reference set with id "${id}"`); this.name = 'ReferenceSetNotFoundError'; }
}

/** An image that is not a PNG or JPEG, does not decode, or is too large: the upload's fault. */
export class ReferenceImageError extends Error {
  constructor(message: string) { super(message); this.name = 'ReferenceImageError'; }
}

/** One decoded image: 8-bit RGB, row after row. */
export interface RgbImage { width: number; height: number; rgb: Uint8Array }

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_SIGNATURE = [0xff, 0xd8, 0xff];
const startsWith = (bytes: Uint8Array, signature: number[]) => bytes.length >= signature.length && signature.every((b, i) => bytes[i] === b);

/** 'png', 'jpeg', or null: by the file's first bytes, never by its name. */
export function imageFormat(bytes: Uint8Array): 'png' | 'jpeg' | null {
  return startsWith(bytes, PNG_SIGNATURE) ? 'png' : startsWith(bytes, JPEG_SIGNATURE) ? 'jpeg' : null;
}

/**
 * Decodes a PNG or JPEG to 8-bit RGB: grey is repeated into three channels, alpha is dropped (composited
 * over nothing: a reference image is what the model would see), 16-bit PNGs are scaled to 8 bits. The
 * size is checked before decoding (a PNG's header, jpeg-js's resolution bound), so a tiny file claiming
 * a huge image costs nothing.
 */
export function decodeReferenceImage(bytes: Uint8Array, maxSidePx: number): RgbImage {
  const format = imageFormat(bytes);
  if (!format) throw new ReferenceImageError('not a PNG or JPEG (no PNG or JPEG signature)');
  const tooLarge = (width: number, height: number) => new ReferenceImageError(`${width}×${height} px is larger than ${maxSidePx} px on a side (REFERENCE_SET_MAX_SIDE_PX)`);
  let width: number; let height: number; let rgba: Uint8Array;
  try {
    if (format === 'png') {
      if (bytes.length < 24) throw new Error('truncated header');
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      if (view.getUint32(12) !== 0x49484452) throw new Error('no IHDR chunk');
      if (view.getUint32(16) > maxSidePx || view.getUint32(20) > maxSidePx) throw tooLarge(view.getUint32(16), view.getUint32(20));
      // pngjs expands every colour type (palette, grey, 16-bit) to 8-bit RGBA.
      const png = PNG.sync.read(Buffer.from(bytes));
      ({ width, height } = png);
      rgba = png.data;
    } else {
      const decoded = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: (maxSidePx * maxSidePx) / 1e6 + 1, maxMemoryUsageInMB: 1024 });
      ({ width, height } = decoded);
      rgba = decoded.data;
    }
  } catch (err) {
    if (err instanceof ReferenceImageError) throw err;
    throw new ReferenceImageError(`not a decodable ${format.toUpperCase()}: ${(err as Error).message}`);
  }
  if (width < 1 || height < 1) throw new ReferenceImageError(`${width}×${height} px: an image needs at least one pixel`);
  if (width > maxSidePx || height > maxSidePx) throw tooLarge(width, height);
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; j < rgb.length; i += 4, j += 3) { rgb[j] = rgba[i]!; rgb[j + 1] = rgba[i + 1]!; rgb[j + 2] = rgba[i + 2]!; }
  return { width, height, rgb };
}

/** The stored form of every image: an 8-bit RGB PNG. */
export function encodeRgbPng(image: RgbImage): Uint8Array {
  const png = new PNG({ width: image.width, height: image.height, colorType: 2, inputColorType: 2, inputHasAlpha: false });
  png.data = Buffer.from(image.rgb.buffer, image.rgb.byteOffset, image.rgb.byteLength);
  return new Uint8Array(PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false }));
}

/** A validated upload: its images in set order, each with its file name and optional label. */
export interface ReferenceSetUpload {
  id: string;
  images: Array<{ name: string; label: string | null; image: RgbImage }>;
}

/** A reference set a request names, with the field that names it; for an inversion's target, the image's index too. */
export interface ReferenceSetNamed {
  id: string;
  field: string;
  index?: { value: number; field: string };
}

/**
 * Every reference set a request names (`reference.set`, `parameterization.decorrelate.images`, an
 * inversion's `image.reference.set`), with the field that names it: the API checks they exist (and that
 * an inversion's image index is in the set), the worker loads them.
 */
export function referenceSetsNamed(request: EngineSettingsRequest): ReferenceSetNamed[] {
  const named: ReferenceSetNamed[] = [];
  if (request.reference) named.push({ id: request.reference.set, field: 'reference.set' });
  const decorrelate = (request.parameterization as { decorrelate?: unknown } | undefined)?.decorrelate;
  if (decorrelate && typeof decorrelate === 'object' && 'images' in decorrelate) named.push({ id: String(decorrelate.images), field: 'parameterization.decorrelate.images' });
  const walk = (objective: unknown, field: string): void => {
    if (Array.isArray(objective)) { objective.forEach((o, i) => walk(o, `${field}[${i}]`)); return; }
    if (!objective || typeof objective !== 'object') return;
    const node = objective as Record<string, unknown>;
    if (node.type === 'inversion' && node.image && typeof node.image === 'object') {
      const { set, index } = (node.image as { reference: { set: string; index: number } }).reference;
      named.push({ id: String(set), field: `${field}.image.reference.set`, index: { value: index, field: `${field}.image.reference.index` } });
    }
    for (const [key, value] of Object.entries(node)) if (value && typeof value === 'object' && key !== 'image') walk(value, `${field}.${key}`);
  };
  walk(request.objective, 'objective');
  return named;
}

export class ReferenceSetCatalog {
  private readonly views = new Map<string, ReferenceSetView>();

  constructor(private readonly storage: Storage) {}

  async list(): Promise<ReferenceSetView[]> {
    const keys = (await this.storage.list('reference-sets/')).filter((k) => k.endsWith(`/${REFERENCE_SET_MANIFEST}`));
    return Promise.all(keys.map((k) => this.get(k.split('/')[1]!)));
  }

  async has(id: string): Promise<boolean> {
    return (await this.find(id)) !== null;
  }

  /** The set's view, or null where no set has the id. */
  async find(id: string): Promise<ReferenceSetView | null> {
    try { return await this.get(id); } catch (err) { if (err instanceof ReferenceSetNotFoundError) return null; throw err; }
  }

  /** Sets are immutable once stored, so their views are cached for the process's life. */
  async get(id: string): Promise<ReferenceSetView> {
    const cached = this.views.get(id);
    if (cached) return cached;
    let bytes: Uint8Array;
    try { bytes = await this.storage.get(referenceSetKey(id, REFERENCE_SET_MANIFEST)); } catch (err) {
      if ((err as Error).name === 'NotFoundError' || (err as Error).name === 'InvalidKeyError') throw new ReferenceSetNotFoundError(id);
      throw err;
    }
    const view = JSON.parse(Buffer.from(bytes).toString('utf8')) as ReferenceSetView;
    this.views.set(id, view);
    return view;
  }

  /** A stored set's images, decoded, in set order. */
  async images(id: string): Promise<{ view: ReferenceSetView; images: RgbImage[] }> {
    const view = await this.get(id);
    const images = await Promise.all(view.images.map(async (image) => decodeReferenceImage(await this.storage.get(image.key), Math.max(image.width, image.height))));
    return { view, images };
  }

  /**
   * Stores a validated upload: the images first, the manifest last, so readers only ever see complete
   * sets. A failure part-way deletes what was written.
   */
  async save(upload: ReferenceSetUpload): Promise<ReferenceSetView> {
    const hash = createHash('sha256');
    const pngs = upload.images.map(({ name, label, image }) => {
      const png = encodeRgbPng(image);
      hash.update(png).update(`\0${label ?? ''}\0`);
      return { name, label, width: image.width, height: image.height, png };
    });
    const labels = upload.images.some((i) => i.label !== null) ? [...new Set(upload.images.flatMap((i) => (i.label === null ? [] : [i.label])))].sort() : null;
    const view: ReferenceSetView = {
      id: upload.id,
      bundled: false,
      count: pngs.length,
      hash: hash.digest('hex'),
      labels,
      images: pngs.map(({ name, label, width, height }, index) => ({ index, name, label, width, height, key: referenceImageKey(upload.id, index) })),
      createdAt: new Date().toISOString(),
    };
    const written: string[] = [];
    try {
      for (const [index, { png }] of pngs.entries()) {
        const key = referenceImageKey(upload.id, index);
        await this.storage.put(key, png, { contentType: 'image/png' });
        written.push(key);
      }
      await this.storage.put(referenceSetKey(upload.id, REFERENCE_SET_MANIFEST), JSON.stringify(view, null, 2), { contentType: 'application/json' });
    } catch (err) {
      await Promise.allSettled(written.map((key) => this.storage.delete(key)));
      throw err;
    }
    this.views.set(view.id, view);
    return view;
  }
}
