/**
 * Objectives: each computes what its request says on known activations, and each — leaf, composite
 * and per-item list — rises when the engine optimises it (16 px, 20 steps of the `naive` preset on
 * the fixture classifier, WASM backend).
 */
import { test } from 'node:test';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { Objective as ObjectiveSpec } from '@featurevis/contracts';
import { buildObjective, LOGITS } from '../src/objectives/index.ts';
import { InvalidSpecError, type LoadedModel, type VisualizationOutput } from '../src/types.ts';
import { visualize } from '../src/visualize.ts';
import { loadModelFromDirectory } from '../src/models/index.ts';
import { fixtureRequest, gain, loadFixtureOnWasm, perImage, pixels, run } from './helpers/visualize-fixture.ts';

const model = await loadFixtureOnWasm();
const baseline = tf.memory().numTensors;

/**
 * The model without `channelsFromInput`, so that a channel objective reads the layer's own output (the
 * synthetic activations below); the path from the layer's input is tested against it further down.
 */
const fromOutputs: LoadedModel = { ...model, channelsFromInput: undefined };

/** The objective's value per item on given activations (a map from layer name to tensor). */
function valueOn(spec: ObjectiveSpec, activations: Record<string, tf.Tensor>, batchSize: number): number[] {
  return tf.tidy(() => Array.from(buildObjective(spec, { model: fromOutputs, batchSize }).value(new Map(Object.entries(activations)), batchSize).dataSync()));
}

/** conv2-shaped activations [batch, 4, 4, 16] whose value at (item, y, x, c) is item·1000 + y·100 + x·10 + c. */
function indexedActivations(batch: number): tf.Tensor4D {
  const values = new Float32Array(batch * 4 * 4 * 16);
  let i = 0;
  for (let item = 0; item < batch; item++) for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) for (let c = 0; c < 16; c++) values[i++] = item * 1000 + y * 100 + x * 10 + c;
  return tf.tensor4d(values, [batch, 4, 4, 16]);
}

function assertClose(actual: number[], expected: number[], tolerance = 1e-3) {
  assert.equal(actual.length, expected.length, `${actual} vs ${expected}`);
  actual.forEach((value, i) => assert.ok(Math.abs(value - expected[i]) <= tolerance * Math.max(1, Math.abs(expected[i])), `item ${i}: ${value} vs ${expected[i]}`));
}

test('leaf objectives compute what they say: neuron, channel, layer, class, direction, region', () => {
  tf.tidy(() => {
    const conv2 = indexedActivations(2);
    // The neuron's default position is Lucid's centre, ⌊size/2⌋ = (2, 2).
    assertClose(valueOn({ type: 'neuron', layer: 'conv2', channel: 3 }, { conv2 }, 2), [223, 1223]);
    assertClose(valueOn({ type: 'neuron', layer: 'conv2', channel: 3, x: 1, y: 0 }, { conv2 }, 2), [13, 1013]);
    // Spatial mean: y and x average 1.5 each.
    assertClose(valueOn({ type: 'channel', layer: 'conv2', channel: 7 }, { conv2 }, 2), [150 + 15 + 7, 1172]);
    // Mean square of the whole layer, item 0 = mean over y, x, c of (100y + 10x + c)².
    let meanSquare = 0;
    for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) for (let c = 0; c < 16; c++) meanSquare += (100 * y + 10 * x + c) ** 2 / 256;
    assertClose(valueOn({ type: 'layer', layer: 'conv2' }, { conv2 }, 2).slice(0, 1), [meanSquare]);
    // The class objective reads the pre-softmax scores, by label or index.
    const logits = tf.tensor2d([[1, 2, 3, 4], [5, 6, 7, 8]]);
    assertClose(valueOn({ type: 'class', class: 'ring' }, { [LOGITS]: logits }, 2), [4, 8]);
    assertClose(valueOn({ type: 'class', class: 1 }, { [LOGITS]: logits }, 2), [2, 6]);
    // Direction: the spatial mean of the activations dotted with the vector (here channel 2 minus channel 1).
    const vector = Array.from({ length: 16 }, (_, c) => (c === 2 ? 1 : c === 1 ? -1 : 0));
    assertClose(valueOn({ type: 'direction', layer: 'conv2', vector }, { conv2 }, 2), [1, 1]);
    // Region: the top-left quarter of a 4×4 grid is y, x ∈ {0, 1}: mean 100·0.5 + 10·0.5 + c.
    assertClose(valueOn({ type: 'region', layer: 'conv2', channel: 4, region: { x: 0, y: 0, width: 0.5, height: 0.5 } }, { conv2 }, 2), [59, 1059]);
    assertClose(valueOn({ type: 'region', layer: 'conv2', channel: 4, region: { x: 0.5, y: 0.75, width: 0.5, height: 0.25 } }, { conv2 }, 2), [300 + 25 + 4, 1329]);
  });
});

