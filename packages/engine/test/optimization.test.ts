/**
 * The optimisation loop: every parameterisation and optimiser raises the objective, Lucid's redirected
 * ReLU gradient revives dead units in the early steps, seeds reproduce byte for byte, the metrics are
 * present and right, snapshots and progress arrive at the chosen steps, and no run — finished,
 * canceled or failed — leaves a tensor behind. Fixture classifier (or a model built here), WASM
 * backend, 16 px, ≤ 20 steps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Parameterization as ParameterizationSpec } from '@featurevis/contracts';
import { loadModel, serializeLayersModel, serializedModelFiles } from '../src/models/index.ts';
import { withRedirectedReluGradients } from '../src/optimizers/index.ts';
import { priors } from '../src/priors/index.ts';
import { totalVariationPenalty } from '../src/priors/totalVariation.ts';
import { highFrequencyEnergyOf } from '../src/metrics/index.ts';
import { nativeConvActive, nativeConvInstructionSet } from '../src/backends/index.ts';
import { encodePng } from '../src/png.ts';
import { CanceledError, type LoadedModel, type VisualizationOutput } from '../src/types.ts';
import { visualize } from '../src/visualize.ts';
import { fixtureRequest, gain, loadFixtureOnWasm, perImage, pixels, run } from './helpers/visualize-fixture.ts';

const model = await loadFixtureOnWasm();
const baseline = tf.memory().numTensors;

const ring = { type: 'class', class: 'ring' } as const;
const channel5 = { type: 'channel', layer: 'conv2', channel: 5 } as const;

/** The run's final images as one NHWC tensor, from its PNGs. */
function imagesOf(output: VisualizationOutput): tf.Tensor4D {
  const { width, height } = output.images[0];
  return tf.tensor4d(Float32Array.from(output.images.flatMap((image) => Array.from(pixels(image)))), [output.images.length, height, width, 3]);
}

test('every parameterisation, with and without colour decorrelation, raises the objective in 20 steps', async () => {
  // `minGain` is about a third of what each reaches; the naive pixel run gains 0.47.
  const cases: Array<[ParameterizationSpec, number]> = [
    [{ type: 'pixel' }, 0.15],
    [{ type: 'pixel', decorrelate: true }, 0.08],
    [{ type: 'pixel', range: 'sigmoid' }, 0.06],
    [{ type: 'pixel', decorrelate: { matrix: [[0.3, 0, 0], [0, 0.2, 0], [0.05, 0.05, 0.25]] } }, 0.05],
    [{ type: 'fourier' }, 0.1],
    [{ type: 'fourier', decorrelate: true }, 0.05],
    [{ type: 'fourier', decorrelate: true, range: 'sigmoid' }, 0.02],
    [{ type: 'fourier', decayPower: 0 }, 0.05],
    [{ type: 'laplacian' }, 0.13],
    [{ type: 'laplacian', decorrelate: true }, 0.08],
    [{ type: 'laplacian', levels: 2, range: 'sigmoid' }, 0.03],
    [{ type: 'cppn' }, 0.07],
    [{ type: 'cppn', hiddenLayers: 2, hiddenChannels: 8 }, 0.03],
  ];
  for (const [parameterization, minGain] of cases) {
    const output = await run(model, { objective: ring, parameterization });
    if (process.env.SHOW_GAINS) console.log(JSON.stringify(parameterization), gain(output).toFixed(3));
    assert.ok(gain(output) >= minGain, `${JSON.stringify(parameterization)}: gain ${gain(output)}, want ≥ ${minGain}`);
  }
});

test('every initialisation starts where it says and the objective rises from there', async () => {
  // A 2×2 PNG (red, green, blue, white), resized to the image size.
  const png = Buffer.from(encodePng([1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1], 2, 2)).toString('base64');
  for (const init of [{ type: 'noise', std: 0.1 }, { type: 'constant', value: 0.2 }, { type: 'mean' }, { type: 'image', png }] as const) {
    const first = await run(model, { objective: ring, init, steps: 1, optimizer: { learningRate: 1e-6 } });
    const start = pixels(first.images[0]);
    if (init.type === 'constant') assert.ok(start.every((v) => Math.abs(v - 0.2) < 3 / 255));
    if (init.type === 'mean') assert.ok(start.every((v) => Math.abs(v - 0.5) < 3 / 255), 'the fixture has no mean: grey');
    if (init.type === 'image') assert.ok(start[0] > 0.9 && start[1] < 0.1 && start[2] < 0.1, 'the top-left pixel is red');
    if (init.type === 'noise') assert.ok(Math.max(...start) - Math.min(...start) > 0.3);
    const output = await run(model, { objective: ring, init });
    assert.ok(gain(output) > 0.15, `${init.type}: gain ${gain(output)}`);
  }
});

