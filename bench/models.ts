/**
 * The models the benchmark runs, every one a LoadedModel (the engine's own loader), so the same model
 * serves a raw forward/gradient timing and a real `visualize` run:
 *
 * - the bundled models, discovered in models/ (every folder with a model.json and featurevis.json);
 * - two networks built here with random weights (speed does not depend on them): a VGG-style conv net
 *   and a MobileNet-style depthwise-separable net, both 64×64, so the benchmark has conv-heavy and
 *   depthwise cases whatever models/ holds;
 * - the test fixture (test/helpers/fixture-model.ts), when models/ is empty, as a small model for the
 *   sweep and service groups.
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { LoadedModel } from '@featurevis/engine';
import { loadModel, loadModelFromDirectory, serializeLayersModel, serializedModelFiles } from '@featurevis/engine/models';
import { buildFixtureModel } from '../test/helpers/fixture-model.ts';

export interface BenchModel {
  name: string;
  /** Where it came from: models/ ('bundled'), built here ('built'), or the test fixture. */
  source: 'bundled' | 'built' | 'fixture';
  model: LoadedModel;
  imageSizePx: number;
  /** The layer a step maximises the mean of: the logits where the model has them, else its output. */
  objectiveLayer: string;
  /** The layer a sweep runs over: the one with the most channels (the first such). */
  sweepLayer: { name: string; channels: number };
  /** Takes seconds per step on the pure-JS CPU backend: skipped there by --quick. */
  heavy: boolean;
}

export const modelsFolder = fileURLToPath(new URL('../models/', import.meta.url));

function describe(name: string, source: BenchModel['source'], model: LoadedModel, heavy: boolean): BenchModel {
  const convLike = model.info.layers.filter((layer) => layer.shape.length === 3);
  const candidates = convLike.length > 0 ? convLike : model.info.layers;
  const widest = candidates.reduce((best, layer) => (layer.channels > best.channels ? layer : best));
  return {
    name,
    source,
    model,
    imageSizePx: model.info.input.defaultSizePx,
    objectiveLayer: model.info.output.logitsLayer ?? model.info.output.layer,
    sweepLayer: { name: widest.name, channels: widest.channels },
    heavy,
  };
}

async function loadBuilt(name: string, source: BenchModel['source'], layersModel: tfl.LayersModel, sizePx: number, heavy: boolean): Promise<BenchModel> {
  const serialized = await serializeLayersModel(layersModel);
  layersModel.dispose();
  const model = await loadModel(serializedModelFiles(serialized), { id: name, defaultSizePx: sizePx, metadata: { input: { range: [0, 1] } } });
  return describe(name, source, model, heavy);
}

/**
 * VGG-style (Simonyan & Zisserman 2015): three blocks of two 3×3 same-padded convs (32, 64, 128
 * filters; ReLU on the first of each pair and a linear second, so both of tfjs's fused-op gradient
 * paths are exercised) with 2×2 max pooling, then a dense classifier.
 */
export function vggStyleNet(sizePx = 64): tfl.LayersModel {
  const input = tfl.input({ shape: [sizePx, sizePx, 3], name: 'image' });
  let x = input;
  for (const [block, filters] of [32, 64, 128].entries()) {
    x = tfl.layers.conv2d({ filters, kernelSize: 3, padding: 'same', activation: 'relu', name: `conv${block + 1}a` }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.conv2d({ filters, kernelSize: 3, padding: 'same', name: `conv${block + 1}b` }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.maxPooling2d({ poolSize: 2, name: `pool${block + 1}` }).apply(x) as tfl.SymbolicTensor;
  }
  x = tfl.layers.flatten({ name: 'flatten' }).apply(x) as tfl.SymbolicTensor;
  const logits = tfl.layers.dense({ units: 10, name: 'logits' }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: logits, name: 'vgg_style' });
}

/**
 * MobileNet-style (Howard et al. 2017): a strided 3×3 conv, then four depthwise-separable blocks
 * (3×3 depthwise + ReLU, 1×1 pointwise + ReLU; every other one strided), global average pooling and a
 * dense classifier: the depthwise kernels' gradients.
 */
export function mobileNetStyleNet(sizePx = 64): tfl.LayersModel {
  const input = tfl.input({ shape: [sizePx, sizePx, 3], name: 'image' });
  let x = tfl.layers.conv2d({ filters: 32, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'stem' }).apply(input) as tfl.SymbolicTensor;
  for (const [block, filters] of [64, 128, 128, 256].entries()) {
    x = tfl.layers.depthwiseConv2d({ kernelSize: 3, strides: block % 2 === 1 ? 2 : 1, padding: 'same', activation: 'relu', name: `dw${block + 1}` }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.conv2d({ filters, kernelSize: 1, activation: 'relu', name: `pw${block + 1}` }).apply(x) as tfl.SymbolicTensor;
  }
  x = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tfl.SymbolicTensor;
  const logits = tfl.layers.dense({ units: 10, name: 'logits' }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: logits, name: 'mobilenet_style' });
}

/** Training checkpoints (scripts/train-models.ts writes `<id>-epoch-NN/` while it trains): not benchmarked. */
const CHECKPOINT = /-epoch-\d+$/;

/** The ids of the bundled models in models/ (folders with model.json and featurevis.json), checkpoints left out. */
export async function bundledModelIds(folder = modelsFolder): Promise<string[]> {
  if (!existsSync(folder)) return [];
  const entries = await readdir(folder, { withFileTypes: true });
  return entries
    .filter((entry) => entry.isDirectory() && !CHECKPOINT.test(entry.name))
    .filter((entry) => existsSync(`${folder}${entry.name}/model.json`) && existsSync(`${folder}${entry.name}/featurevis.json`))
    .map((entry) => entry.name)
    .sort();
}

/** Models for the step-cost group: the bundled ones and the two built here. Call after a backend is set. */
export async function stepCostModels(): Promise<BenchModel[]> {
  const models: BenchModel[] = [
    await loadBuilt('vgg-style', 'built', vggStyleNet(64), 64, true),
    await loadBuilt('mobilenet-style', 'built', mobileNetStyleNet(64), 64, true),
  ];
  for (const id of await bundledModelIds()) models.push(describe(id, 'bundled', await loadModelFromDirectory(`${modelsFolder}${id}`, id), false));
  return models;
}

/** The model the sweep and service groups use: the first bundled one, else the test fixture at 32 px. */
export async function smallModel(): Promise<BenchModel> {
  const [id] = await bundledModelIds();
  if (id != null) return describe(id, 'bundled', await loadModelFromDirectory(`${modelsFolder}${id}`, id), false);
  return loadBuilt('fixture', 'fixture', buildFixtureModel(), 32, false);
}

/** Images in [0, 1], seeded, for timing runs. */
export function benchImages(batch: number, sizePx: number): tf.Tensor4D {
  return tf.randomUniform([batch, sizePx, sizePx, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
}
