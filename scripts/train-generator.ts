/**
 * Trains the image generator behind the `generator` parameterisation (DGN-AM, Nguyen, Dosovitskiy,
 * Yosinski, Brox & Clune 2016) and writes it to priors/generator-shapes/ (node --import tsx
 * scripts/train-generator.ts, or npm run train:generator; a few minutes on WASM). Not under models/: it
 * is not a classifier to visualise.
 *
 * DGN-AM optimises a code h and shows the classifier G(h), G a generator trained to invert a feature
 * code of real images. Here G is the decoder of a small convolutional autoencoder of the procedural
 * shapes set at 32×32 (the bundled classifiers' training distribution): an encoder E maps an image to a
 * code of CODE_DIM values, squashed by tanh so the codes live in a bounded box, and G maps a code back
 * to an image (dense → 4×4×64 → three nearest-neighbour upsamplings, each followed by a 3×3 convolution
 * → sigmoid RGB in [0,1]). Upsampling plus convolution rather than transposed convolutions: WASM's
 * weight-gradient kernel for training handles stride 1 only (scripts/training/wasm-weight-gradients.ts).
 *
 * Gaussian noise (σ = codeNoiseStd) is added to the code between E and G during training, so that G
 * also maps codes near (not only exactly at) real codes to shape-like images: activation maximisation
 * moves the code away from any real image's, and a plain autoencoder's decoder is only trained on the
 * encoder's outputs. The noise is drawn from seeded tf.randomNormal, so training is deterministic.
 *
 * Writes G (model.json + weights.bin), E (encoder/, for the reconstruction test and image inits),
 * codes.json (per-dimension mean, std, min, max and 1st/99th percentiles of the codes of real images —
 * the box the parameterisation keeps its code in) and training.json (the plan, held-out reconstruction
 * MSE next to the MSE of always answering the training set's mean image). Writes nothing when the
 * reconstruction is not well below that baseline.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { generateShapes, shapesTensor, DEFAULT_SHAPES_SIZE_PX } from '@featurevis/engine/datasets';
import { serializeLayersModel, MODEL_JSON_FILE, WEIGHTS_FILE } from '@featurevis/engine/models';
import { useTrainingBackend } from './training/backend.ts';

export const GENERATOR_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'priors', 'generator-shapes');

const PLAN = {
  seed: 11, datasetSeed: 11, sizePx: DEFAULT_SHAPES_SIZE_PX, codeDim: 64, codeNoiseStd: 0.05,
  epochs: 14, imagesPerEpoch: 2048, batchSize: 32, learningRate: 0.003, filters: [32, 64, 64],
  heldOut: { seed: 777_777, count: 256 },
  /** The codes whose statistics are stored (a fresh seed: real images the training never saw). */
  statistics: { seed: 555_555, count: 1024 },
};

let initializerSeed = PLAN.seed * 1000;
const conv = (name: string, filters: number, activation: 'relu' | 'sigmoid' = 'relu') => tfl.layers.conv2d({
  name, filters, kernelSize: 3, padding: 'same', activation, kernelInitializer: tfl.initializers.heNormal({ seed: initializerSeed++ }),
});

/** E: 32×32×3 → three conv + 2×2 average-pool stages → dense → tanh code. */
function buildEncoder(): tfl.LayersModel {
  const image = tfl.input({ shape: [PLAN.sizePx, PLAN.sizePx, 3], name: 'image' });
  let x = image;
  PLAN.filters.forEach((filters, i) => {
    x = conv(`encoder_conv${i + 1}`, filters).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.averagePooling2d({ name: `encoder_pool${i + 1}`, poolSize: 2 }).apply(x) as tfl.SymbolicTensor;
  });
  x = tfl.layers.flatten({ name: 'encoder_flatten' }).apply(x) as tfl.SymbolicTensor;
  const code = tfl.layers.dense({ name: 'code', units: PLAN.codeDim, activation: 'tanh', kernelInitializer: tfl.initializers.glorotUniform({ seed: initializerSeed++ }) }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ name: 'encoder-shapes', inputs: image, outputs: code });
}