test('diversity is minus each item\'s summed cosine similarity to the others\' Gram matrices', () => {
  tf.tidy(() => {
    // Three identical items: each is similar (cosine 1) to two others. Two items with orthogonal Gram
    // matrices (disjoint channels): similarity 0.
    const same = tf.tile(tf.randomUniform([1, 4, 4, 8], 0, 1, 'float32', 3), [3, 1, 1, 1]);
    assertClose(valueOn({ type: 'diversity', layer: 'conv1' }, { conv1: same }, 3), [-2, -2, -2]);
    const onlyChannel = (c: number) => tf.mul(tf.ones([1, 4, 4, 8]), tf.reshape(tf.oneHot(tf.tensor1d([c], 'int32'), 8), [1, 1, 1, 8]));
    assertClose(valueOn({ type: 'diversity', layer: 'conv1' }, { conv1: tf.concat([onlyChannel(0), onlyChannel(5)]) }, 2), [0, 0]);
  });
});

test('composites: a weighted sum, a negation, an interpolation across the batch, and one objective per item', () => {
  tf.tidy(() => {
    const conv2 = indexedActivations(3);
    const channel = (c: number) => ({ type: 'channel', layer: 'conv2', channel: c }) as const;
    const [c0, c1] = [valueOn(channel(0), { conv2 }, 3), valueOn(channel(1), { conv2 }, 3)];
    assertClose(valueOn({ type: 'sum', terms: [{ objective: channel(0), weight: 2 }, { objective: channel(1), weight: -0.5 }, { objective: channel(1) }] }, { conv2 }, 3),
      c0.map((v, i) => 2 * v + 0.5 * c1[i]));
    assertClose(valueOn({ type: 'negate', objective: channel(1) }, { conv2 }, 3), c1.map((v) => -v));
    // Item i of 3 maximises (1 − t)·from + t·to with t = 0, ½, 1.
    assertClose(valueOn({ type: 'interpolate', from: channel(0), to: channel(1) }, { conv2 }, 3), [c0[0], (c0[1] + c1[1]) / 2, c1[2]]);
    // Per item: item i gets objective i, through the general path (mixed types) and the one-pass path
    // (channels of one layer).
    const neuron = { type: 'neuron', layer: 'conv2', channel: 9 } as const;
    assertClose(valueOn([channel(0), neuron, channel(1)], { conv2 }, 3), [c0[0], 1000 + 220 + 9, c1[2]]);
    assertClose(valueOn([channel(1), channel(0), channel(15)], { conv2 }, 3), [c1[0], c0[1], 2000 + 150 + 15 + 15]);
  });
});

test('an impossible objective fails before the first step, naming the field', async () => {
  const cases: Array<[ObjectiveSpec, string]> = [
    [{ type: 'channel', layer: 'conv9', channel: 0 }, 'objective.layer'],
    [{ type: 'channel', layer: 'conv2', channel: 16 }, 'objective.channel'],
    [{ type: 'class', class: 'hexagon' }, 'objective.class'],
    [{ type: 'direction', layer: 'conv2', vector: [1, 2] }, 'objective.vector'],
    [{ type: 'region', layer: 'gap', channel: 0, region: { x: 0, y: 0, width: 1, height: 1 } }, 'objective.layer'],
    [{ type: 'sum', terms: [{ objective: { type: 'channel', layer: 'conv2', channel: 0 } }, { objective: { type: 'layer', layer: 'nope' } }] }, 'objective.terms[1].objective.layer'],
    [[{ type: 'class', class: 0 }, { type: 'class', class: 9 }], 'objective[1].class'],
    // A sweep's list (channels of one layer) is checked item by item too.
    [[{ type: 'channel', layer: 'conv2', channel: 0 }, { type: 'channel', layer: 'conv2', channel: 16 }], 'objective[1].channel'],
    [[{ type: 'channel', layer: 'conv9', channel: 0 }, { type: 'channel', layer: 'conv9', channel: 1 }], 'objective[0].layer'],
    // conv2 is 8 × 8 at 16 px.
    [{ type: 'neuron', layer: 'conv2', channel: 0, x: 8 }, 'objective.x'],
    [{ type: 'sum', terms: [{ objective: { type: 'neuron', layer: 'conv1', channel: 0, y: 16 } }] }, 'objective.terms[0].objective.y'],
  ];
  for (const [objective, field] of cases) {
    const steps: number[] = [];
    await assert.rejects(
      visualize(model, fixtureRequest({ objective }), { progressEverySteps: 1, onProgress: ({ step }) => steps.push(step) }),
      (error: unknown) => error instanceof InvalidSpecError && error.field === field,
      JSON.stringify(objective),
    );
    assert.deepEqual(steps, [], JSON.stringify(objective));
  }
});

