/**
 * Trains the image generator behind the `generator` parameterisation (DGN-AM, Nguyen, Dosovitskiy,
 * Yosinski, Brox & Clune 2016) and writes it to priors/generator-shapes/ (node --import tsx
 * scripts/train-generator.ts, or npm run train:generator; about 12 minutes on one core, WASM). Not under models/: it
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
 * Loss: pixel MSE plus DGN-AM's feature loss (their generator was trained with image and feature
 * losses): the squared difference of the second bundled classifier shapes-b's conv3 activations and
 * logits on G(E(x)) and on x, each divided by its mean square on real images, × featureLoss.weight.
 * Pixel MSE alone blurs stripes and checkerboards whose phase the code does not pin down to the mean
 * colour (shapes-a then recognised 0% of the reconstructed stripes and checkerboards, and no code drew
 * them); the feature term asks for the texture's presence, period and orientation. This ties the prior
 * to shapes-b, whose weights stay frozen; shapes-a is never used in training, so that its recognition
 * of G(E(x)) (logged each epoch, stored in training.json) and the generator tests stay independent of it.
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
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { parseArgs } from 'node:util';
import { generateShapes, shapesTensor, DEFAULT_SHAPES_SIZE_PX, LABELS } from '@featurevis/engine/datasets';
import { serializeLayersModel, modelFilesFromDirectory, readModelArtifacts } from '@featurevis/engine/models';
import { writeLayersModelFiles } from './training/write-model.ts';
import { useTrainingBackend } from './training/backend.ts';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
export const GENERATOR_DIR = path.join(ROOT, 'priors', 'generator-shapes');

const PLAN = {
  seed: 11, datasetSeed: 11, sizePx: DEFAULT_SHAPES_SIZE_PX, codeDim: 64, codeNoiseStd: 0.05,
  epochs: 20, imagesPerEpoch: 2048, batchSize: 32, learningRate: 0.003, filters: [32, 64, 64],
  /**
   * The feature (perceptual) loss of DGN-AM's generator training: G(E(x)) must give the comparator
   * network the activations x gives it, at conv3 and at the logits, each squared error divided by the
   * mean square of x's activations there (measured once, below) and weighted by `weight`.
   */
  featureLoss: { model: 'shapes-b', layers: ['conv3', 'logits'], weight: 0.05 },
  heldOut: { seed: 777_777, count: 256 },
  /** The codes whose statistics are stored (a fresh seed: real images the training never saw). */
  statistics: { seed: 555_555, count: 1024 },
  /** Reported only, never trained on: how often shapes-a recognises G(E(x)) of held-out images, per class. */
  recognition: { model: 'shapes-a', seed: 31_337, count: 512 },
};
// Trials: --out DIR (instead of priors/generator-shapes), --epochs N, --images-per-epoch N, --feature-weight W.
const { values: args } = parseArgs({ options: { out: { type: 'string' }, epochs: { type: 'string' }, 'images-per-epoch': { type: 'string' }, 'feature-weight': { type: 'string' } } });
if (args.epochs) PLAN.epochs = Number(args.epochs);
if (args['images-per-epoch']) PLAN.imagesPerEpoch = Number(args['images-per-epoch']);
if (args['feature-weight']) PLAN.featureLoss.weight = Number(args['feature-weight']);
const outputDir = args.out ? path.resolve(args.out) : GENERATOR_DIR;

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

const loadBundledModel = async (name: string): Promise<tfl.LayersModel> =>
  tfl.loadLayersModel(tf.io.fromMemory((await readModelArtifacts(await modelFilesFromDirectory(path.join(ROOT, 'models', name)))).artifacts));

/** Share of the held-out images of each class whose reconstruction (and whose original) the classifier labels correctly. */
function recognition(classifier: tfl.LayersModel, encoder: tfl.LayersModel, generator: tfl.LayersModel) {
  const batch = generateShapes({ count: PLAN.recognition.count, seed: PLAN.recognition.seed, sizePx: PLAN.sizePx });
  const [original, reconstructed] = tf.tidy(() => {
    const x = shapesTensor(batch);
    const predicted = (t: tf.Tensor) => tf.argMax(classifier.predict(t) as tf.Tensor, -1).dataSync();
    return [predicted(x), predicted(generator.predict(encoder.predict(x) as tf.Tensor) as tf.Tensor)];
  });
  return Object.fromEntries(LABELS.map((label, c) => {
    const members = [...batch.labels.keys()].filter((i) => batch.labels[i] === c);
    const share = (predicted: ArrayLike<number>) => Number((members.filter((i) => predicted[i] === c).length / members.length).toFixed(3));
    return [label, { original: share(original), reconstructed: share(reconstructed) }];
  }));
}

