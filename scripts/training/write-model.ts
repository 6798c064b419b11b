/**
 * Writes a bundled model folder, models/<id>/, as the catalog reads it: model.json and weights.bin
 * (what tfjs's `model.save` writes), featurevis.json (the ModelView the engine derives from them plus
 * the metadata: name, labels, input range) and training.json (how it was trained: the ModelMetadata
 * schema is closed, so the description and training facts live beside it, not in it).
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ModelMetadata } from '@featurevis/contracts';
import { inspectModel, serializedModelFiles, MODEL_JSON_FILE, MODEL_VIEW_FILE, WEIGHTS_FILE, type SerializedModel } from '@featurevis/engine/models';

export const TRAINING_FILE = 'training.json';

export interface BundledModel {
  id: string;
  metadata: Required<Pick<ModelMetadata, 'name' | 'labels' | 'input'>>;
  defaultSizePx: number;
  /** Free-form facts for training.json: description, seeds, epochs, accuracy, ... */
  training: Record<string, unknown>;
}

/** Writes `serialized` (a LayersModel or GraphModel as model.json + one weights file) as `<modelsDir>/<id>/`. */
export async function writeModelFolder(modelsDir: string, serialized: SerializedModel, model: BundledModel): Promise<{ dir: string; weightBytes: number }> {
  // Through the engine's own loader: a model it cannot load, or whose labels do not match its
  // classes, fails here rather than in the service.
  const view = await inspectModel(serializedModelFiles(serialized), {
    id: model.id, metadata: model.metadata, bundled: true, defaultSizePx: model.defaultSizePx,
  });
  const dir = path.join(modelsDir, model.id);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeLayersModelFiles(dir, serialized);
  await writeFile(path.join(dir, TRAINING_FILE), JSON.stringify(model.training, null, 2) + '\n');
  // The view last: the catalog lists a folder only once featurevis.json is there.
  await writeFile(path.join(dir, MODEL_VIEW_FILE), JSON.stringify(view, null, 2) + '\n');
  return { dir, weightBytes: serialized.weights.byteLength };
}

/** Writes model.json and the weights file of `serialized` into `dir` (made if missing): a learned prior's folder under priors/, or a bundled model's. */
export async function writeLayersModelFiles(dir: string, serialized: SerializedModel): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, MODEL_JSON_FILE), JSON.stringify(serialized.modelJson));
  await writeFile(path.join(dir, WEIGHTS_FILE), serialized.weights);
}