test('Adam and SGD (with and without momentum) raise the objective; normalised SGD moves each image by the learning rate', async () => {
  for (const optimizer of [{ type: 'adam' }, { type: 'sgd', momentum: 0, normalizeGradients: true }, { type: 'sgd', momentum: 0.9, normalizeGradients: true, learningRate: 0.02 }] as const) {
    const output = await run(model, { objective: ring, optimizer });
    assert.ok(gain(output) > 0.1, `${JSON.stringify(optimizer)}: gain ${gain(output)}`);
  }
  // From flat grey, one normalised gradient step of SGD changes the pixels by an RMS of exactly the
  // learning rate (up to 8-bit rounding); without normalisation a logit's raw gradient barely moves them.
  const rmsChange = async (normalizeGradients: boolean) => {
    const output = await run(model, { objective: ring, steps: 1, init: { type: 'constant', value: 0.5 }, optimizer: { type: 'sgd', momentum: 0, learningRate: 0.05, normalizeGradients } });
    const rgb = pixels(output.images[0]);
    return Math.sqrt(rgb.reduce((sum, v) => sum + (v - 128 / 255) ** 2, 0) / rgb.length);
  };
  const normalised = await rmsChange(true);
  assert.ok(Math.abs(normalised - 0.05) < 0.005, `RMS change ${normalised}`);
  assert.ok(await rmsChange(false) < 0.01);
});

/**
 * A model with a dead unit: `units` is a 1×1 convolution with a ReLU whose channel 0 is red − 0.8
 * (negative for every image whose red is below 0.8, so dead on grey) and channel 1 green (alive).
 */
async function deadUnitModel(): Promise<LoadedModel> {
  const input = tfl.input({ shape: [null, null, 3], name: 'image' });
  const weights = [tf.tensor4d([1, 0, 0, 1, 0, 0], [1, 1, 3, 2]), tf.tensor1d([-0.8, 0])];
  const units = tfl.layers.conv2d({ filters: 2, kernelSize: 1, activation: 'relu', name: 'units', weights }).apply(input) as tfl.SymbolicTensor;
  tf.dispose(weights);
  const pooled = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(units) as tfl.SymbolicTensor;
  const output = tfl.layers.dense({ units: 2, activation: 'softmax', name: 'classes', kernelInitializer: 'ones' }).apply(pooled) as tfl.SymbolicTensor;
  const built = tfl.model({ inputs: input, outputs: output });
  const serialized = await serializeLayersModel(built);
  built.dispose();
  return loadModel(serializedModelFiles(serialized), { id: 'dead', defaultSizePx: 8 });
}

test('redirected ReLU gradient: a dead unit gets a gradient that raises it, live units keep theirs, and it is undone afterwards', async () => {
  const dead = await deadUnitModel();
  try {
    tf.tidy(() => {
      // Item 0 is grey (unit 0 dead), item 1 is bright red (unit 0 alive).
      const images = tf.concat([tf.fill([1, 4, 4, 3], 0.5), tf.mul(tf.ones([1, 4, 4, 3]), tf.tensor1d([0.95, 0.5, 0.5]))]) as tf.Tensor4D;
      // Gradients of the loss that the optimiser minimises, as in the loop: minus the unit to raise it.
      const unitSum = (x: tf.Tensor) => tf.sum(tf.slice(dead.activations(x as tf.Tensor4D, ['units'])[0], [0, 0, 0, 0], [-1, -1, -1, 1]));
      const raise = (x: tf.Tensor) => tf.neg(unitSum(x));
      const ordinary = tf.grad(raise)(images);
      const redirected = withRedirectedReluGradients(() => tf.grad(raise)(images));
      const after = tf.grad(raise)(images);
      const item = (g: tf.Tensor, b: number) => tf.slice(g, [b, 0, 0, 0], [1, -1, -1, -1]);
      // Ordinary: nothing reaches the grey image.
      assert.equal(tf.max(tf.abs(item(ordinary, 0))).dataSync()[0], 0);
      // Redirected: descending the loss makes every pixel of the grey image redder (the unit's only
      // weight), and nothing else.
      assert.deepEqual(Array.from(tf.max(item(redirected, 0), [0, 1, 2]).dataSync()), [-1, 0, 0]);
      assert.deepEqual(Array.from(tf.min(item(redirected, 0), [0, 1, 2]).dataSync()), [-1, 0, 0]);
      // The live item's gradient is the ordinary one.
      assert.deepEqual(item(redirected, 1).arraySync(), item(ordinary, 1).arraySync());
      assert.notEqual(tf.max(tf.abs(item(ordinary, 1))).dataSync()[0], 0);
      // The registry is restored: the ordinary gradient again.
      assert.deepEqual(after.arraySync(), ordinary.arraySync());
      // A loss that would push the dead unit further down is not redirected.
      assert.equal(tf.max(tf.abs(item(withRedirectedReluGradients(() => tf.grad(unitSum)(images)), 0))).dataSync()[0], 0);
    });

    // In a run: without the override the dead unit never starts and the image stays grey; with it
    // (the default, 16 steps) the unit comes alive and keeps rising on its ordinary gradient.
    const request = { model: 'dead', objective: { type: 'channel', layer: 'units', channel: 0 }, steps: 20, seed: 1, image: { size: 8 } } as const;
    const stuck = await visualize(dead, { ...request, reluGradientOverrideSteps: 0 });
    assert.ok(stuck.trace.every((value) => value === 0));
    assert.equal(stuck.metrics.objective, 0);
    const revived = await visualize(dead, request);
    // Dead at the start, alive within the override's steps, and at its maximum (red at 1: 1 − 0.8) by the end.
    assert.equal(revived.trace[0], 0);
    assert.ok(revived.trace[15] > 0.1, `objective at step 16: ${revived.trace[15]}`);
    assert.ok(Math.abs((revived.metrics.objective as number) - 0.2) < 1e-3, `objective ${revived.metrics.objective}`);
  } finally {
    dead.dispose();
  }
});

