/**
 * PPGN sampling (Nguyen et al. 2017) in image space, on the bundled classifier shapes-a at 32 px:
 * the `dae` prior's autoencoder (priors/dae-shapes) denoises shapes images, and a `sampling` request
 * returns N samples of one chain that differ from each other and that the classifier calls the target
 * class (PPGN's class term: the log probability, ε1 0.1, ε2 0.5, ε3 0.02, 96 steps); without noise (ε3 = 0) a seed reproduces the chain byte for byte; nothing leaks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { generateShapes, shapesTensor } from '@featurevis/engine/datasets';
import { loadDae, reconstruct } from '../src/priors/index.ts';
import type { VisualizationOutput, VisualizationSpec } from '../src/types.ts';
import { visualize } from '../src/visualize.ts';
import { assertDistinctSamplesOf, shapesA } from './helpers/shapes-a.ts';
import { pixels } from './helpers/visualize-fixture.ts';

const model = await shapesA();
// Loaded once per process: before the baseline, so the DAE's weights are not counted as a leak.
await loadDae();
const baseline = tf.memory().numTensors;

const SAMPLING = { epsilon1: 0.1, epsilon2: 0.5, epsilon3: 0.02, samples: 4 };
const STEPS = 96;

function sample(className: string, sampling: Partial<typeof SAMPLING> = {}, seed = 3): Promise<VisualizationOutput> {
  return visualize(model, {
    model: 'shapes-a', objective: { type: 'class', class: className, score: 'logProbability' }, steps: STEPS, image: { size: 32 }, seed,
    sampling: { ...SAMPLING, ...sampling },
  } as VisualizationSpec);
}

/** The classifier's probability of `className` on each image. */

test('the DAE brings a noisy shapes image closer to the clean one', () => {
  const [noisyMse, reconstructedMse] = tf.tidy(() => {
    const clean = shapesTensor(generateShapes({ count: 16, seed: 4242, sizePx: 32 }));
    const noisy = tf.clipByValue(tf.add(clean, tf.randomNormal(clean.shape, 0, 0.1, 'float32', 17)), 0, 1) as tf.Tensor4D;
    const mse = (x: tf.Tensor) => tf.mean(tf.squaredDifference(x, clean)).dataSync()[0];
    return [mse(noisy), mse(reconstruct(noisy))];
  });
  assert.ok(reconstructedMse < 0.5 * noisyMse, `reconstruction MSE ${reconstructedMse} vs noisy input ${noisyMse}`);
  assert.equal(tf.memory().numTensors, baseline);
});

for (const className of ['red', 'square']) {
  test(`sampling ${className}: N distinct samples of one chain, each classified as ${className}`, async () => {
    const output = await sample(className);
    assert.equal(output.settings.method, 'ppgn');
    assert.deepEqual(output.snapshots.map((s) => s.step), [60, 72, 84, 96]);
    assertDistinctSamplesOf(model, output.snapshots.map(pixels), className);
    assert.equal(tf.memory().numTensors, baseline);
  });
}

test('without noise (ε3 = 0) the same seed reproduces the chain byte for byte', async () => {
  const [a, b] = [await sample('red', { epsilon3: 0 }, 11), await sample('red', { epsilon3: 0 }, 11)];
  assert.equal(a.snapshots.length, SAMPLING.samples);
  for (const [i, snapshot] of a.snapshots.entries()) assert.deepEqual(Buffer.from(snapshot.png), Buffer.from(b.snapshots[i].png), `sample ${i}`);
  assert.equal(tf.memory().numTensors, baseline);
});
