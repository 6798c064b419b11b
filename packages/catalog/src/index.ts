/**
 * The model catalog: bundled models (a read-only folder in the repository) and uploaded models
 * (storage, under `models/<id>/`). Each model is its TF.js files plus `featurevis.json`, the ModelView
 * that GET /v1/models/{id} shows, written last so a half-uploaded model is never listed.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ModelView } from '@featurevis/contracts';
import type { Storage } from '@featurevis/storage';

export const MODEL_VIEW_FILE = 'featurevis.json';
export const modelKey = (id: string, file: string) => `models/${id}/${file}`;

export class ModelNotFoundError extends Error {
  readonly status = 404;
  constructor(readonly id: string) { super(`no model with id "${id}"`); this.name = 'ModelNotFoundError'; }
}

/** A model's files, as the engine's loader takes them. */
export interface CatalogModelFiles {
  view: ModelView;
  modelJson: unknown;
  readWeights(relativePath: string): Promise<Uint8Array>;
}

export class ModelCatalog {
  private bundled = new Map<string, ModelView>();
  private uploaded = new Map<string, ModelView>();
  private loadedBundled = false;

  constructor(private readonly storage: Storage, private readonly bundledDir: string) {}

  private async bundledViews(): Promise<Map<string, ModelView>> {
    if (this.loadedBundled) return this.bundled;
    let entries: string[] = [];
    try { entries = (await readdir(this.bundledDir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name); } catch { /* no bundled models */ }
    for (const dir of entries.sort()) {
      try {
        const view = JSON.parse(await readFile(path.join(this.bundledDir, dir, MODEL_VIEW_FILE), 'utf8')) as ModelView;
        this.bundled.set(view.id, { ...view, bundled: true });
      } catch { /* a folder without featurevis.json is not a model */ }
    }
    this.loadedBundled = true;
    return this.bundled;
  }

  async list(): Promise<ModelView[]> {
    const bundled = [...(await this.bundledViews()).values()];
    const keys = (await this.storage.list('models/')).filter((k) => k.endsWith(`/${MODEL_VIEW_FILE}`));
    const uploaded = await Promise.all(keys.map((k) => this.get(k.split('/')[1]!)));
    return [...bundled, ...uploaded].sort((a, b) => a.id.localeCompare(b.id));
  }

  async has(id: string): Promise<boolean> {
    try { await this.get(id); return true; } catch (err) { if (err instanceof ModelNotFoundError) return false; throw err; }
  }

  /** Models are immutable once registered, so their views are cached for the process's life. */
  async get(id: string): Promise<ModelView> {
    const bundled = (await this.bundledViews()).get(id);
    if (bundled) return bundled;
    const cached = this.uploaded.get(id);
    if (cached) return cached;
    let bytes: Uint8Array;
    try { bytes = await this.storage.get(modelKey(id, MODEL_VIEW_FILE)); } catch (err) {
      if ((err as Error).name === 'NotFoundError' || (err as Error).name === 'InvalidKeyError') throw new ModelNotFoundError(id);
      throw err;
    }
    const view = JSON.parse(Buffer.from(bytes).toString('utf8')) as ModelView;
    this.uploaded.set(id, view);
    return view;
  }

  async files(id: string): Promise<CatalogModelFiles> {
    const view = await this.get(id);
    if (view.bundled) {
      const dir = path.join(this.bundledDir, id);
      return {
        view,
        modelJson: JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8')),
        readWeights: async (p) => new Uint8Array(await readFile(path.join(dir, safeRelative(p)))),
      };
    }
    return {
      view,
      modelJson: JSON.parse(Buffer.from(await this.storage.get(modelKey(id, 'model.json'))).toString('utf8')),
      readWeights: (p) => this.storage.get(modelKey(id, safeRelative(p))),
    };
  }

  /**
   * Stores an uploaded model: weights and model.json first, the view last, so readers only ever see
   * complete models. The caller has inspected the files (the engine) and built the view.
   */
  async save(view: ModelView, files: Map<string, Uint8Array>): Promise<void> {
    for (const [name, bytes] of files) await this.storage.put(modelKey(view.id, safeRelative(name)), bytes);
    await this.storage.put(modelKey(view.id, MODEL_VIEW_FILE), JSON.stringify(view, null, 2), { contentType: 'application/json' });
    this.uploaded.set(view.id, view);
  }
}

/** Weight paths come from a user's manifest: keep them inside the model's folder. */
function safeRelative(p: string): string {
  const normal = path.posix.normalize(p.replace(/^\.\//, ''));
  if (normal.startsWith('..') || path.posix.isAbsolute(normal) || !/^[A-Za-z0-9._/-]+$/.test(normal)) throw new Error(`weight path "${p}" is not a plain relative file name`);
  return normal;
}

export {
  ReferenceSetCatalog, ReferenceSetNotFoundError, ReferenceImageError, decodeReferenceImage, encodeRgbPng, imageFormat,
  referenceSetKey, referenceImageKey, referenceSetsNamed, REFERENCE_SET_MANIFEST, type RgbImage, type ReferenceSetUpload,
} from './reference-sets.ts';
