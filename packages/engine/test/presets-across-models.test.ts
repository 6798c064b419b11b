/**
 * The `yosinski` preset's defaults on the bundled models other than the one they were first tuned on
 * (shapes-a, checked in shapes-a-visualizations.test.ts): shapes-b (same architecture, another seed) and
 * shapes-dw-graph (depthwise-separable, a converted TF.js GraphModel). One run per model, one image per
 * class, 32 px, 32 steps, seed 1; each image is classified by the same model from its PNG and must get
 * p ≥ 0.9 for its class. On shapes-dw-graph the triangle (p ≈ 0.4–0.65 over seeds 1–3) and red
 * (p ≈ 0, the cross logit rises with the red one) are not reached yet: they are listed as a todo.
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

/** The class probability each class's yosinski image gets from `id`, in LABELS order. */
async function yosinskiProbabilities(id: string): Promise<number[]> {
  await initBackend('wasm');
  const model = await loadModelFromDirectory(directory(id), id);
  try {
    assert.deepEqual(model.info.labels, [...LABELS]);
    const spec = { model: id, method: 'yosinski', steps: 32, seed: 1, image: { size: 32 }, objective: LABELS.map((label) => ({ type: 'class', class: label })) };
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
let dw: number[] | undefined;

test('shapes-dw-graph: the yosinski preset draws every class but triangle and red so that the model sees it (p ≥ 0.9)', { skip: missing('shapes-dw-graph') }, async () => {
  dw = await yosinskiProbabilities('shapes-dw-graph');
  assertDrawn('shapes-dw-graph', dw, LABELS.filter((label) => !dwOpen.includes(label)));
});

test('shapes-dw-graph: the yosinski preset draws triangle and red (p ≥ 0.9)', { skip: missing('shapes-dw-graph'), todo: 'triangle ≈ 0.4–0.65 and red ≈ 0 with the current defaults' }, () => {
  assert.ok(dw, 'the previous test ran');
  assertDrawn('shapes-dw-graph', dw, dwOpen);
});