/** Each objective in `values` evaluated on the run's final (PNG) images: [objective][item]. */
function evaluateOnImages(output: VisualizationOutput, specs: ObjectiveSpec[], loaded: LoadedModel = model): number[][] {
  const { width, height } = output.images[0];
  return tf.tidy(() => {
    const images = tf.tensor4d(Float32Array.from(output.images.flatMap((image) => Array.from(pixels(image)))), [output.images.length, height, width, 3]);
    return specs.map((spec) => {
      const objective = buildObjective(spec, { model: loaded, batchSize: output.images.length });
      try {
        const layers = [...objective.layers];
        const activations = loaded.activations(images, layers);
        return Array.from(objective.value(new Map(layers.map((layer, i) => [layer, activations[i]])), output.images.length).dataSync());
      } finally {
        objective.dispose();
      }
    });
  });
}

const channel5 = { type: 'channel', layer: 'conv2', channel: 5 } as const;
const channel11 = { type: 'channel', layer: 'conv2', channel: 11 } as const;

/** Every objective type, with the batch it needs; `minGain` is about a third of what 20 steps reach. */
const rising: Array<{ name: string; objective: ObjectiveSpec; batch?: number; minGain: number }> = [
  { name: 'neuron (centre)', objective: { type: 'neuron', layer: 'conv2', channel: 3 }, minGain: 0.6 },
  { name: 'neuron (corner)', objective: { type: 'neuron', layer: 'conv1', channel: 1, x: 0, y: 15 }, minGain: 0.15 },
  { name: 'channel', objective: channel5, minGain: 0.06 },
  { name: 'layer', objective: { type: 'layer', layer: 'conv2' }, minGain: 0.03 },
  { name: 'class', objective: { type: 'class', class: 'ring' }, minGain: 0.15 },
  { name: 'direction', objective: { type: 'direction', layer: 'conv2', vector: Array.from({ length: 16 }, (_, i) => (i % 3) - 1) }, minGain: 0.25 },
  { name: 'region', objective: { type: 'region', layer: 'conv2', channel: 2, region: { x: 0, y: 0, width: 0.5, height: 0.5 } }, minGain: 0.1 },
  { name: 'diversity', objective: { type: 'diversity', layer: 'conv1' }, batch: 2, minGain: 0.3 },
  { name: 'sum', objective: { type: 'sum', terms: [{ objective: channel5 }, { objective: { type: 'class', class: 'green' }, weight: -0.5 }] }, minGain: 0.13 },
  { name: 'negate', objective: { type: 'negate', objective: { type: 'class', class: 'ring' } }, minGain: 0.12 },
  { name: 'interpolate', objective: { type: 'interpolate', from: channel5, to: channel11 }, batch: 3, minGain: 0.14 },
  { name: 'per-item list (mixed)', objective: [channel5, { type: 'class', class: 'red' }, { type: 'neuron', layer: 'conv2', channel: 3 }], minGain: 0.28 },
  { name: 'per-item list (one layer)', objective: [channel5, channel11], minGain: 0.14 },
];

for (const { name, objective, batch, minGain } of rising) {
  test(`${name}: 20 steps raise the objective`, async () => {
    const output = await run(model, { objective, image: { batch: batch ?? (Array.isArray(objective) ? objective.length : 1) } });
    assert.ok(gain(output) >= minGain, `${name}: ${output.trace[0]} → ${output.metrics.objective} (gain ${gain(output)}, want ≥ ${minGain})`);
    // The trace rises too: the last steps sit above the first.
    assert.ok(output.trace.at(-1)! > output.trace[0]);
    // Per item too: every image of the batch ends above the batch's starting mean (it starts near grey).
    for (const value of perImage(output, 'objective')) assert.ok((value as number) > output.trace[0], `${name}: item ${value} ≤ start ${output.trace[0]}`);
  });
}

