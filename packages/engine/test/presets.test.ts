/**
 * Presets (`method`): each resolves to the settings engine-spec's PRESETS gives it, explicit settings
 * override it, each raises its objective and leaves no tensors behind (fixture classifier, 16 px), and —
 * on the trained bundled classifier `shapes-a` — the class visualisations are classified as their class
 * with probability ≥ 0.9 and show the class's known cause (red is red, stripes run the right way).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { METHODS, PRESETS, resolveSettings } from '../src/presets.ts';
import { loadModelFromDirectory } from '../src/models/index.ts';
import { LABELS } from '../src/datasets/index.ts';
import { InvalidSpecError, type VisualizationOutput } from '../src/types.ts';
import { visualize } from '../src/visualize.ts';
import { gain, loadFixtureOnWasm, perImage, pixels, run } from './helpers/visualize-fixture.ts';

const model = await loadFixtureOnWasm();
const baseline = tf.memory().numTensors;
const ring = { type: 'class', class: 'ring' } as const;

test('each method resolves to its preset, with the schema defaults filled in', () => {
  assert.deepEqual([...METHODS], ['naive', 'simonyan', 'yosinski', 'mahendran', 'lucid']);
  for (const method of METHODS) {
    const settings = resolveSettings({ method, objective: ring }, model);
    const preset = PRESETS[method];
    assert.equal(settings.method, method);
    assert.equal(settings.parameterization.type, preset.parameterization.type);
    assert.deepEqual(settings.priors.map((prior) => prior.type), preset.priors.map((prior) => prior.type));
    assert.deepEqual(settings.transforms.map((transform) => transform.type), preset.transforms.map((transform) => transform.type));
    for (const [key, value] of Object.entries(preset.optimizer)) assert.deepEqual(settings.optimizer[key as keyof typeof settings.optimizer], value, `${method} optimizer.${key}`);
    // Every option the preset leaves out has its schema default.
    for (const prior of settings.priors) if (prior.type === 'blur') assert.ok(prior.sigmaPx !== undefined && prior.everySteps !== undefined);
    assert.equal(settings.image.size, 16, 'the model\'s default size');
    assert.equal(settings.image.batch, 1);
  }
  // The default method is naive, the survey's baseline.
  assert.equal(resolveSettings({ objective: ring }, model).method, 'naive');
});

test('explicit settings override the preset: lists replace it, objects merge by field', () => {
  const settings = resolveSettings({
    method: 'lucid', objective: ring, steps: 7, image: { size: 24 },
    parameterization: { type: 'fourier', decorrelate: false }, priors: [{ type: 'l1' }], transforms: [], optimizer: { learningRate: 0.2 }, snapshots: [9, 3, 3],
  }, model);
  assert.deepEqual(settings.parameterization, { ...PRESETS.lucid.parameterization, decorrelate: false });
  assert.deepEqual(settings.priors, [{ type: 'l1', weight: 0.01 }]);
  assert.deepEqual(settings.transforms, []);
  assert.equal(settings.optimizer.learningRate, 0.2);
  assert.equal(settings.optimizer.type, PRESETS.lucid.optimizer.type);
  assert.deepEqual(settings.snapshots, [3]);
  assert.deepEqual(settings.image, { size: 24, batch: 1 });
  // Another parameterisation type replaces the preset's whole.
  assert.deepEqual(resolveSettings({ method: 'lucid', objective: ring, parameterization: { type: 'pixel' } }, model).parameterization, { type: 'pixel', decorrelate: false, range: 'clip' });
  // A per-item list sets the batch; a different explicit batch, or an unknown method, is refused.
  assert.equal(resolveSettings({ objective: [ring, ring, ring] }, model).image.batch, 3);
  assert.throws(() => resolveSettings({ objective: [ring, ring], image: { batch: 3 } }, model), (error: unknown) => error instanceof InvalidSpecError && error.field === 'image.batch');
  assert.throws(() => resolveSettings({ objective: ring, method: 'olah' as never }, model), (error: unknown) => error instanceof InvalidSpecError && error.field === 'method');
});

test('every preset raises the objective and leaves no tensors behind, with snapshots and a batch', async () => {
  for (const method of METHODS) {
    const before = tf.memory().numTensors;
    const output = await run(model, { objective: ring, method, image: { batch: 2 }, snapshots: [5] });
    assert.equal(tf.memory().numTensors, before, `${method} left tensors`);
    assert.equal(output.snapshots.length, 2);
    // The lucid preset (sigmoid range, decorrelated Fourier) starts slowest on an untrained model.
    assert.ok(gain(output) > (method === 'lucid' ? 0.02 : 0.2), `${method}: gain ${gain(output)}`);
  }
  assert.equal(tf.memory().numTensors, baseline);
});

test('the presets differ the way the survey says: priors and transforms smooth the image', async () => {
  const outputs: Record<string, VisualizationOutput> = {};
  for (const method of METHODS) outputs[method] = await run(model, { objective: ring, method });
  const tv = (method: string) => outputs[method].metrics.totalVariation as number;
  const hf = (method: string) => outputs[method].metrics.highFrequencyEnergy as number;
  for (const method of ['yosinski', 'mahendran', 'lucid']) assert.ok(tv(method) < tv('naive'), `${method} TV ${tv(method)} vs naive ${tv('naive')}`);
  assert.ok(hf('yosinski') < 0.5 * hf('naive') && hf('lucid') < 0.5 * hf('naive'), `high-frequency energy: naive ${hf('naive')}, yosinski ${hf('yosinski')}, lucid ${hf('lucid')}`);
});

// ---- the trained bundled classifier ----

const shapesDir = fileURLToPath(new URL('../../../models/shapes-a/', import.meta.url));
const shapesPresent = existsSync(`${shapesDir}model.json`);

/** Per image: mean R − max(mean G, mean B), and the fractions of clearly red and clearly blue pixels. */
function colours(rgb: Float32Array): { redness: number; red: number; blue: number } {
  let [r, g, b, red, blue] = [0, 0, 0, 0, 0];
  for (let i = 0; i < rgb.length; i += 3) {
    r += rgb[i]; g += rgb[i + 1]; b += rgb[i + 2];
    if (rgb[i] > rgb[i + 1] + 0.2 && rgb[i] > rgb[i + 2] + 0.2) red++;
    if (rgb[i + 2] > rgb[i] + 0.2 && rgb[i + 2] > rgb[i + 1] + 0.2) blue++;
  }
  const n = rgb.length / 3;
  return { redness: (r - Math.max(g, b)) / n, red: red / n, blue: blue / n };
}

