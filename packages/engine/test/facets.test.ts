/**
 * Multifaceted activation maximisation (`facets`, Nguyen et al. 2016) on the trained bundled classifier
 * shapes-a (32 px, WASM). The shapes set's `cross` class has two visibly different sub-kinds, an
 * upright red "+" and a diagonal blue "×" (datasets/shapeClasses.ts), and the set knows which one each
 * image is: the clustering of the class's top reference images must separate them, and the two facet
 * images must show them — one red-dominant, one blue-dominant — while both stay crosses to the model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { generateShapes, LABELS } from '../src/datasets/index.ts';
import type { FacetsSummary } from '../src/facets.ts';
import { decodePng } from '../src/png.ts';
import { InvalidSpecError, type LoadedModel, type VisualizationSpec } from '../src/types.ts';
import { visualize } from '../src/visualize.ts';
import { perImage } from './helpers/visualize-fixture.ts';
import { shapesA, skipWithoutShapesA } from './helpers/shapes-a.ts';

const skip = skipWithoutShapesA;

const cross = { type: 'class', class: 'cross' } as const;
const reference = { set: 'shapes', count: 256, seed: 0, examples: 0 } as const;

/** Mean R, G, B of a PNG. */
function meanRgb(png: Uint8Array): number[] {
  const { rgb } = decodePng(png);
  const sums = [0, 0, 0];
  for (let i = 0; i < rgb.length; i++) sums[i % 3] += rgb[i];
  return sums.map((sum) => sum / (rgb.length / 3));
}

// The method: lucid's decorrelated Fourier image with a 2 px jitter only, Adam lr 0.03, 32 steps. With
// the yosinski preset (32 or 16 steps; also with only its L2 decay and blur) both facets end
// red-dominant (mean RGB ≈ 0.57/0.30/0.35) at p(cross) = 1: the cross logit rises fastest by drawing
// red, and the preset's decay and blur wash out the blue × start. Pixels (simonyan, mahendran at lr
// 0.01) keep the blue but stay at p(cross) < 0.5 (0.00006), naive reaches p ≈ 1e-15; full lucid
// (pad, jitter, scale, rotate) keeps both colours but the blue facet's p is 0.32–0.49.
test('facets on the cross class: the top images split into the red + and the blue ×, and each facet image shows one', { skip }, async () => {
  const model = await shapesA();
  const before = tf.memory().numTensors;
  const output = await visualize(model, {
    model: 'shapes-a', objective: cross, method: 'lucid', transforms: [{ type: 'jitter', px: 2 }], optimizer: { learningRate: 0.03 },
    steps: 32, seed: 1, image: { size: 32 }, reference, facets: { k: 2, top: 32 },
  } as VisualizationSpec);
  assert.equal(tf.memory().numTensors, before, 'tensors leaked');
  assert.equal(output.images.length, 2, 'one image per facet');
  assert.deepEqual(output.settings.facets, { k: 2, top: 32 });

  // The clusters against the set's own sub-kinds (variant 0: plus-red, 1: x-blue).
  const summary = output.metrics.facets as FacetsSummary;
  const set = generateShapes({ count: reference.count, seed: reference.seed, sizePx: 32 });
  const crossIndex = LABELS.indexOf('cross');
  const variantsOf = (indices: number[]) => indices.map((index) => set.variants[index]);
  console.log(`facets of cross: layers ${summary.layers.join(', ')}, clusters ${summary.clusters.map((c) => `${c.size} (variants ${variantsOf(c.referenceIndices).join('')}, mean ${c.meanValue.toFixed(2)}, start ${c.startValue.toFixed(2)})`).join('; ')}`);
  assert.equal(summary.top, 32);
  assert.equal(summary.clusters.reduce((sum, c) => sum + c.size, 0), 32);
  const topIndices = summary.clusters.flatMap((c) => c.referenceIndices);
  assert.ok(topIndices.every((index) => set.labels[index] === crossIndex), 'the top 32 images of the class are crosses (the set has 32)');
  const purity = summary.clusters.map((c) => new Set(variantsOf(c.referenceIndices)));
  assert.ok(purity.every((variants) => variants.size === 1), 'each cluster holds one sub-kind');
  assert.notEqual([...purity[0]][0], [...purity[1]][0], 'the two clusters are the two sub-kinds');

  // Each facet image is dominated by its cluster's colour, and the model still calls both crosses.
  const colours = output.images.map((image) => meanRgb(image.png));
  const probabilities = perImage(output, 'classProbability') as number[];
  console.log(`facet images: mean RGB ${colours.map((c) => c.map((v) => v.toFixed(2)).join('/')).join(' and ')}; p(cross) ${probabilities.map((p) => p.toFixed(3)).join(', ')}`);
  const dominant = colours.map(([r, , b]) => (r > b ? 0 : 1)); // red → plus-red (0), blue → x-blue (1)
  assert.deepEqual(dominant, purity.map((variants) => [...variants][0]), 'facet i shows cluster i\'s colour');
  for (const p of probabilities) assert.ok(p >= 0.5, `p(cross) ${p} < 0.5`);
});

test('facets are refused with a parameterisation that has no inverse, without a reference set, and with a per-item objective', { skip }, async () => {
  const model = await shapesA();
  const before = tf.memory().numTensors;
  const base = { model: 'shapes-a', objective: cross, steps: 1, seed: 1, image: { size: 32 }, reference, facets: { k: 2 } };
  const refusals: Array<[Partial<VisualizationSpec>, string]> = [
    // The request's own parameterisation is the field to change (as the API's 422 names it).
    [{ parameterization: { type: 'cppn' } }, 'parameterization.type'],
    [{ parameterization: { type: 'maco' } }, 'parameterization.type'],
    [{ reference: undefined }, 'facets'],
    [{ facets: { k: 3, top: 2 } }, 'facets.top'],
    [{ reference: { ...reference, count: 2 }, facets: { k: 3 } }, 'facets.k'],
    [{ objective: [cross, cross], image: { size: 32 } }, 'facets'],
    [{ image: { size: 32, batch: 3 } }, 'image.batch'],
  ];
  for (const [change, field] of refusals) {
    await assert.rejects(visualize(model, { ...base, ...change } as VisualizationSpec), (error: unknown) => error instanceof InvalidSpecError && error.field === field, JSON.stringify(change));
  }
  assert.equal(tf.memory().numTensors, before, 'tensors leaked');
});
