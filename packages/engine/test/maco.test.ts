/**
 * `maco` (Fel et al. 2023): the Fourier magnitudes are fixed and only phases are optimised. Checked here:
 * the rendered image has the fixed magnitude spectrum (read back through the sigmoid's inverse), the
 * phases are the only variables, the request schema fills its defaults, the objective rises on the
 * trained `shapes-a` at 32 px, the run returns an attribution map per image, seeds reproduce, and no
 * tensor is left behind. All on WASM, the backend the worker uses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { Value } from '@sinclair/typebox/value';
import { Parameterization, resolveEngineSettings } from '@featurevis/contracts';
import { initBackend } from '@featurevis/engine/backends';
import { loadModelFromDirectory } from '@featurevis/engine/models';
import {
  maco, powerLawMagnitudeSpectrum, RealFourierBasis, shapesMagnitudeSpectrum, type MacoOptions,
} from '../src/parameterizations/index.ts';
import { decodePng } from '../src/png.ts';
import { createRandom } from '../src/random.ts';
import { InvalidSpecError, type VisualizationOutput, type VisualizationSpec } from '../src/types.ts';
import { visualize } from '../src/visualize.ts';

await initBackend('wasm');
const shapesA = await loadModelFromDirectory(fileURLToPath(new URL('../../../models/shapes-a/', import.meta.url)), 'shapes-a');

/**
 * The magnitude spectrum of what the sigmoid squashed (logit of the render), [batch, 3, H, Wf], and the
 * fixed magnitudes it should be proportional to (the standardisation divides by one number per image).
 */
function renderedSpectrum(options: MacoOptions, batch: number, sizePx: number): number[][][][] {
  const parameterization = maco(options, { batch, sizePx, random: createRandom(3) });
  const basis = new RealFourierBasis(sizePx, sizePx);
  try {
    return tf.tidy(() => {
      const rendered = parameterization.render();
      const unsquashed = tf.log(tf.div(rendered, tf.sub(1, rendered)));
      const channelsFirst = tf.reshape(tf.transpose(unsquashed, [0, 3, 1, 2]), [batch * 3, sizePx, sizePx]) as tf.Tensor3D;
      const [real, imaginary] = tf.split(basis.forward(channelsFirst), 2, 2);
      const magnitude = tf.sqrt(tf.add(tf.square(real), tf.square(imaginary)));
      return tf.reshape(magnitude, [batch, 3, sizePx, basis.frequencyColumns]).arraySync() as number[][][][];
    });
  } finally {
    basis.dispose();
    parameterization.dispose();
  }
}

/**
 * Asserts that every image's spectrum is `fixed` times one factor, except at DC: that is the channel's
 * mean (r·cos φ, less the image's mean, which the standardisation removes), free by design.
 */
function assertProportional(spectrum: number[][][][], fixed: Float32Array, sizePx: number, label: string) {
  const columns = Math.floor(sizePx / 2) + 1;
  const fixedAt = (c: number, k: number, l: number) => fixed[(c * sizePx + k) * columns + l];
  for (const [item, image] of spectrum.entries()) {
    // The factor from the largest fixed magnitude outside DC (least affected by float error).
    let reference = { value: 0, measured: 0 };
    image.forEach((rows, c) => rows.forEach((row, k) => row.forEach((measured, l) => {
      if ((k !== 0 || l !== 0) && fixedAt(c, k, l) > reference.value) reference = { value: fixedAt(c, k, l), measured };
    })));
    const factor = reference.measured / reference.value;
    let worst = 0;
    image.forEach((rows, c) => rows.forEach((row, k) => row.forEach((measured, l) => {
      if (k !== 0 || l !== 0) worst = Math.max(worst, Math.abs(measured - factor * fixedAt(c, k, l)));
    })));
    assert.ok(worst < 2e-3 * reference.measured, `${label} item ${item}: largest deviation ${worst} from the fixed spectrum (largest magnitude ${reference.measured})`);
  }
}