/** G: code → dense 4×4×64 → (upsample ×2, conv) × 3 → 3×3 conv with a sigmoid: RGB in [0,1] at 32×32. */
function buildGenerator(): tfl.LayersModel {
  const code = tfl.input({ shape: [PLAN.codeDim], name: 'code' });
  const base = PLAN.sizePx / 2 ** PLAN.filters.length;
  const deepest = PLAN.filters[PLAN.filters.length - 1];
  let x = tfl.layers.dense({ name: 'generator_dense', units: base * base * deepest, activation: 'relu', kernelInitializer: tfl.initializers.heNormal({ seed: initializerSeed++ }) }).apply(code) as tfl.SymbolicTensor;
  x = tfl.layers.reshape({ name: 'generator_reshape', targetShape: [base, base, deepest] }).apply(x) as tfl.SymbolicTensor;
  [...PLAN.filters].reverse().forEach((filters, i) => {
    x = tfl.layers.upSampling2d({ name: `generator_upsample${i + 1}`, size: [2, 2] }).apply(x) as tfl.SymbolicTensor;
    x = conv(`generator_conv${i + 1}`, filters).apply(x) as tfl.SymbolicTensor;
  });
  const image = conv('generator_rgb', 3, 'sigmoid').apply(x) as tfl.SymbolicTensor;
  return tfl.model({ name: 'generator-shapes', inputs: code, outputs: image });
}

const mse = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.mean(tf.squaredDifference(a, b)).dataSync()[0]);
const images = (seed: number, count: number): tf.Tensor4D => shapesTensor(generateShapes({ count, seed, sizePx: PLAN.sizePx }));
const reconstruct = (encoder: tfl.LayersModel, generator: tfl.LayersModel, x: tf.Tensor4D): tf.Tensor4D =>
  tf.tidy(() => generator.predict(encoder.predict(x) as tf.Tensor) as tf.Tensor4D);

/** Per-dimension statistics of codes [count, dim]; percentiles by nearest rank. */
function codeStatistics(codes: tf.Tensor2D): Record<'mean' | 'std' | 'min' | 'max' | 'p01' | 'p99', number[]> {
  const [count, dim] = codes.shape;
  const values = codes.arraySync();
  const columns = Array.from({ length: dim }, (_, d) => values.map((row) => row[d]).sort((a, b) => a - b));
  const rank = (sorted: number[], q: number) => sorted[Math.min(count - 1, Math.max(0, Math.round(q * (count - 1))))];
  const mean = columns.map((column) => column.reduce((a, b) => a + b, 0) / count);
  return {
    mean,
    std: columns.map((column, d) => Math.sqrt(column.reduce((a, b) => a + (b - mean[d]) ** 2, 0) / count)),
    min: columns.map((column) => column[0]),
    max: columns.map((column) => column[count - 1]),
    p01: columns.map((column) => rank(column, 0.01)),
    p99: columns.map((column) => rank(column, 0.99)),
  };
}

