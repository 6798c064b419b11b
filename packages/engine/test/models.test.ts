/**
 * Loading a model and reading its layers: how the engine sees a TF.js LayersModel. Each test builds a
 * tiny model in memory, serialises it as model.json + weights.bin, and loads it back with loadModel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { InvalidSpecError } from '../src/types.ts';
import {
  loadModel, inspectModel, loadModelFromDirectory, serializeLayersModel, serializedModelFiles, mapToModelInput,
  LOGITS_LAYER, WEIGHTS_FILE, MODEL_VIEW_FILE,
} from '../src/models/index.ts';

await tf.setBackend('cpu');

/** conv1 → global average pool → dense `classes`; the softmax either fused into the dense layer or a layer of its own. */
function tinyClassifier(softmax: 'fused' | 'separate'): tfl.LayersModel {
  const input = tfl.input({ shape: [null, null, 3], name: 'image' });
  let x = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv1', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as tfl.SymbolicTensor;
  if (softmax === 'fused') {
    x = tfl.layers.dense({ units: 3, activation: 'softmax', name: 'classes', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }), biasInitializer: 'ones' }).apply(x) as tfl.SymbolicTensor;
  } else {
    x = tfl.layers.dense({ units: 3, name: 'logits', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.activation({ activation: 'softmax', name: 'probabilities' }).apply(x) as tfl.SymbolicTensor;
  }
  return tfl.model({ inputs: input, outputs: x });
}

function randomImages(seed: number, sizePx = 8, batch = 2): tf.Tensor4D {
  return tf.randomUniform([batch, sizePx, sizePx, 3], 0, 1, 'float32', seed) as tf.Tensor4D;
}

test('lists every layer with its output shape (no batch) and channel count, and finds the logits of a fused softmax', async () => {
  const built = tinyClassifier('fused');
  const model = await loadModel(serializedModelFiles(await serializeLayersModel(built)), { id: 'tiny', metadata: { labels: ['a', 'b', 'c'] } });
  assert.deepEqual(model.info.layers.map(({ name, shape, channels }) => ({ name, shape, channels })), [
    { name: 'conv1', shape: [null, null, 4], channels: 4 },
    { name: 'pool', shape: [4], channels: 4 },
    { name: 'classes', shape: [3], channels: 3 },
    { name: 'classes/logits', shape: [3], channels: 3 },
  ]);
  assert.equal(model.info.format, 'layers');
  assert.deepEqual(model.info.input, { shape: [null, null, 3], channels: 3, defaultSizePx: 128, range: [0, 1] });
  assert.deepEqual(model.info.output, { layer: 'classes', classes: 3, logitsLayer: 'classes/logits' });
  assert.deepEqual(model.info.labels, ['a', 'b', 'c']);
  assert.match(model.hash, /^[0-9a-f]{64}$/);

  const images = randomImages(1);
  const [logits, probabilities] = model.activations(images, [LOGITS_LAYER, 'classes']);
  // softmax(logits) is what the model outputs, and the logits are not themselves probabilities.
  assert.ok(tf.max(tf.abs(tf.sub(tf.softmax(logits), probabilities))).dataSync()[0] < 1e-5);
  assert.ok(tf.max(tf.abs(tf.sub(probabilities, built.predict(images) as tf.Tensor))).dataSync()[0] < 1e-5);
  assert.ok(Math.abs(tf.sum(logits, 1).dataSync()[0] - 1) > 1e-3);
  model.dispose();
  built.dispose();
});

test('a separate softmax layer: the logits are the layer feeding it', async () => {
  const built = tinyClassifier('separate');
  const model = await loadModel(serializedModelFiles(await serializeLayersModel(built)), { id: 'tiny' });
  assert.deepEqual(model.info.output, { layer: 'probabilities', classes: 3, logitsLayer: 'logits' });
  assert.ok(!model.info.layers.some((layer) => layer.className === 'Logits'));
  const images = randomImages(2);
  const [viaAlias, viaName, probabilities] = model.activations(images, [LOGITS_LAYER, 'logits', 'probabilities']);
  assert.deepEqual(viaAlias.arraySync(), viaName.arraySync());
  assert.ok(tf.max(tf.abs(tf.sub(tf.softmax(viaAlias), probabilities))).dataSync()[0] < 1e-5);
  model.dispose();
});

test('activations are differentiable with respect to the RGB image', async () => {
  const model = await loadModel(serializedModelFiles(await serializeLayersModel(tinyClassifier('fused'))), { id: 'tiny' });
  const images = randomImages(3);
  const gradient = tf.grad((x: tf.Tensor) => tf.sum(tf.gather(model.activations(x as tf.Tensor4D, [LOGITS_LAYER])[0], [0], 1)))(images);
  assert.deepEqual(gradient.shape, images.shape);
  assert.ok(tf.max(tf.abs(gradient)).dataSync()[0] > 0);
  model.dispose();
});

test('an unknown layer is an InvalidSpecError naming it and the close names', async () => {
  const model = await loadModel(serializedModelFiles(await serializeLayersModel(tinyClassifier('fused'))), { id: 'tiny' });
  assert.throws(() => model.activations(randomImages(4), ['conv_1']), (error: unknown) => {
    assert.ok(error instanceof InvalidSpecError);
    assert.match(error.message, /"conv_1"/);
    assert.match(error.message, /close names: conv1/);
    return true;
  });
  model.dispose();
});

/** A model that only flattens its input, so activations('flat') shows exactly what the model was fed. */
async function inputEcho(channels: number, metadata?: Parameters<typeof loadModel>[1]['metadata']) {
  const input = tfl.input({ shape: [2, 2, channels] });
  const built = tfl.model({ inputs: input, outputs: tfl.layers.flatten({ name: 'flat' }).apply(input) as tfl.SymbolicTensor });
  return loadModel(serializedModelFiles(await serializeLayersModel(built)), { id: 'echo', metadata });
}

test('maps RGB in [0,1] to the model\'s range, mean/std and channel count', async () => {
  const rgb = tf.tensor4d([0, 0.5, 1, 1, 0, 0, 0, 1, 0, 0.2, 0.2, 0.2], [1, 2, 2, 3]);
  const near = (actual: tf.Tensor, expected: number[]) => {
    const values = Array.from(actual.dataSync());
    assert.equal(values.length, expected.length);
    values.forEach((value, i) => assert.ok(Math.abs(value - expected[i]) < 1e-5, `${values} vs ${expected}`));
  };

  const identity = await inputEcho(3);
  assert.deepEqual(identity.info.input.range, [0, 1]);
  near(identity.activations(rgb, ['flat'])[0], Array.from(rgb.dataSync()));

  const byte = await inputEcho(3, { input: { range: [0, 255] } });
  near(byte.activations(rgb, ['flat'])[0], Array.from(rgb.dataSync()).map((v) => v * 255));

  const normalized = await inputEcho(3, { input: { mean: [0.5, 0.5, 0.2], std: [0.5, 0.25, 0.1] } });
  assert.deepEqual([normalized.info.input.mean, normalized.info.input.std, normalized.info.input.range], [[0.5, 0.5, 0.2], [0.5, 0.25, 0.1], undefined]);
  near(normalized.activations(rgb, ['flat'])[0], [-1, 0, 8, 1, -2, -2, -1, 2, -2, -0.6, -1.2, 0]);

  const gray = await inputEcho(1);
  assert.equal(gray.info.input.channels, 1);
  // ITU-R BT.601 luma of each pixel.
  near(gray.activations(rgb, ['flat'])[0], [0.5 * 0.587 + 0.114, 0.299, 0.587, 0.2]);

  await assert.rejects(inputEcho(3, { input: { mean: [0.5, 0.5], std: [1, 1] } }), InvalidSpecError);
  for (const model of [identity, byte, normalized, gray]) model.dispose();
});

test('the hash covers model.json and the weights; labels must match the classes', async () => {
  const serialized = await serializeLayersModel(tinyClassifier('fused'));
  const view = await inspectModel(serializedModelFiles(serialized), { id: 'tiny' });
  assert.equal((await inspectModel(serializedModelFiles(serialized), { id: 'other' })).hash, view.hash);
  const changed = { ...serialized, weights: serialized.weights.slice() };
  changed.weights[0] ^= 1;
  assert.notEqual((await inspectModel(serializedModelFiles(changed), { id: 'tiny' })).hash, view.hash);
  await assert.rejects(inspectModel(serializedModelFiles(serialized), { id: 'tiny', metadata: { labels: ['only-one'] } }), /3 classes/);
});

test('dispose frees every tensor the model held', async () => {
  const built = tinyClassifier('fused');
  const serialized = await serializeLayersModel(built);
  built.dispose();
  const before = tf.memory().numTensors;
  const model = await loadModel(serializedModelFiles(serialized), { id: 'tiny' });
  tf.tidy(() => { model.activations(randomImages(5), ['conv1', LOGITS_LAYER]); });
  model.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('loadModelFromDirectory reads model.json, weights.bin and the saved view of a bundled model', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'featurevis-model-'));
  try {
    const serialized = await serializeLayersModel(tinyClassifier('separate'));
    await writeFile(join(dir, 'model.json'), JSON.stringify(serialized.modelJson));
    await writeFile(join(dir, WEIGHTS_FILE), serialized.weights);
    await writeFile(join(dir, MODEL_VIEW_FILE), JSON.stringify({ name: 'Tiny', labels: ['x', 'y', 'z'], input: { range: [0, 1], defaultSizePx: 16 }, createdAt: '2024-01-01T00:00:00.000Z' }));
    const model = await loadModelFromDirectory(dir, 'tiny');
    assert.equal(model.info.bundled, true);
    assert.equal(model.info.name, 'Tiny');
    assert.deepEqual(model.info.labels, ['x', 'y', 'z']);
    assert.equal(model.info.input.defaultSizePx, 16);
    assert.equal(model.info.createdAt, '2024-01-01T00:00:00.000Z');
    model.dispose();

    const escaping = { ...serialized.modelJson, weightsManifest: [{ ...serialized.modelJson.weightsManifest[0], paths: ['../weights.bin'] }] };
    await writeFile(join(dir, 'model.json'), JSON.stringify(escaping));
    await assert.rejects(loadModelFromDirectory(dir, 'tiny'), /leaves the model's folder/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
