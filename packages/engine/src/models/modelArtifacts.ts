/**
 * Turns ModelFiles (a parsed model.json plus a weight reader) into the tf.io.ModelArtifacts that
 * tf.loadLayersModel / tfconv.loadGraphModel take through tf.io.fromMemory. Without tfjs-node there is
 * no file:// handler, and models come from storage or uploads anyway, so loading always goes through
 * memory.
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import type { ModelFiles } from '../types.ts';
import { InvalidSpecError } from '../types.ts';

export type ModelFormat = 'layers' | 'graph';

export interface ReadModel {
  format: ModelFormat;
  artifacts: tf.io.ModelArtifacts;
  /** sha256 over the canonical model.json text and every weight file in manifest order. */
  hash: string;
}

/** Converter output says `format: "graph-model"`; Keras/tfjs-layers output `layers-model` or nothing. */
export function detectModelFormat(modelJson: tf.io.ModelJSON): ModelFormat {
  if (modelJson.format === 'graph-model') return 'graph';
  if (modelJson.format === 'layers-model') return 'layers';
  const topology = modelJson.modelTopology as Record<string, unknown> | undefined;
  if (topology && Array.isArray(topology.node)) return 'graph';
  if (topology && (topology.class_name !== undefined || topology.model_config !== undefined)) return 'layers';
  throw new InvalidSpecError('model.json is neither a TF.js LayersModel nor a GraphModel (no recognisable modelTopology)', 'model');
}

function asModelJson(value: unknown): tf.io.ModelJSON {
  if (typeof value !== 'object' || value === null) throw new InvalidSpecError('model.json must be a JSON object', 'model');
  const json = value as Partial<tf.io.ModelJSON>;
  if (typeof json.modelTopology !== 'object' || json.modelTopology === null) {
    throw new InvalidSpecError('model.json has no modelTopology', 'model');
  }
  if (json.weightsManifest !== undefined && !Array.isArray(json.weightsManifest)) {
    throw new InvalidSpecError('model.json weightsManifest must be an array', 'model');
  }
  return { ...json, weightsManifest: json.weightsManifest ?? [] } as tf.io.ModelJSON;
}

export async function readModelArtifacts(files: ModelFiles): Promise<ReadModel> {
  const modelJson = asModelJson(files.modelJson);
  const format = detectModelFormat(modelJson);
  const hash = createHash('sha256');
  hash.update(JSON.stringify(files.modelJson));
  const artifacts = await tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
    const weightSpecs: tf.io.WeightsManifestEntry[] = [];
    const buffers: ArrayBuffer[] = [];
    for (const group of manifest) {
      weightSpecs.push(...group.weights);
      for (const path of group.paths) {
        const bytes = await files.readWeights(path);
        hash.update(bytes);
        // Copy into an ArrayBuffer of its own: a Node Buffer is often a view on a shared pool.
        buffers.push(bytes.slice().buffer as ArrayBuffer);
      }
    }
    return [weightSpecs, tf.io.concatenateArrayBuffers(buffers)];
  });
  return { format, artifacts, hash: hash.digest('hex') };
}