test('the rendered image has the fixed magnitude spectrum: the shapes set\'s average, or 1/f', () => {
  for (const sizePx of [16, 15]) {
    assertProportional(renderedSpectrum({ spectrum: 'shapes', decorrelate: false }, 2, sizePx), shapesMagnitudeSpectrum(sizePx), sizePx, `shapes ${sizePx} px`);
    assertProportional(renderedSpectrum({ spectrum: 'power-law', decayPower: 1.5, decorrelate: false }, 2, sizePx), powerLawMagnitudeSpectrum(sizePx, 1.5), sizePx, `power-law ${sizePx} px`);
  }
  // The shapes spectrum is not the power law: a test of the first would not pass with the second.
  const shapes = shapesMagnitudeSpectrum(16);
  const powerLaw = powerLawMagnitudeSpectrum(16, 1);
  const ratios = shapes.map((value, i) => value / powerLaw[i]).slice(1);
  assert.ok(Math.max(...ratios) / Math.min(...ratios) > 2, 'the shapes spectrum has its own shape');
});

test('only phases are variables; no inverse, so image inits are refused', () => {
  const parameterization = maco({}, { batch: 2, sizePx: 12, random: createRandom(1) });
  try {
    assert.equal(parameterization.variables.length, 1);
    assert.deepEqual(parameterization.variables[0].shape, [2, 3, 12, 7]);
    assert.equal(parameterization.setImages, undefined);
    assert.equal(parameterization.recordsAttributions, true);
  } finally {
    parameterization.dispose();
  }
  const before = tf.memory().numTensors;
  assert.throws(() => maco({}, { batch: 1, sizePx: 12, random: createRandom(1), init: { type: 'constant', value: 0.5 } }), InvalidSpecError);
  assert.equal(tf.memory().numTensors, before, 'a refused init frees what was built');
});

test('the request schema accepts maco and fills its defaults', () => {
  assert.ok(Value.Check(Parameterization, { type: 'maco' }));
  assert.ok(Value.Check(Parameterization, { type: 'maco', spectrum: 'power-law', decayPower: 1.2, decorrelate: false }));
  assert.ok(!Value.Check(Parameterization, { type: 'maco', spectrum: 'imagenet' }));
  assert.ok(!Value.Check(Parameterization, { type: 'maco', range: 'clip' }), 'closed: the sigmoid is part of the method');
  const settings = resolveEngineSettings({ parameterization: { type: 'maco' } }, { defaultSizePx: 32 });
  assert.deepEqual(settings.parameterization, { type: 'maco', spectrum: 'shapes', decayPower: 1, decorrelate: true });
});

function run(spec: Partial<VisualizationSpec>): Promise<VisualizationOutput> {
  return visualize(shapesA, {
    model: 'shapes-a', objective: { type: 'class', class: 'circle' }, steps: 24, seed: 1,
    image: { size: 32 }, parameterization: { type: 'maco' }, ...spec,
  } as VisualizationSpec);
}

test('shapes-a, 32 px: maco raises the circle logit within 24 steps, with either spectrum, and returns an attribution map', async () => {
  for (const spectrum of ['shapes', 'power-law'] as const) {
    const before = tf.memory().numTensors;
    const output = await run({ parameterization: { type: 'maco', spectrum } });
    assert.equal(tf.memory().numTensors, before, `${spectrum}: no tensor left behind`);
    const gain = (output.metrics.objective as number) - output.trace[0];
    // Measured on WASM: 5.4 → 19 (shapes) and 8.7 → 19 (power-law) in 30 steps at the default learning rate.
    assert.ok(gain > 5, `${spectrum}: circle logit ${output.trace[0]} → ${output.metrics.objective as number}`);
    assert.equal(output.attributions?.length, 1);
    const map = decodePng(output.attributions![0].png);
    assert.deepEqual([map.width, map.height], [32, 32]);
    const grey = map.rgb.filter((_, i) => i % 3 === 0);
    const mean = grey.reduce((a, b) => a + b, 0) / grey.length;
    assert.equal(Math.max(...grey), 1, 'scaled so the largest value is 1');
    assert.ok(mean < 0.7, `the objective looks at some pixels more than others (mean ${mean})`);
  }
  // Parameterisations that do not record attributions return none.
  assert.equal((await run({ parameterization: { type: 'pixel' }, steps: 2 })).attributions, undefined);
});

test('maco: a seed reproduces its images byte for byte; another seed draws other phases', async () => {
  const [a, b, c] = [await run({ steps: 3 }), await run({ steps: 3 }), await run({ steps: 3, seed: 2 })];
  assert.deepEqual(a.images[0].png, b.images[0].png);
  assert.deepEqual(a.attributions![0].png, b.attributions![0].png);
  assert.notDeepEqual(a.images[0].png, c.images[0].png);
});
