/**
 * PPGN sampling (Nguyen et al. 2017) in the generator's latent space, on the bundled classifier
 * shapes-a at 32 px: the latent DAE (priors/latent-dae-shapes, scripts/train-latent-dae.ts) denoises
 * codes of shapes images, and a `sampling` request with `space: 'latent'` runs h ← h + ε1·(R_h(h) − h)
 * + ε2·∂log p(y|G(h))/∂h + N(0, ε3²) on the bundled generator's code, returning N samples of one chain
 * that differ from each other and that the classifier calls the target class (latent defaults ε1 0.1,
 * ε2 1, ε3 0.2 std, 96 steps). Without noise a seed reproduces the chain; a grouped item draws its own
 * noise; mismatched space and parameterisation are refused by field; nothing leaks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { ResolvedEngineSettings } from '@featurevis/contracts';
import { generateShapes, shapesTensor } from '@featurevis/engine/datasets';
import { codeStatistics, loadEncoder, loadGenerator } from '../src/parameterizations/index.ts';
import { loadLatentDae, reconstructCode } from '../src/priors/index.ts';
import { InvalidSpecError, type VisualizationOutput, type VisualizationSpec } from '../src/types.ts';
import { visualize } from '../src/visualize.ts';
import { assertDistinctSamplesOf, shapesA } from './helpers/shapes-a.ts';
import { pixels } from './helpers/visualize-fixture.ts';

const model = await shapesA();
// Loaded once per process: before the baseline, so their weights are not counted as a leak.
const [encoder] = [await loadEncoder(), await loadGenerator(), await loadLatentDae()];
const baseline = tf.memory().numTensors;
const STEPS = 96;

function sample(className: string, sampling: Record<string, unknown> = {}, seed = 3, extra: Partial<VisualizationSpec> = {}): Promise<VisualizationOutput> {
  return visualize(model, {
    model: 'shapes-a', objective: { type: 'class', class: className, score: 'logProbability' }, steps: STEPS, image: { size: 32 }, seed,
    sampling: { samples: 4, space: 'latent', ...sampling }, ...extra,
  } as VisualizationSpec);
}

/** The classifier's probability of `className` on each image. */

test('the latent DAE brings noisy codes of unseen shapes images closer to the clean codes', () => {
  const { std } = codeStatistics();
  const [noisyMse, reconstructedMse] = tf.tidy(() => {
    const clean = encoder.predict(shapesTensor(generateShapes({ count: 128, seed: 4242, sizePx: 32 }))) as tf.Tensor2D;
    const spread = tf.tensor2d(std, [1, std.length]);
    // The training noise: 0.3 of each dimension's std (priors/latent-dae-shapes/training.json).
    const noisy = tf.add(clean, tf.mul(tf.randomNormal(clean.shape, 0, 0.3, 'float32', 17), spread)) as tf.Tensor2D;
    const standardizedMse = (x: tf.Tensor) => tf.mean(tf.square(tf.div(tf.sub(x, clean), spread))).dataSync()[0];
    return [standardizedMse(noisy), standardizedMse(reconstructCode(noisy))];
  });
  // Measured: 0.025 vs 0.090 on the training script's 1024 held-out codes (ratio 0.28).
  assert.ok(reconstructedMse < 0.45 * noisyMse, `reconstruction ${reconstructedMse} vs noisy input ${noisyMse} (standardised MSE)`);
  assert.equal(tf.memory().numTensors, baseline);
});

// Measured at seed 3 (seeds 1, 2, 3, 7 alike): p ≥ 0.96 for every sample, samples RMS ≥ 0.053 apart.
for (const className of ['red', 'square', 'checkerboard', 'vertical-stripes']) {
  test(`latent sampling ${className}: N distinct samples of one chain on the generator's code, each classified as ${className}`, async () => {
    const output = await sample(className);
    assert.equal(output.settings.method, 'ppgn');
    const settings = output.settings as unknown as ResolvedEngineSettings;
    assert.equal(settings.parameterization.type, 'generator');
    assert.deepEqual(settings.priors.map((prior) => prior.type), ['latentDae']);
    assert.deepEqual(output.settings.sampling, { epsilon1: 0.1, epsilon2: 1, epsilon3: 0.2, samples: 4, space: 'latent' });
    assert.deepEqual(output.snapshots.map((s) => s.step), [60, 72, 84, 96]);
    assertDistinctSamplesOf(model, output.snapshots.map(pixels), className);
    assert.equal(tf.memory().numTensors, baseline);
  });
}

test('latent sampling: without noise (ε3 = 0) the same seed reproduces the chain byte for byte; with noise the seed matters', async () => {
  const [a, b] = [await sample('red', { epsilon3: 0 }, 11), await sample('red', { epsilon3: 0 }, 11)];
  assert.equal(a.snapshots.length, 4);
  for (const [i, snapshot] of a.snapshots.entries()) assert.deepEqual(Buffer.from(snapshot.png), Buffer.from(b.snapshots[i].png), `sample ${i}`);
  const [c, d] = [await sample('red', {}, 11), await sample('red', {}, 12)];
  assert.notDeepEqual(Buffer.from(c.images[0].png), Buffer.from(d.images[0].png));
  assert.equal(tf.memory().numTensors, baseline);
});

test('latent sampling with itemSeeds: item 1 of a batch of 2 draws what it draws alone (PNG bytes of every sample)', async () => {
  const alone = await sample('square', {}, 9);
  const batched = await visualize(model, {
    model: 'shapes-a', objective: [{ type: 'class', class: 'red', score: 'logProbability' }, { type: 'class', class: 'square', score: 'logProbability' }],
    steps: STEPS, image: { size: 32, batch: 2 }, seed: 5, itemSeeds: [5, 9], sampling: { samples: 4, space: 'latent' },
  } as VisualizationSpec);
  const itemSnapshots = batched.snapshots.filter((_, i) => i % 2 === 1);
  assert.equal(itemSnapshots.length, alone.snapshots.length);
  for (const [i, snapshot] of alone.snapshots.entries()) {
    assert.equal(itemSnapshots[i].step, snapshot.step);
    assert.deepEqual(Buffer.from(itemSnapshots[i].png), Buffer.from(snapshot.png), `sample ${i}`);
  }
  assert.equal(tf.memory().numTensors, baseline);
});

test('space and parameterisation must agree: refused by field before any work', async () => {
  const refused = async (spec: Partial<VisualizationSpec>, field: string) => {
    await assert.rejects(
      visualize(model, { model: 'shapes-a', objective: { type: 'class', class: 'red', score: 'logProbability' }, steps: 4, image: { size: 32 }, seed: 1, ...spec } as VisualizationSpec),
      (error: unknown) => error instanceof InvalidSpecError && error.field === field,
    );
  };
  await refused({ sampling: { space: 'latent' }, parameterization: { type: 'pixel' } } as Partial<VisualizationSpec>, 'parameterization.type');
  await refused({ sampling: { space: 'image' }, parameterization: { type: 'generator' } } as Partial<VisualizationSpec>, 'sampling.space');
  // The latentDae prior alone, on a parameterisation without a code.
  await refused({ method: 'naive', priors: [{ type: 'l2' }, { type: 'latentDae', epsilon1: 0.1, epsilon3: 0.1 }] } as Partial<VisualizationSpec>, 'priors[1]');
  assert.equal(tf.memory().numTensors, baseline);
});