test('seeds: the same seed gives byte-identical PNGs and snapshots; another seed gives other images', async () => {
  // The lucid preset draws the most randomness: Fourier noise and four random transforms per step.
  const request = { objective: ring, method: 'lucid' as const, steps: 12, image: { batch: 2 }, snapshots: [4] };
  const [a, b, c] = [await run(model, { ...request, seed: 7 }), await run(model, { ...request, seed: 7 }), await run(model, { ...request, seed: 8 })];
  assert.equal(a.backend, 'wasm');
  // Reproduction is per backend and, on WASM, per convolution implementation: the output says which ran.
  assert.equal(a.convolutions, (nativeConvActive() && nativeConvInstructionSet()) || 'xnnpack');
  for (const item of [0, 1]) {
    assert.deepEqual(a.images[item].png, b.images[item].png);
    assert.deepEqual(a.snapshots[item].png, b.snapshots[item].png);
    assert.notDeepEqual(a.images[item].png, c.images[item].png);
  }
  assert.deepEqual(a.trace, b.trace);
  // The two images of a batch start from different noise.
  assert.notDeepEqual(a.images[0].png, a.images[1].png);
  // Pixel noise (the naive preset) too.
  const [d, e] = [await run(model, { objective: ring, seed: 3 }), await run(model, { objective: ring, seed: 3 })];
  assert.deepEqual(d.images[0].png, e.images[0].png);
});

