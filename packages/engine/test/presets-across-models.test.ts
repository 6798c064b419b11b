/**
 * The presets' defaults on more than one architecture. `yosinski` was first tuned on shapes-a (checked in
 * shapes-a-visualizations.test.ts) and is checked here on shapes-b (same architecture, another seed) and
 * shapes-dw-graph (depthwise-separable, a converted TF.js GraphModel): one run per model, one image per
 * class, 32 px, 32 steps, seed 1; each image is classified by the same model from its PNG and must get
 * p ≥ 0.9 for its class. `lucid` is checked on shapes-a at 48 steps on the classes it reaches.
 *
 * On shapes-dw-graph yosinski does not reach triangle (p ≈ 0.4–0.65 over seeds 1–3) and red (p ≈ 0) by
 * the class logit. Red is not lost to the priors: without any prior, without the redirected ReLU, at 64 steps or
 * with learning rates up to 0.4 it stays 0.00. Gradient ascent on the red logit through the Fourier
 * parameterisation stops at a red blob on cyan (red logit ≈ 18, while a flat red image gives 56) and a
 * red blob on a background is the plus-red `cross` (logit ≈ 31). Pixels with Adam lr ≥ 0.15 do reach
 * flat red (p 1.00) but lose shapes-dw-graph's circle (0.00); the class score `logProbability` reaches
 * red 0.95–0.97 and triangle 0.93–0.96 with the preset as it is.
 * Skipped until the models exist; bundled-models.test.ts requires them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backends/index.ts';
import { LABELS } from '../src/datasets/index.ts';
import { loadModelFromDirectory } from '../src/models/index.ts';
import type { VisualizationSpec } from '../src/types.ts';
import { visualize } from '../src/visualize.ts';
import { pixels } from './helpers/visualize-fixture.ts';

const directory = (id: string) => fileURLToPath(new URL(`../../../models/${id}/`, import.meta.url));
const missing = (id: string) => (existsSync(`${directory(id)}model.json`) ? false : `models/${id} is not there yet`);

/** The class probability each class's image from `method` gets from `id`, in LABELS order. */
async function presetProbabilities(id: string, method: string, options: { steps: number; seed: number }, classObjective: { score?: string } = {}): Promise<number[]> {
  await initBackend('wasm');
  const model = await loadModelFromDirectory(directory(id), id);
  try {
    assert.deepEqual(model.info.labels, [...LABELS]);
    const spec = { model: id, method, ...options, image: { size: 32 }, objective: LABELS.map((label) => ({ type: 'class', class: label, ...classObjective })) };
    const output = await visualize(model, spec as VisualizationSpec);
    const images = output.images.map((image) => pixels(image));
    return tf.tidy(() => {
      const batch = tf.tensor4d(Float32Array.from(images.flatMap((rgb) => Array.from(rgb))), [LABELS.length, 32, 32, 3]);
      const probabilities = tf.softmax(model.activations(batch, ['@logits'])[0]).arraySync() as number[][];
      return LABELS.map((_, i) => probabilities[i][i]);
    });
  } finally {
    model.dispose();
  }
}

const yosinskiProbabilities = (id: string) => presetProbabilities(id, 'yosinski', { steps: 32, seed: 1 });

function assertDrawn(id: string, probabilities: number[], labels: readonly string[]): void {
  for (const label of labels) {
    const p = probabilities[LABELS.indexOf(label as typeof LABELS[number])];
    assert.ok(p >= 0.9, `${id} ${label}: p = ${p.toFixed(3)} (all: ${probabilities.map((q) => q.toFixed(2)).join(' ')})`);
  }
}

test('shapes-b: the yosinski preset draws every class so that the model sees it (p ≥ 0.9)', { skip: missing('shapes-b') }, async () => {
  assertDrawn('shapes-b', await yosinskiProbabilities('shapes-b'), LABELS);
});

const dwOpen = ['triangle', 'red'];
test('shapes-dw-graph: the yosinski preset draws every class but triangle and red so that the model sees it (p ≥ 0.9)', { skip: missing('shapes-dw-graph') }, async () => {
  assertDrawn('shapes-dw-graph', await yosinskiProbabilities('shapes-dw-graph'), LABELS.filter((label) => !dwOpen.includes(label)));
});

// What the todo once was: by the logit, triangle and red stay out of reach on shapes-dw-graph (header);
// by log p(y|x), the class score PPGN uses (`score: 'logProbability'`), the same preset reaches both.
for (const seed of [1, 2]) {
  test(`shapes-dw-graph: the yosinski preset with the class score logProbability draws triangle and red (p ≥ 0.9, seed ${seed})`, { skip: missing('shapes-dw-graph') }, async () => {
    const probabilities = await presetProbabilities('shapes-dw-graph', 'yosinski', { steps: 32, seed }, { score: 'logProbability' });
    assertDrawn('shapes-dw-graph', probabilities, dwOpen);
  });
}

// Lucid's colour decorrelation is the shapes set's (engine-spec PRESETS.lucid): with the ImageNet matrix
// red stays grey and gets p 0.00. Circle, triangle and cross are not reached by lucid's class logits.
const lucidReached = ['square', 'horizontal-stripes', 'vertical-stripes', 'checkerboard', 'red'];

for (const seed of [1, 2]) {
  test(`shapes-a: the lucid preset draws square, the stripes, the checkerboard and red so that the model sees them (p ≥ 0.9, seed ${seed})`, { skip: missing('shapes-a') }, async () => {
    assertDrawn('shapes-a', await presetProbabilities('shapes-a', 'lucid', { steps: 48, seed }), lucidReached);
  });
}