test('per-item lists and interpolation: each image maximises its own objective, not its neighbours\'', async () => {
  const listed = await run(model, { objective: [channel5, channel11], image: { batch: 2 } });
  const [[five0, five1], [eleven0, eleven1]] = evaluateOnImages(listed, [channel5, channel11]);
  assert.ok(five0 > five1 && eleven1 > eleven0, `channel 5: ${five0} vs ${five1}; channel 11: ${eleven0} vs ${eleven1}`);

  const walk = await run(model, { objective: { type: 'interpolate', from: channel5, to: channel11 }, image: { batch: 3 } });
  const [from, to] = evaluateOnImages(walk, [channel5, channel11]);
  assert.ok(from[0] > from[2] && to[2] > to[0], `from: ${from}; to: ${to}`);
});

test('the diversity term makes a batch for one unit less alike', async () => {
  const diversity = { type: 'diversity', layer: 'conv1' } as const;
  const alone = await run(model, { objective: channel5, image: { batch: 3 } });
  const diverse = await run(model, { objective: { type: 'sum', terms: [{ objective: channel5 }, { objective: diversity, weight: 0.2 }] }, image: { batch: 3 } });
  const [similarityAlone, similarityDiverse] = [alone, diverse].map((output) => -evaluateOnImages(output, [diversity])[0].reduce((a, b) => a + b, 0) / 3);
  assert.ok(similarityDiverse < similarityAlone - 0.1, `mean summed cosine similarity ${similarityAlone} without, ${similarityDiverse} with diversity`);
  // …and the unit is still driven.
  assert.ok(gain(diverse) > 0);
});

test('negation finds what the unit dislikes: the class logit ends below where it started', async () => {
  const ring = { type: 'class', class: 'ring' } as const;
  const output = await run(model, { objective: { type: 'negate', objective: ring } });
  const [[logit]] = evaluateOnImages(output, [ring]);
  assert.ok(logit < -output.trace[0] - 0.1, `logit ${logit}, started at ${-output.trace[0]}`);
});

/** Mean |x − ½| of an image's rows [top, bottom) and columns [left, right). */
function distanceFromGreyIn(rgb: Float32Array, sizePx: number, [top, bottom]: [number, number], [left, right]: [number, number]): number {
  let total = 0;
  for (let y = top; y < bottom; y++) for (let x = left; x < right; x++) for (let c = 0; c < 3; c++) total += Math.abs(rgb[(y * sizePx + x) * 3 + c] - 0.5);
  return total / ((bottom - top) * (right - left) * 3);
}

test('spatial objectives change the image only where they look: a region, a neuron, two regions with different targets', async () => {
  // conv1 is a 3×3 convolution at full size, so its top-left quarter sees image rows and columns 0–8.
  const region = await run(model, { objective: { type: 'region', layer: 'conv1', channel: 0, region: { x: 0, y: 0, width: 0.5, height: 0.5 } } });
  const rgb = pixels(region.images[0]);
  assert.ok(distanceFromGreyIn(rgb, 16, [0, 8], [0, 8]) > 0.1);
  // Pixels outside the receptive field get no gradient and keep their faint starting noise (std 0.01).
  assert.ok(distanceFromGreyIn(rgb, 16, [10, 16], [0, 16]) < 0.02 && distanceFromGreyIn(rgb, 16, [0, 16], [10, 16]) < 0.02);

  const neuron = await run(model, { objective: { type: 'neuron', layer: 'conv1', channel: 0, x: 12, y: 3 } });
  const changed = pixels(neuron.images[0]);
  assert.ok(distanceFromGreyIn(changed, 16, [2, 5], [11, 14]) > 0.1);
  assert.ok(distanceFromGreyIn(changed, 16, [6, 16], [0, 16]) < 0.02 && distanceFromGreyIn(changed, 16, [0, 16], [0, 10]) < 0.02);

  // Channel 0 on the left half, channel 1 on the right: each half of the image drives its own channel.
  const halves = { type: 'sum', terms: [0, 1].map((c) => ({ objective: { type: 'region', layer: 'conv1', channel: c, region: { x: c * 0.5, y: 0, width: 0.5, height: 1 } } })) } as const;
  const split = await run(model, { objective: halves as ObjectiveSpec });
  assert.ok(gain(split) > 0.1);
  const [[left0, right0], [left1, right1]] = [0, 1].map((c) => {
    const only = (x: number) => ({ type: 'region', layer: 'conv1', channel: c, region: { x, y: 0, width: 0.5, height: 1 } }) as const;
    return evaluateOnImages(split, [only(0), only(0.5)]).map(([value]) => value);
  });
  assert.ok(left0 > right0 && right1 > left1, `channel 0 left/right ${left0}/${right0}, channel 1 ${left1}/${right1}`);
});