await useTrainingBackend('wasm');
const encoder = buildEncoder();
const generator = buildGenerator();
const optimizer = tf.train.adam(PLAN.learningRate);
const trainable = [...encoder.trainableWeights, ...generator.trainableWeights].map((weight) => weight.read() as tf.Variable);
const heldOut = images(PLAN.heldOut.seed, PLAN.heldOut.count);
// The baseline: always answering the mean image of (a batch of) the training distribution.
const meanImageMse = tf.tidy(() => {
  const sample = images(PLAN.datasetSeed * 1000, PLAN.imagesPerEpoch);
  return mse(tf.broadcastTo(tf.mean(sample, 0, true), heldOut.shape), heldOut);
});
const started = Date.now();
let noiseSeed = PLAN.seed * 1_000_000;
for (let epoch = 1; epoch <= PLAN.epochs; epoch++) {
  const epochStarted = Date.now();
  const data = images(PLAN.datasetSeed * 1000 + epoch, PLAN.imagesPerEpoch);
  let [lossSum, steps] = [0, 0];
  for (let start = 0; start < PLAN.imagesPerEpoch; start += PLAN.batchSize) {
    const seed = noiseSeed++;
    const loss = optimizer.minimize(() => tf.tidy(() => {
      const x = tf.slice(data, start, PLAN.batchSize);
      const code = encoder.apply(x, { training: true }) as tf.Tensor2D;
      const noisy = tf.add(code, tf.randomNormal(code.shape, 0, PLAN.codeNoiseStd, 'float32', seed));
      return tf.mean(tf.squaredDifference(generator.apply(noisy, { training: true }) as tf.Tensor, x)) as tf.Scalar;
    }), true, trainable)!;
    lossSum += loss.dataSync()[0];
    loss.dispose();
    steps++;
  }
  data.dispose();
  const reconstructed = reconstruct(encoder, generator, heldOut);
  const heldOutMse = mse(reconstructed, heldOut);
  reconstructed.dispose();
  console.log(`epoch ${epoch}: training loss ${(lossSum / steps).toFixed(5)}, held-out reconstruction MSE ${heldOutMse.toFixed(5)} (mean-image MSE ${meanImageMse.toFixed(5)}), ${((Date.now() - epochStarted) / 1000).toFixed(1)} s`);
}
const reconstructed = reconstruct(encoder, generator, heldOut);
const reconstructionMse = mse(reconstructed, heldOut);
reconstructed.dispose();
if (!(reconstructionMse < meanImageMse / 2)) {
  console.error(`the reconstruction (MSE ${reconstructionMse}) is not well below the mean image's (${meanImageMse}); NOT written`);
  process.exit(1);
}
const statisticsImages = images(PLAN.statistics.seed, PLAN.statistics.count);
const codes = encoder.predict(statisticsImages) as tf.Tensor2D;
const statistics = codeStatistics(codes);
tf.dispose([codes, statisticsImages]);

const serializedGenerator = await serializeLayersModel(generator);
const serializedEncoder = await serializeLayersModel(encoder);
await rm(GENERATOR_DIR, { recursive: true, force: true });
await mkdir(path.join(GENERATOR_DIR, 'encoder'), { recursive: true });
await writeFile(path.join(GENERATOR_DIR, MODEL_JSON_FILE), JSON.stringify(serializedGenerator.modelJson));
await writeFile(path.join(GENERATOR_DIR, WEIGHTS_FILE), serializedGenerator.weights);
await writeFile(path.join(GENERATOR_DIR, 'encoder', MODEL_JSON_FILE), JSON.stringify(serializedEncoder.modelJson));
await writeFile(path.join(GENERATOR_DIR, 'encoder', WEIGHTS_FILE), serializedEncoder.weights);
const round = (values: number[]) => values.map((value) => Number(value.toFixed(6)));
await writeFile(path.join(GENERATOR_DIR, 'codes.json'), JSON.stringify({
  description: `Per-dimension statistics of the encoder's codes of ${PLAN.statistics.count} shapes images (seed ${PLAN.statistics.seed}, ${PLAN.sizePx} px); p01/p99 are the 1st and 99th percentiles.`,
  codeDim: PLAN.codeDim, sizePx: PLAN.sizePx,
  ...Object.fromEntries(Object.entries(statistics).map(([key, values]) => [key, round(values)])),
}, null, 1) + '\n');
await writeFile(path.join(GENERATOR_DIR, 'training.json'), JSON.stringify({
  description: 'Generator (decoder) of a convolutional autoencoder of the procedural shapes set, the image generator of DGN-AM (the `generator` parameterisation): code [codeDim] → RGB in [0,1] at sizePx. encoder/ maps images back to codes.',
  script: 'scripts/train-generator.ts', ...PLAN, optimizer: 'adam', loss: 'meanSquaredError',
  heldOutReconstructionMse: reconstructionMse, heldOutMeanImageMse: meanImageMse, seconds: (Date.now() - started) / 1000,
}, null, 2) + '\n');
console.log(`wrote ${path.relative(process.cwd(), GENERATOR_DIR)}: held-out reconstruction MSE ${reconstructionMse.toFixed(5)} vs mean-image MSE ${meanImageMse.toFixed(5)}, generator ${(serializedGenerator.weights.byteLength / 1024).toFixed(0)} KiB, encoder ${(serializedEncoder.weights.byteLength / 1024).toFixed(0)} KiB`);