/** Energy of the differences between rows over that between columns: > 1 for horizontal stripes, < 1 for vertical ones. */
function rowOverColumnVariation(rgb: Float32Array, sizePx: number): number {
  let [alongColumns, alongRows] = [0, 0];
  for (let y = 0; y < sizePx - 1; y++) {
    for (let x = 0; x < sizePx - 1; x++) {
      for (let c = 0; c < 3; c++) {
        const i = (y * sizePx + x) * 3 + c;
        alongColumns += (rgb[i + sizePx * 3] - rgb[i]) ** 2;
        alongRows += (rgb[i + 3] - rgb[i]) ** 2;
      }
    }
  }
  return alongColumns / alongRows;
}

test('shapes-a: the yosinski preset draws every class so that the model sees it (p ≥ 0.9) and shows its cause, in 32 steps at 32 px',
  { skip: shapesPresent ? false : 'models/shapes-a is not there yet' }, async () => {
    const shapes = await loadModelFromDirectory(shapesDir, 'shapes-a');
    try {
      assert.deepEqual(shapes.info.labels, [...LABELS]);
      // One run, one image per class (a per-item list).
      const output = await visualize(shapes, { model: 'shapes-a', method: 'yosinski', objective: LABELS.map((label) => ({ type: 'class', class: label })), steps: 32, image: { size: 32 }, seed: 1 });
      const images = output.images.map((image) => pixels(image));
      // Classified by the same model from the PNGs, as a user would download them.
      const probabilities = tf.tidy(() => {
        const batch = tf.tensor4d(Float32Array.from(images.flatMap((rgb) => Array.from(rgb))), [LABELS.length, 32, 32, 3]);
        return tf.softmax(shapes.activations(batch, ['@logits'])[0]).arraySync() as number[][];
      });
      LABELS.forEach((label, i) => {
        assert.ok(probabilities[i][i] >= 0.9, `${label}: p = ${probabilities[i][i].toFixed(3)} (${probabilities[i].map((p) => p.toFixed(2)).join(' ')})`);
        assert.ok((perImage(output, 'classProbability')[i] as number) >= 0.9);
      });

      // Colour: the red class's image is mostly red, and redder than every class whose cause is not red.
      const byLabel = (label: string) => images[LABELS.indexOf(label)];
      const red = colours(byLabel('red'));
      assert.ok(red.redness > 0.15 && red.red > 0.4 && red.red > 2 * red.blue, `red: ${JSON.stringify(red)}`);
      for (const label of ['circle', 'square', 'triangle', 'horizontal-stripes', 'vertical-stripes', 'checkerboard']) {
        const other = colours(byLabel(label));
        assert.ok(other.redness < red.redness - 0.15, `${label} redness ${other.redness} vs red ${red.redness}`);
      }
      // Orientation: horizontal stripes vary down the image, vertical ones across it.
      const horizontal = rowOverColumnVariation(byLabel('horizontal-stripes'), 32);
      const vertical = rowOverColumnVariation(byLabel('vertical-stripes'), 32);
      assert.ok(horizontal > 1.3 && vertical < 0.7, `row/column variation: horizontal stripes ${horizontal}, vertical stripes ${vertical}`);
      // The two-kind class shows both kinds' colours: the red "+" and the blue "×".
      const cross = colours(byLabel('cross'));
      assert.ok(cross.red > 0.25 && cross.blue > 0.15, `cross: ${JSON.stringify(cross)}`);
    } finally {
      shapes.dispose();
    }
  });