test('a neuron at the edge of the grid survives transforms that shrink the grid for a step', async () => {
  // At 16 px conv2 is 8 wide; scaled by 0.75 the step sees 12 px and a 6-wide grid, so (7, 7) is clamped to (5, 5).
  const edge = { type: 'neuron', layer: 'conv2', channel: 3, x: 7, y: 7 } as const;
  const output = await run(model, { objective: edge, transforms: [{ type: 'scale', factors: [0.75, 1] }] });
  assert.ok(gain(output) > 0.1, `gain ${gain(output)}`);
});

/**
 * A channel objective's layers and values on random images, built for `objectiveModel` (the model itself,
 * or `withoutInputPath` of it) and evaluated on `loaded`'s activations; the objective is disposed.
 */
function channelValues(loaded: LoadedModel, objectiveModel: LoadedModel, spec: ObjectiveSpec, images: tf.Tensor4D) {
  const batchSize = images.shape[0];
  const objective = buildObjective(spec, { model: objectiveModel, batchSize });
  try {
    return tf.tidy(() => {
      const layers = [...objective.layers];
      const outputs = loaded.activations(images, layers);
      return { layers, values: Array.from(objective.value(new Map(layers.map((layer, i) => [layer, outputs[i]])), batchSize).dataSync()) };
    });
  } finally {
    objective.dispose();
  }
}

const withoutInputPath = (loaded: LoadedModel): LoadedModel => ({ ...loaded, channelsFromInput: undefined });

/** Each case: the objective, and the layer its values are read from (the convolution's input, or itself). */
function assertChannelsFromInput(loaded: LoadedModel, sizePx: number, cases: Array<{ spec: ObjectiveSpec; reads: string }>) {
  const images = tf.randomUniform([3, sizePx, sizePx, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
  for (const { spec, reads } of cases) {
    const fromInput = channelValues(loaded, loaded, spec, images);
    const fromOutput = channelValues(loaded, withoutInputPath(loaded), spec, images);
    assert.deepEqual(fromInput.layers, [reads], JSON.stringify(spec));
    assert.ok(fromOutput.values.some((v) => v !== 0), `${JSON.stringify(spec)}: all-zero reference`);
    assertClose(fromInput.values, fromOutput.values, 1e-5);
  }
  images.dispose();
}

test('channel objectives on a convolution layer are computed from its input: the values of its own output\'s channels', () => {
  assertChannelsFromInput(model, 16, [
    { spec: { type: 'channel', layer: 'conv2', channel: 5 }, reads: 'pool1' },
    { spec: [2, 9, 15].map((channel) => ({ type: 'channel', layer: 'conv2', channel })) as ObjectiveSpec, reads: 'pool1' },
    { spec: { type: 'channel', layer: 'conv1', channel: 3 }, reads: 'conv1' }, // its input is the image: read from its output
  ]);
});

const graphModelDir = fileURLToPath(new URL('../../../models/shapes-dw-graph', import.meta.url));
test('on a GraphModel, channel objectives on a _FusedConv2D node are computed from its input node', { skip: existsSync(`${graphModelDir}/model.json`) ? false : 'models/shapes-dw-graph is not there' }, async () => {
  const graph = await loadModelFromDirectory(graphModelDir, 'shapes-dw-graph');
  try {
    assertChannelsFromInput(graph, graph.info.input.defaultSizePx, [
      { spec: { type: 'channel', layer: 'conv2/Relu', channel: 7 }, reads: 'conv2/depthwise' },
      { spec: [0, 13, 40].map((channel) => ({ type: 'channel', layer: 'conv3/Relu', channel })) as ObjectiveSpec, reads: 'conv3/depthwise' },
      { spec: { type: 'channel', layer: 'conv1/Relu', channel: 2 }, reads: 'conv1/Relu' }, // reads the image placeholder
      { spec: { type: 'channel', layer: 'conv2/depthwise', channel: 2 }, reads: 'conv2/depthwise' }, // not a _FusedConv2D
    ]);
  } finally {
    graph.dispose();
  }
});

test('no tensors are left behind', () => {
  assert.equal(tf.memory().numTensors, baseline);
});