test('metrics: objective, total variation and high-frequency energy of the result; class probability only for class objectives', async () => {
  const classRun = await run(model, { objective: ring, image: { batch: 2 } });
  const metrics = classRun.metrics as Record<string, number>;
  tf.tidy(() => {
    const images = imagesOf(classRun);
    const probabilities = tf.softmax(model.activations(images, ['@logits'])[0]).arraySync() as number[][];
    // Computed on the float images; the PNGs differ by at most half an 8-bit level.
    const close = (actual: number | null, expected: number, tolerance: number, what: string) => assert.ok(actual !== null && Math.abs(actual - expected) < tolerance, `${what}: ${actual} vs ${expected}`);
    perImage(classRun, 'classProbability').forEach((p, i) => close(p, probabilities[i][3], 5e-3, `class probability ${i}`));
    close(metrics.classProbability, (probabilities[0][3] + probabilities[1][3]) / 2, 5e-3, 'mean class probability');
    const logits = model.activations(images, ['@logits'])[0].arraySync() as number[][];
    perImage(classRun, 'objective').forEach((v, i) => close(v, logits[i][3], 2e-2, `objective ${i}`));
    const tv = totalVariationPenalty(images).arraySync();
    perImage(classRun, 'totalVariation').forEach((v, i) => close(v, tv[i], 1e-2, `total variation ${i}`));
    const hf = highFrequencyEnergyOf(images).arraySync();
    perImage(classRun, 'highFrequencyEnergy').forEach((v, i) => close(v, hf[i], 5e-3, `high-frequency energy ${i}`));
  });
  for (const name of ['objective', 'classProbability', 'totalVariation', 'highFrequencyEnergy']) assert.ok(Number.isFinite(metrics[name]), name);
  assert.ok(metrics.classProbability > 0 && metrics.classProbability < 1 && metrics.totalVariation > 0 && metrics.highFrequencyEnergy > 0);
  // The objective is raised, so the ring class's probability is above chance (4 classes).
  assert.ok(metrics.classProbability > 0.25);

  const channelRun = await run(model, { objective: channel5 });
  assert.equal(channelRun.metrics.classProbability, null);
  assert.deepEqual(perImage(channelRun, 'classProbability'), null);
  assert.ok(Number.isFinite(channelRun.metrics.objective));
  // A sum with a class in it is not a class objective.
  assert.equal((await run(model, { objective: { type: 'sum', terms: [{ objective: ring }, { objective: channel5 }] } })).metrics.classProbability, null);
  // Per item: a probability where the item's objective is a class, null elsewhere; the mean over those.
  const mixed = await run(model, { objective: [channel5, ring, { type: 'class', class: 0 }] });
  const p = perImage(mixed, 'classProbability');
  assert.equal(p[0], null);
  assert.ok(typeof p[1] === 'number' && typeof p[2] === 'number');
  assert.ok(Math.abs((mixed.metrics.classProbability as number) - ((p[1] as number) + (p[2] as number)) / 2) < 1e-6);
});

test('the result: a trace value per step, the settings used, timings; snapshots and progress at the chosen steps', async () => {
  const progress: Array<{ step: number; objective: number }> = [];
  const output = await visualize(model, fixtureRequest({ objective: ring, steps: 12, image: { batch: 2 }, snapshots: [12, 1, 5, 99, 5] }), {
    progressEverySteps: 5, onProgress: ({ step, steps, objective }) => { assert.equal(steps, 12); progress.push({ step, objective }); },
  });
  assert.equal(output.trace.length, 12);
  assert.ok(output.trace.every(Number.isFinite));
  assert.deepEqual(progress.map(({ step }) => step), [5, 10, 12]);
  assert.deepEqual(progress.map(({ objective }) => objective), [output.trace[4], output.trace[9], output.trace[11]]);
  // Snapshots: each requested step once, in order, one image per batch item; the last step's is the result.
  assert.deepEqual(output.snapshots.map(({ step, index }) => [step, index]), [[1, 0], [1, 1], [5, 0], [5, 1], [12, 0], [12, 1]]);
  assert.deepEqual(output.snapshots[4].png, output.images[0].png);
  assert.notDeepEqual(output.snapshots[0].png, output.images[0].png);
  assert.deepEqual(output.images.map(({ index, width, height }) => [index, width, height]), [[0, 16, 16], [1, 16, 16]]);
  const settings = output.settings as Record<string, unknown>;
  assert.equal(settings.method, 'naive');
  assert.equal(settings.seed, 1);
  assert.equal(settings.steps, 12);
  assert.deepEqual(settings.snapshots, [1, 5, 12]);
  assert.deepEqual(settings.objective, ring);
  assert.ok(output.timings.meanStepMs > 0 && output.timings.totalMs >= output.timings.meanStepMs * 12);
});

test('no tensors are left behind by a finished, a canceled or a failed run', async () => {
  assert.equal(tf.memory().numTensors, baseline);
  let checks = 0;
  await assert.rejects(visualize(model, fixtureRequest({ objective: ring, steps: 20, method: 'yosinski' }), { isCanceled: () => ++checks > 3 }), CanceledError);
  assert.equal(checks, 4);
  assert.equal(tf.memory().numTensors, baseline);
  // A step that fails after the objective is computed (here a step hook that throws at step 2).
  const registry = priors as unknown as Record<string, unknown>;
  registry.failing = () => ({ hook: ({ step }: { step: number }) => { if (step === 2) throw new Error('hook failed'); } });
  try {
    await assert.rejects(run(model, { objective: ring, priors: [{ type: 'failing' } as never] }), /hook failed/);
  } finally {
    delete registry.failing;
  }
  assert.equal(tf.memory().numTensors, baseline);
  // An invalid request, refused before the first step.
  await assert.rejects(run(model, { objective: { type: 'neuron', layer: 'conv2', channel: 0, x: 99 } }));
  await assert.rejects(run(model, { objective: ring, init: { type: 'image', png: 'not a png' } }));
  assert.equal(tf.memory().numTensors, baseline);
});
