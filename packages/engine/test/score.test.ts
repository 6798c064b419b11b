/**
 * `scoreImages`: a model's verdict on finished images, without optimising — the engine half of the
 * comparing-networks transfer table. Scoring a run's own PNGs with its own model gives back the run's
 * final metrics (up to 8-bit rounding); scoring them with another model gives that model's opinion.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@featurevis/engine/backends';
import { loadModelFromDirectory } from '@featurevis/engine/models';
import { scoreImages, visualize, type LoadedModel, type VisualizationSpec } from '@featurevis/engine';

const modelsDir = fileURLToPath(new URL('../../../models/', import.meta.url));
let shapesA: LoadedModel;
let shapesB: LoadedModel;

before(async () => {
  await initBackend('auto');
  shapesA = await loadModelFromDirectory(`${modelsDir}shapes-a`, 'shapes-a');
  shapesB = await loadModelFromDirectory(`${modelsDir}shapes-b`, 'shapes-b');
});

test('a run\'s own images score as its final metrics; another model scores them too', async () => {
  const spec = { model: 'shapes-a', objective: { type: 'class', class: 'red' }, steps: 16, image: { size: 32, batch: 2 }, seed: 5 } as VisualizationSpec;
  const output = await visualize(shapesA, spec);
  const tensorsBefore = tf.memory().numTensors;
  const own = await scoreImages(shapesA, spec, output.images.map((image) => image.png));
  const other = await scoreImages(shapesB, spec, output.images.map((image) => image.png));
  assert.equal(tf.memory().numTensors, tensorsBefore, 'no tensor left behind');
  const perImage = output.metrics.perImage as Record<string, number[]>;
  for (const [i, score] of own.entries()) {
    assert.ok(Math.abs(score.classProbability! - perImage.classProbability![i]!) < 0.02, `${score.classProbability} vs ${perImage.classProbability![i]}`);
    assert.ok(Math.abs(score.objective - perImage.objective![i]!) < 0.05 * Math.max(1, Math.abs(perImage.objective![i]!)), `${score.objective} vs ${perImage.objective![i]}`);
  }
  for (const score of other) assert.ok(score.classProbability! >= 0 && score.classProbability! <= 1 && Number.isFinite(score.objective));
  assert.notDeepEqual(other.map((s) => s.objective), own.map((s) => s.objective), 'another model, another verdict');
});

test('a channel objective has no class probability; an objective the model lacks is refused', async () => {
  const png = (await visualize(shapesA, { model: 'shapes-a', objective: { type: 'channel', layer: 'conv3', channel: 1 }, steps: 2, image: { size: 32 }, seed: 1 } as VisualizationSpec)).images[0]!.png;
  const [score] = await scoreImages(shapesB, { objective: { type: 'channel', layer: 'conv3', channel: 1 } }, [png]);
  assert.equal(score!.classProbability, null);
  assert.ok(Number.isFinite(score!.objective));
  await assert.rejects(scoreImages(shapesB, { objective: { type: 'channel', layer: 'nope', channel: 1 } }, [png]), /nope/);
});
