/**
 * Models held in memory as a model.json plus one weights file: how tests and the training script hand
 * a freshly built tfjs-layers model to loadModel, and how scripts/train-models.ts writes models/<id>/.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ModelFiles } from '../types.ts';

export const WEIGHTS_FILE = 'weights.bin';

export interface SerializedModel {
  /** The model.json content, its manifest pointing at WEIGHTS_FILE. */
  modelJson: tf.io.ModelJSON;
  weights: Uint8Array;
}

/** Serialises a LayersModel the way model.save('file://…') would, without needing tfjs-node. */
export async function serializeLayersModel(model: tfl.LayersModel): Promise<SerializedModel> {
  let serialized: SerializedModel | undefined;
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    const weightData = artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.concatenateArrayBuffers(artifacts.weightData as ArrayBuffer | ArrayBuffer[]);
    serialized = {
      modelJson: {
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        modelTopology: artifacts.modelTopology as object,
        weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }],
      },
      weights: new Uint8Array(weightData),
    };
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  return serialized!;
}

/** ModelFiles over a model.json object and weight files held by path. */
export function inMemoryModelFiles(modelJson: unknown, weightFiles: Record<string, Uint8Array>): ModelFiles {
  return {
    modelJson,
    async readWeights(path) {
      const bytes = weightFiles[path];
      if (!bytes) throw new Error(`no weight file "${path}"`);
      return bytes;
    },
  };
}

export function serializedModelFiles(model: SerializedModel): ModelFiles {
  return inMemoryModelFiles(model.modelJson, { [WEIGHTS_FILE]: model.weights });
}
