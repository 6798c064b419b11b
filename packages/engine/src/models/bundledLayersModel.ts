/**
 * Learned priors shipped with the repository (the denoising autoencoders, the generator and its
 * encoder under priors/) are LayersModels read from a folder once per process: `loadBundledLayersModel`
 * loads (a failed load is forgotten, so a later call retries), `bundledLayersModel` hands the loaded
 * model to the synchronous code of a step.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { modelFilesFromDirectory } from './loadModelFromDirectory.ts';
import { readModelArtifacts } from './modelArtifacts.ts';

const loading = new Map<string, Promise<tfl.LayersModel>>();
const loaded = new Map<string, tfl.LayersModel>();

/** Loads the LayersModel in `directory` once per process; later calls return the same model. */
export function loadBundledLayersModel(directory: string): Promise<tfl.LayersModel> {
  let promise = loading.get(directory);
  if (!promise) {
    promise = (async () => {
      const { artifacts } = await readModelArtifacts(await modelFilesFromDirectory(directory));
      const model = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
      loaded.set(directory, model);
      return model;
    })();
    promise.catch(() => loading.delete(directory));
    loading.set(directory, promise);
  }
  return promise;
}

/** The model `loadBundledLayersModel(directory)` loaded; `notLoaded` says what to await when it has not. */
export function bundledLayersModel(directory: string, notLoaded: string): tfl.LayersModel {
  const model = loaded.get(directory);
  if (!model) throw new Error(`the model in ${directory} is not loaded yet (${notLoaded})`);
  return model;
}
