/**
 * A tiny convolutional classifier made in the test itself (deterministic initialisers, no training),
 * written as a model folder like the bundled ones: model.json, weights.bin and featurevis.json. API and
 * queue tests use it so they do not depend on the trained models; end-to-end tests use `shapes-a`.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { inspectModel, serializeLayersModel, serializedModelFiles } from '@featurevis/engine/models';

export const FIXTURE_LABELS = ['red', 'green', 'blue', 'ring'];

export function buildFixtureModel(seed = 7): tfl.LayersModel {
  const init = (s: number) => tfl.initializers.glorotUniform({ seed: seed * 100 + s });
  const input = tfl.input({ shape: [null, null, 3], name: 'image' });
  let x = tfl.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv1', kernelInitializer: init(1) }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.conv2d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv2', kernelInitializer: init(2) }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: FIXTURE_LABELS.length, activation: 'softmax', name: 'logits', kernelInitializer: init(3) }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out, name: 'fixture' });
}

/** Writes the fixture model as `<dir>/<id>/` and returns the folder of models. */
export async function writeFixtureModel(dir: string, id = 'fixture', seed = 7): Promise<string> {
  await tf.setBackend('cpu');
  const model = buildFixtureModel(seed);
  const serialized = await serializeLayersModel(model);
  model.dispose();
  const view = await inspectModel(serializedModelFiles(serialized), { id, metadata: { name: 'Test fixture', labels: FIXTURE_LABELS, input: { range: [0, 1] } }, bundled: true, defaultSizePx: 16, createdAt: '2026-01-01T00:00:00.000Z' });
  const folder = path.join(dir, id);
  await fs.mkdir(folder, { recursive: true });
  await fs.writeFile(path.join(folder, 'model.json'), JSON.stringify(serialized.modelJson));
  await fs.writeFile(path.join(folder, 'weights.bin'), serialized.weights);
  await fs.writeFile(path.join(folder, 'featurevis.json'), JSON.stringify(view, null, 2));
  return dir;
}

/** The fixture's files as a multipart upload would carry them. */
export async function fixtureUpload(seed = 7) {
  await tf.setBackend('cpu');
  const model = buildFixtureModel(seed);
  const serialized = await serializeLayersModel(model);
  model.dispose();
  return { modelJson: Buffer.from(JSON.stringify(serialized.modelJson)), weights: Buffer.from(serialized.weights) };
}
