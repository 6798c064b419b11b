/**
 * On the trained bundled classifier `shapes-a` (32 px, WASM): every objective, parameterisation, prior
 * and transform raises its objective within 16 steps, and the class visualisations of the `yosinski`
 * preset are classified as their class (probability ≥ 0.9) and show the class's known cause (the
 * datasets room documents them: red is red, stripes run their way, the cross has a red "+" and a blue
 * "×" kind). Skipped until models/shapes-a exists; bundled-models.test.ts requires it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { Objective as ObjectiveSpec, Parameterization, Prior, Transform } from '@featurevis/contracts';
import { PARAMETERIZATION_TYPES, PRIOR_TYPES, TRANSFORM_TYPES } from '@featurevis/contracts';
import { LABELS } from '../src/datasets/index.ts';
import type { LoadedModel, VisualizationOutput, VisualizationSpec } from '../src/types.ts';
import { visualize } from '../src/visualize.ts';
import { gain, perImage, pixels } from './helpers/visualize-fixture.ts';
import { disposeShapesA, shapesA, skipWithoutShapesA } from './helpers/shapes-a.ts';

const skip = skipWithoutShapesA;

/** 32 px, 16 steps, seed 1, the naive preset unless `spec` says otherwise. */
async function run(spec: Partial<VisualizationSpec> & Pick<VisualizationSpec, 'objective'>): Promise<VisualizationOutput> {
  return visualize(await shapesA(), { model: 'shapes-a', steps: 16, seed: 1, ...spec, image: { size: 32, ...spec.image } } as VisualizationSpec);
}

const circle = { type: 'class', class: 'circle' } as const;

test('shapes-a: every objective type raises its value, item by item', { skip }, async () => {
  const items: ObjectiveSpec[] = [
    { type: 'neuron', layer: 'conv3', channel: 5 },
    { type: 'channel', layer: 'conv2', channel: 3 },
    { type: 'layer', layer: 'conv3' },
    circle,
    { type: 'direction', layer: 'conv3', vector: Array.from({ length: 64 }, (_, i) => (i % 2 === 0 ? 1 : -1)) },
    { type: 'region', layer: 'conv2', channel: 7, region: { x: 0, y: 0, width: 0.5, height: 0.5 } },
    { type: 'sum', terms: [{ objective: { type: 'channel', layer: 'conv3', channel: 1 } }, { objective: { type: 'class', class: 'square' }, weight: -0.5 }] },
    { type: 'negate', objective: { type: 'class', class: 'red' } },
  ];
  // The same seed draws the same starting noise, so a run whose steps barely move the image gives the
  // per-item starting values.
  const start = perImage(await run({ objective: items, steps: 1, optimizer: { learningRate: 1e-9 } }), 'objective') as number[];
  const end = perImage(await run({ objective: items }), 'objective') as number[];
  // Each gains at least 2 (16 steps gain 4.5 for the weakest, a conv2 channel, and hundreds for the layer's mean square).
  items.forEach((item, i) => assert.ok(end[i] > start[i] + 2, `${JSON.stringify(item).slice(0, 60)}: ${start[i]} → ${end[i]}`));
  // The batch-level objectives.
  for (const [objective, batch] of [[{ type: 'diversity', layer: 'conv2' }, 2], [{ type: 'interpolate', from: circle, to: { type: 'class', class: 'triangle' } }, 3]] as Array<[ObjectiveSpec, number]>) {
    const output = await run({ objective, image: { batch } });
    assert.ok(gain(output) > 0.1, `${JSON.stringify(objective)}: gain ${gain(output)}`);
  }
});

/** The circle logit's gain with `spec`'s settings, against the naive preset's. */
async function gains(variants: Array<Partial<VisualizationSpec>>): Promise<{ naive: number; each: number[] }> {
  const naive = gain(await run({ objective: circle }));
  const each: number[] = [];
  for (const variant of variants) each.push(gain(await run({ objective: circle, ...variant })));
  return { naive, each };
}

test('shapes-a: every parameterisation, prior and transform raises the circle logit', { skip }, async () => {
  const parameterizations: Parameterization[] = [
    { type: 'pixel' }, { type: 'pixel', decorrelate: true, range: 'sigmoid' },
    { type: 'fourier' }, { type: 'fourier', decorrelate: true, range: 'sigmoid' },
    { type: 'laplacian' }, { type: 'laplacian', decorrelate: true },
    { type: 'cppn', hiddenLayers: 4, hiddenChannels: 12 },
    { type: 'maco' },
    { type: 'generator' },
  ];
  assert.deepEqual(new Set(parameterizations.map((p) => p.type)), new Set(PARAMETERIZATION_TYPES));
  const variants: Array<Partial<VisualizationSpec>> = [
    ...parameterizations.map((parameterization) => ({ parameterization })),
    // latentDae edits the generator's code (Prior.acts 'code'): it runs on the generator.
    ...PRIOR_TYPES.map((type) => (type === 'latentDae' ? { parameterization: { type: 'generator' }, priors: [{ type } as Prior] } : { priors: [{ type } as Prior] }) as Partial<VisualizationSpec>),
    ...TRANSFORM_TYPES.map((type) => ({ transforms: [{ type } as Transform] })),
  ];
  const { naive, each } = await gains(variants);
  // A generator draws only images like the ones it learned, whose logits stay near real images' (gain 8.0
  // against naive's 47, whose pixels go far beyond them); generator.test.ts checks it draws the classes.
  const share = (variant: Partial<VisualizationSpec>) => (variant.parameterization?.type === 'generator' ? 0.1 : 0.15);
  each.forEach((value, i) => assert.ok(value > share(variants[i]) * naive, `${JSON.stringify(variants[i])}: gain ${value} (naive ${naive})`));
});

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

test('shapes-a: the yosinski preset draws every class so that the model sees it (p ≥ 0.9) and shows its cause, in 32 steps', { skip }, async () => {
  const shapes = await shapesA();
  assert.deepEqual(shapes.info.labels, [...LABELS]);
  // One run, one image per class (a per-item list).
  const output = await run({ method: 'yosinski', objective: LABELS.map((label) => ({ type: 'class', class: label })), steps: 32 });
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
});

test('shapes-a: no tensors are left behind', { skip }, async () => {
  await shapesA();
  const before = tf.memory().numTensors;
  await run({ method: 'lucid', objective: circle, image: { batch: 2 } });
  assert.equal(tf.memory().numTensors, before);
  disposeShapesA();
});
