/**
 * Bundled models (models/<id>/ in the repository): model.json, its weight files, and featurevis.json,
 * the ModelView written at training time, from which the name, labels, input range and default size
 * are taken.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import type { ModelMetadata, ModelView } from '@featurevis/contracts';
import type { LoadedModel, ModelFiles } from '../types.ts';
import { InvalidSpecError } from '../types.ts';
import { loadModel, type LoadModelOptions } from './loadModel.ts';

export const MODEL_JSON_FILE = 'model.json';
export const MODEL_VIEW_FILE = 'featurevis.json';

/** ModelFiles reading from a folder; weight paths may not leave it. */
export async function modelFilesFromDirectory(dir: string): Promise<ModelFiles> {
  const root = resolve(dir);
  const modelJson: unknown = JSON.parse(await readFile(join(root, MODEL_JSON_FILE), 'utf8'));
  return {
    modelJson,
    async readWeights(path) {
      const file = resolve(root, path);
      if (!file.startsWith(root + sep)) throw new InvalidSpecError(`weight path "${path}" leaves the model's folder`, 'model');
      return new Uint8Array(await readFile(file));
    },
  };
}

/** The metadata a saved ModelView carries (what an upload would give as ModelMetadata). */
export function metadataFromView(view: Partial<ModelView>): ModelMetadata {
  const metadata: ModelMetadata = {};
  if (view.name) metadata.name = view.name;
  if (view.labels) metadata.labels = view.labels;
  if (view.input?.mean && view.input.std) metadata.input = { mean: view.input.mean, std: view.input.std };
  else if (view.input?.range) metadata.input = { range: view.input.range };
  return metadata;
}

export async function readSavedModelView(dir: string): Promise<Partial<ModelView> | null> {
  const file = join(resolve(dir), MODEL_VIEW_FILE);
  if (!existsSync(file)) return null;
  return JSON.parse(await readFile(file, 'utf8')) as Partial<ModelView>;
}

export async function loadModelFromDirectory(dir: string, id: string, options: Partial<LoadModelOptions> = {}): Promise<LoadedModel> {
  const saved = await readSavedModelView(dir);
  return loadModel(await modelFilesFromDirectory(dir), {
    id,
    bundled: true,
    ...(saved ? { metadata: metadataFromView(saved), defaultSizePx: saved.input?.defaultSizePx, createdAt: saved.createdAt } : {}),
    ...options,
  });
}
