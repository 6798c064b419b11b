/**
 * Trains the denoising autoencoder behind the `latentDae` prior — PPGN sampling in the generator's code
 * space (Nguyen, Clune, Bengio, Dosovitskiy & Yosinski 2017) — and writes it to priors/latent-dae-shapes/
 * (npm run train:latent-dae; well under a minute on one core).
 *
 * PPGN's prior p(h) lives in the latent space of its generator: a DAE R_h on codes h = E(x) of real
 * images gives R_h(h) − h ≈ σ²·∂log p(h)/∂h (Alain & Bengio 2014). Here the codes are the bundled
 * encoder's (priors/generator-shapes/encoder) of procedural shapes images at 32 px, so they are points of
 * the `generator` parameterisation's code space. The DAE is a small MLP on those 64-value codes:
 *
 *   h → standardise (per dimension, the training codes' mean and std; a fixed, non-trained dense layer)
 *     → dense 256 relu → dense 256 relu → dense 64 (zero-initialised) → × std (fixed) → + h
 *
 * so it reads and writes codes in the generator's units, and an untrained DAE is the identity. Input
 * noise: N(0, (noiseStd·std_d)²) per dimension d — a fraction of each dimension's spread, since the
 * dimensions' spreads differ several-fold. Loss: mean squared error to the clean code, standardised.
 *
 * Seeded throughout (shapes, noise, initialisers, batch order), so a rerun writes the same weights on
 * the same backend. Reports the held-out standardised MSE of R(noisy) next to the noisy codes' own (the
 * noise MSE ≈ noiseStd²) and writes the folder only when the reconstruction is closer.
 */
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { generateShapes, shapesTensor } from '@featurevis/engine/datasets';
import { serializeLayersModel, modelFilesFromDirectory, readModelArtifacts } from '@featurevis/engine/models';
import { writeLayersModelFiles } from './training/write-model.ts';
import { createRandom } from '../packages/engine/src/random.ts';
import { useTrainingBackend } from './training/backend.ts';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
export const LATENT_DAE_DIR = path.join(ROOT, 'priors', 'latent-dae-shapes');
const ENCODER_DIR = path.join(ROOT, 'priors', 'generator-shapes', 'encoder');

const PLAN = {
  seed: 13, sizePx: 32, generator: 'shapes',
  training: { seed: 13_000, count: 8192 },
  heldOut: { seed: 999_999, count: 1024 },
  noiseStd: 0.3, hiddenUnits: [256, 256],
  epochs: 40, batchSize: 64, learningRate: 0.001,
};

/** Codes [count, codeDim] of `count` shapes images (seed `seed`), encoded 256 at a time. */
function encodeShapes(encoder: tfl.LayersModel, seed: number, count: number): tf.Tensor2D {
  const images = generateShapes({ count, seed, sizePx: PLAN.sizePx });
  const all = shapesTensor(images);
  const chunks: tf.Tensor[] = [];
  for (let start = 0; start < count; start += 256) {
    chunks.push(tf.tidy(() => encoder.predict(tf.slice(all, start, Math.min(256, count - start))) as tf.Tensor));
  }
  all.dispose();
  const codes = tf.concat(chunks, 0) as tf.Tensor2D;
  tf.dispose(chunks);
  return codes;
}

/** A dense layer fixed to x·diag(scale) + bias (not trained). */
function fixedAffine(name: string, scale: number[], bias: number[] | null): tfl.layers.Layer {
  const dim = scale.length;
  const kernel = tf.tidy(() => tf.mul(tf.eye(dim), tf.tensor2d(scale, [1, dim])));
  const weights = bias ? [kernel, tf.tensor1d(bias)] : [kernel];
  return tfl.layers.dense({ name, units: dim, useBias: bias !== null, trainable: false, weights });
}

function buildLatentDae(mean: number[], std: number[]): tfl.LayersModel {
  let initializerSeed = PLAN.seed * 1000;
  const codeDim = mean.length;
  const code = tfl.input({ shape: [codeDim], name: 'code' });
  let x = fixedAffine('standardize', std.map((s) => 1 / s), mean.map((m, d) => -m / std[d])).apply(code) as tfl.SymbolicTensor;
  for (const [i, units] of PLAN.hiddenUnits.entries()) {
    x = tfl.layers.dense({ name: `hidden${i + 1}`, units, activation: 'relu', kernelInitializer: tfl.initializers.heNormal({ seed: initializerSeed++ }) }).apply(x) as tfl.SymbolicTensor;
  }
  const standardizedCorrection = tfl.layers.dense({ name: 'correction', units: codeDim, kernelInitializer: tfl.initializers.zeros() }).apply(x) as tfl.SymbolicTensor;
  const correction = fixedAffine('destandardize', std, null).apply(standardizedCorrection) as tfl.SymbolicTensor;
  const reconstruction = tfl.layers.add({ name: 'reconstruction' }).apply([code, correction]) as tfl.SymbolicTensor;
  return tfl.model({ name: 'latent-dae-shapes', inputs: code, outputs: reconstruction });
}

/** Noisy codes: clean + N(0, (noiseStd·std)²) per dimension, seeded. */
const noisyCodes = (clean: tf.Tensor2D, std: tf.Tensor1D, seed: number): tf.Tensor2D =>
  tf.tidy(() => tf.add(clean, tf.mul(tf.randomNormal(clean.shape, 0, PLAN.noiseStd, 'float32', seed), std)) as tf.Tensor2D);

