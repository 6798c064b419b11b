/**
 * Trains the denoising autoencoder behind the `dae` prior (PPGN sampling, Nguyen et al. 2017) and
 * writes it to priors/dae-shapes/ (node --import tsx scripts/train-dae.ts, about 4 minutes on WASM). Not under models/: it is not a classifier to
 * visualise, so it has no featurevis.json and the catalog does not list it.
 *
 * A DAE R trained with Gaussian input noise of variance σ² on data p(x) learns R(x) − x ≈ σ²·∂log p(x)/∂x
 * (Alain & Bengio 2014), which is what PPGN's update rule needs for its prior term. Here: the procedural
 * shapes set at 32×32 (the bundled classifiers' training distribution), noise σ = 0.1 on the input
 * (clipped to [0,1], as the pixel parameterisation clips), mean squared error to the clean image.
 * Fully convolutional (input [null, null, 3]), so it runs at any image size; the output is the input
 * plus a learned correction (a residual connection), so an untrained network starts as the identity.
 *
 * Reports the held-out reconstruction MSE next to the noisy input's MSE (the noise MSE) and writes
 * the folder only when the reconstruction is closer to the clean images than the noisy input.
 */
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { generateShapes, shapesTensor, DEFAULT_SHAPES_SIZE_PX } from '@featurevis/engine/datasets';
import { serializeLayersModel } from '@featurevis/engine/models';
import { writeLayersModelFiles } from './training/write-model.ts';
import { useTrainingBackend } from './training/backend.ts';

export const DAE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'priors', 'dae-shapes');

const PLAN = {
  seed: 7, datasetSeed: 7, noiseStd: 0.1, sizePx: DEFAULT_SHAPES_SIZE_PX,
  epochs: 6, imagesPerEpoch: 2048, batchSize: 32, learningRate: 0.002, filters: 32, convLayers: 4,
  heldOut: { seed: 888_888, count: 256 },
};

function buildDae(): tfl.LayersModel {
  let initializerSeed = PLAN.seed * 1000;
  const image = tfl.input({ shape: [null, null, 3], name: 'image' });
  let x = image;
  for (let i = 1; i <= PLAN.convLayers; i++) {
    x = tfl.layers.conv2d({ name: `conv${i}`, filters: PLAN.filters, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tfl.initializers.heNormal({ seed: initializerSeed++ }) }).apply(x) as tfl.SymbolicTensor;
  }
  const correction = tfl.layers.conv2d({ name: 'correction', filters: 3, kernelSize: 3, padding: 'same', kernelInitializer: tfl.initializers.zeros() }).apply(x) as tfl.SymbolicTensor;
  const reconstruction = tfl.layers.add({ name: 'reconstruction' }).apply([image, correction]) as tfl.SymbolicTensor;
  return tfl.model({ name: 'dae-shapes', inputs: image, outputs: reconstruction });
}

/** Clean images and their noisy versions (clipped to [0,1]); noise seeded by `seed`. */
function noisyPairs(seed: number, count: number): { clean: tf.Tensor4D; noisy: tf.Tensor4D } {
  const clean = shapesTensor(generateShapes({ count, seed, sizePx: PLAN.sizePx }));
  const noisy = tf.tidy(() => tf.clipByValue(tf.add(clean, tf.randomNormal(clean.shape, 0, PLAN.noiseStd, 'float32', seed)), 0, 1) as tf.Tensor4D);
  return { clean, noisy };
}

const mse = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.mean(tf.squaredDifference(a, b)).dataSync()[0]);

await useTrainingBackend('wasm');
const model = buildDae();
model.compile({ optimizer: tf.train.adam(PLAN.learningRate), loss: 'meanSquaredError' });
const heldOut = noisyPairs(PLAN.heldOut.seed, PLAN.heldOut.count);
const noiseMse = mse(heldOut.noisy, heldOut.clean);
const started = Date.now();
for (let epoch = 1; epoch <= PLAN.epochs; epoch++) {
  const epochStarted = Date.now();
  const { clean, noisy } = noisyPairs(PLAN.datasetSeed * 1000 + epoch, PLAN.imagesPerEpoch);
  let [lossSum, steps] = [0, 0];
  for (let start = 0; start < PLAN.imagesPerEpoch; start += PLAN.batchSize) {
    const [x, y] = tf.tidy(() => [tf.slice(noisy, start, PLAN.batchSize), tf.slice(clean, start, PLAN.batchSize)]);
    lossSum += (await model.trainOnBatch(x, y)) as number;
    steps++;
    tf.dispose([x, y]);
  }
  tf.dispose([clean, noisy]);
  const reconstructed = model.predict(heldOut.noisy) as tf.Tensor;
  const heldOutMse = mse(reconstructed, heldOut.clean);
  reconstructed.dispose();
  console.log(`epoch ${epoch}: training loss ${(lossSum / steps).toFixed(5)}, held-out reconstruction MSE ${heldOutMse.toFixed(5)} (noise MSE ${noiseMse.toFixed(5)}), ${((Date.now() - epochStarted) / 1000).toFixed(1)} s`);
}
const reconstructed = model.predict(heldOut.noisy) as tf.Tensor;
const reconstructionMse = mse(reconstructed, heldOut.clean);
reconstructed.dispose();
if (!(reconstructionMse < noiseMse)) {
  console.error(`the reconstruction (MSE ${reconstructionMse}) is no closer to the clean images than the noisy input (${noiseMse}); NOT written`);
  process.exit(1);
}
const serialized = await serializeLayersModel(model);
await rm(DAE_DIR, { recursive: true, force: true });
await writeLayersModelFiles(DAE_DIR, serialized);
await writeFile(path.join(DAE_DIR, 'training.json'), JSON.stringify({
  description: 'Denoising autoencoder of the procedural shapes set, the image prior of PPGN sampling (the `dae` prior): R(x) − x ≈ σ²·∂log p(x)/∂x. Input and output RGB in [0,1], any size.',
  script: 'scripts/train-dae.ts', ...PLAN, optimizer: 'adam', loss: 'meanSquaredError',
  heldOutReconstructionMse: reconstructionMse, heldOutNoiseMse: noiseMse, seconds: (Date.now() - started) / 1000,
}, null, 2) + '\n');
console.log(`wrote ${path.relative(process.cwd(), DAE_DIR)}: held-out reconstruction MSE ${reconstructionMse.toFixed(5)} vs noise MSE ${noiseMse.toFixed(5)}, weights ${(serialized.weights.byteLength / 1024).toFixed(0)} KiB`);