await useTrainingBackend('wasm');
const encoder = buildEncoder();
const generator = buildGenerator();
// The comparator of the feature loss (frozen: its weights are not in the optimiser's list).
const comparatorModel = await loadBundledModel(PLAN.featureLoss.model);
const comparator = tfl.model({ inputs: comparatorModel.inputs, outputs: PLAN.featureLoss.layers.map((name) => comparatorModel.getLayer(name).output as tfl.SymbolicTensor) });
const features = (x: tf.Tensor): tf.Tensor[] => [comparator.apply(x, { training: false }) as tf.Tensor[]].flat();
const optimizer = tf.train.adam(PLAN.learningRate);
const trainable = [...encoder.trainableWeights, ...generator.trainableWeights].map((weight) => weight.read() as tf.Variable);
const heldOut = images(PLAN.heldOut.seed, PLAN.heldOut.count);
// The baseline: always answering the mean image of (a batch of) the training distribution.
const meanImageMse = tf.tidy(() => {
  const sample = images(PLAN.datasetSeed * 1000, PLAN.imagesPerEpoch);
  return mse(tf.broadcastTo(tf.mean(sample, 0, true), heldOut.shape), heldOut);
});
// Each feature layer's scale: the mean square of its activations on real images.
const featureScales = tf.tidy(() => features(heldOut).map((activation) => tf.mean(tf.square(activation)).dataSync()[0]));
const recognitionModel = await loadBundledModel(PLAN.recognition.model);
const describe = (shares: ReturnType<typeof recognition>) =>
  Object.entries(shares).map(([label, { original, reconstructed }]) => `${label} ${original} → ${reconstructed}`).join(', ');
const started = Date.now();
let noiseSeed = PLAN.seed * 1_000_000;
for (let epoch = 1; epoch <= PLAN.epochs; epoch++) {
  const epochStarted = Date.now();
  const data = images(PLAN.datasetSeed * 1000 + epoch, PLAN.imagesPerEpoch);
  let [lossSum, featureLossSum, steps] = [0, 0, 0];
  for (let start = 0; start < PLAN.imagesPerEpoch; start += PLAN.batchSize) {
    const seed = noiseSeed++;
    let featureLoss = 0;
    const loss = optimizer.minimize(() => tf.tidy(() => {
      const x = tf.slice(data, start, PLAN.batchSize);
      const code = encoder.apply(x, { training: true }) as tf.Tensor2D;
      const noisy = tf.add(code, tf.randomNormal(code.shape, 0, PLAN.codeNoiseStd, 'float32', seed));
      const reconstructed = generator.apply(noisy, { training: true }) as tf.Tensor;
      const target = features(x);
      const perceptual = tf.addN(features(reconstructed).map((activation, i) =>
        tf.div(tf.mean(tf.squaredDifference(activation, target[i])), featureScales[i])));
      featureLoss = perceptual.dataSync()[0];
      return tf.add(tf.mean(tf.squaredDifference(reconstructed, x)), tf.mul(PLAN.featureLoss.weight, perceptual)) as tf.Scalar;
    }), true, trainable)!;
    lossSum += loss.dataSync()[0];
    featureLossSum += featureLoss;
    loss.dispose();
    steps++;
  }
  data.dispose();
  const reconstructed = reconstruct(encoder, generator, heldOut);
  const heldOutMse = mse(reconstructed, heldOut);
  reconstructed.dispose();
  console.log(`epoch ${epoch}: training loss ${(lossSum / steps).toFixed(5)} (feature term ${(featureLossSum / steps).toFixed(4)} before weighting), held-out reconstruction MSE ${heldOutMse.toFixed(5)} (mean-image MSE ${meanImageMse.toFixed(5)}), ${((Date.now() - epochStarted) / 1000).toFixed(1)} s`);
  console.log(`  ${PLAN.recognition.model} recognises (original → reconstruction): ${describe(recognition(recognitionModel, encoder, generator))}`);
}
const seconds = (Date.now() - started) / 1000;
const reconstructed = reconstruct(encoder, generator, heldOut);
const reconstructionMse = mse(reconstructed, heldOut);
reconstructed.dispose();
const recognised = recognition(recognitionModel, encoder, generator);
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
await rm(outputDir, { recursive: true, force: true });
await writeLayersModelFiles(outputDir, serializedGenerator);
await writeLayersModelFiles(path.join(outputDir, 'encoder'), serializedEncoder);
const round = (values: number[]) => values.map((value) => Number(value.toFixed(6)));
await writeFile(path.join(outputDir, 'codes.json'), JSON.stringify({
  description: `Per-dimension statistics of the encoder's codes of ${PLAN.statistics.count} shapes images (seed ${PLAN.statistics.seed}, ${PLAN.sizePx} px); p01/p99 are the 1st and 99th percentiles.`,
  codeDim: PLAN.codeDim, sizePx: PLAN.sizePx,
  ...Object.fromEntries(Object.entries(statistics).map(([key, values]) => [key, round(values)])),
}, null, 1) + '\n');
await writeFile(path.join(outputDir, 'training.json'), JSON.stringify({
  description: 'Generator (decoder) of a convolutional autoencoder of the procedural shapes set, the image generator of DGN-AM (the `generator` parameterisation): code [codeDim] → RGB in [0,1] at sizePx. encoder/ maps images back to codes.',
  script: 'scripts/train-generator.ts', ...PLAN, optimizer: 'adam', loss: 'meanSquaredError + featureLoss.weight × feature loss',
  heldOutReconstructionMse: reconstructionMse, heldOutMeanImageMse: meanImageMse, recognition: recognised, seconds,
}, null, 2) + '\n');
console.log(`wrote ${path.relative(process.cwd(), outputDir)}: held-out reconstruction MSE ${reconstructionMse.toFixed(5)} vs mean-image MSE ${meanImageMse.toFixed(5)}, generator ${(serializedGenerator.weights.byteLength / 1024).toFixed(0)} KiB, encoder ${(serializedEncoder.weights.byteLength / 1024).toFixed(0)} KiB`);