/** Mean squared error in units of each dimension's std. */
const standardizedMse = (a: tf.Tensor, b: tf.Tensor, std: tf.Tensor1D): number =>
  tf.tidy(() => tf.mean(tf.square(tf.div(tf.sub(a, b), std))).dataSync()[0]);

await useTrainingBackend('wasm');
const started = Date.now();
const { artifacts } = await readModelArtifacts(await modelFilesFromDirectory(ENCODER_DIR));
const encoder = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
const trainingCodes = encodeShapes(encoder, PLAN.training.seed, PLAN.training.count);
const heldOutCodes = encodeShapes(encoder, PLAN.heldOut.seed, PLAN.heldOut.count);
const { mean, variance } = tf.moments(trainingCodes, 0);
const meanValues = [...(await mean.data())];
const stdValues = [...(await variance.data())].map((v) => Math.sqrt(v) + 1e-6);
tf.dispose([mean, variance]);
const std = tf.tensor1d(stdValues);
console.log(`encoded ${PLAN.training.count} + ${PLAN.heldOut.count} images in ${((Date.now() - started) / 1000).toFixed(1)} s; code std ${Math.min(...stdValues).toFixed(3)}–${Math.max(...stdValues).toFixed(3)}`);

const model = buildLatentDae(meanValues, stdValues);
const optimizer = tf.train.adam(PLAN.learningRate);
const heldOutNoisy = noisyCodes(heldOutCodes, std, PLAN.heldOut.seed);
const noiseMse = standardizedMse(heldOutNoisy, heldOutCodes, std);
const heldOutMse = (): number => tf.tidy(() => standardizedMse(model.predict(heldOutNoisy) as tf.Tensor, heldOutCodes, std));
const random = createRandom(PLAN.seed);
const stepsPerEpoch = Math.floor(PLAN.training.count / PLAN.batchSize);
for (let epoch = 1; epoch <= PLAN.epochs; epoch++) {
  // A seeded permutation (Fisher–Yates on the script's Random) and fresh seeded noise each epoch.
  const order = Array.from({ length: PLAN.training.count }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random.next() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const shuffled = tf.tidy(() => tf.gather(trainingCodes, tf.tensor1d(order, 'int32')) as tf.Tensor2D);
  const noisy = noisyCodes(shuffled, std, PLAN.seed * 1000 + epoch);
  let lossSum = 0;
  for (let step = 0; step < stepsPerEpoch; step++) {
    const loss = optimizer.minimize(() => {
      const x = tf.slice(noisy, step * PLAN.batchSize, PLAN.batchSize);
      const y = tf.slice(shuffled, step * PLAN.batchSize, PLAN.batchSize);
      const reconstructed = model.apply(x, { training: true }) as tf.Tensor;
      return tf.mean(tf.square(tf.div(tf.sub(reconstructed, y), std))) as tf.Scalar;
    }, true, model.trainableWeights.map((weight) => weight.read() as tf.Variable))!;
    lossSum += loss.dataSync()[0];
    loss.dispose();
  }
  tf.dispose([shuffled, noisy]);
  if (epoch % 5 === 0 || epoch === 1) {
    console.log(`epoch ${epoch}: training loss ${(lossSum / stepsPerEpoch).toFixed(4)}, held-out reconstruction MSE ${heldOutMse().toFixed(4)} (noise MSE ${noiseMse.toFixed(4)}; standardised)`);
  }
}
const reconstructionMse = heldOutMse();
// The clean codes' own reconstruction error: how far R moves a real code (R should leave it nearly in place).
const cleanMse = tf.tidy(() => standardizedMse(model.predict(heldOutCodes) as tf.Tensor, heldOutCodes, std));
const seconds = (Date.now() - started) / 1000;
if (!(reconstructionMse < noiseMse)) {
  console.error(`the reconstruction (standardised MSE ${reconstructionMse}) is no closer to the clean codes than the noisy ones (${noiseMse}); NOT written`);
  process.exit(1);
}
const serialized = await serializeLayersModel(model);
await rm(LATENT_DAE_DIR, { recursive: true, force: true });
await writeLayersModelFiles(LATENT_DAE_DIR, serialized);
await writeFile(path.join(LATENT_DAE_DIR, 'training.json'), JSON.stringify({
  description: 'Denoising autoencoder of the bundled shapes generator\'s codes (priors/generator-shapes/encoder applied to shapes images), the latent prior of PPGN sampling (the `latentDae` prior): R_h(h) − h ≈ σ²·∂log p(h)/∂h. Input and output: codes [codeDim] in the generator\'s units. MSEs are standardised (per-dimension squared error / std²).',
  script: 'scripts/train-latent-dae.ts', ...PLAN, optimizer: 'adam', loss: 'standardised meanSquaredError',
  codeStd: stdValues.map((s) => Number(s.toFixed(6))),
  heldOutReconstructionMse: reconstructionMse, heldOutNoiseMse: noiseMse, heldOutCleanReconstructionMse: cleanMse, seconds,
}, null, 2) + '\n');
console.log(`wrote ${path.relative(process.cwd(), LATENT_DAE_DIR)}: held-out reconstruction MSE ${reconstructionMse.toFixed(4)} vs noise MSE ${noiseMse.toFixed(4)} (clean codes ${cleanMse.toFixed(4)}), ${seconds.toFixed(0)} s, weights ${(serialized.weights.byteLength / 1024).toFixed(0)} KiB`);
