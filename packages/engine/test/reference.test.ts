/**
 * A reference image set (`reference`, issues 3 and 5) on the trained bundled classifier `shapes-a`
 * (32 px, WASM): the metrics referenceMax and referenceRatio ("how far beyond natural images") and the
 * dataset examples, the top-k and bottom-k reference images of each batch item's objective. The
 * `shapes` set knows each image's class, so a class objective's examples can be checked: the top ones
 * of a colour or texture class are of that class, the bottom ones are not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { generateShapes, LABELS } from '../src/datasets/index.ts';
import { decodePng } from '../src/png.ts';
import type { DatasetExample, LoadedModel, VisualizationOutput, VisualizationSpec } from '../src/types.ts';
import { visualize } from '../src/visualize.ts';
import { perImage } from './helpers/visualize-fixture.ts';
import { shapesA, skipWithoutShapesA } from './helpers/shapes-a.ts';

const skip = skipWithoutShapesA;

/** Runs on shapes-a at 32 px, seed 1, and checks that the run leaves no tensors behind. */
async function run(spec: Partial<VisualizationSpec> & Pick<VisualizationSpec, 'objective'>): Promise<VisualizationOutput> {
  const model = await shapesA();
  const before = tf.memory().numTensors;
  const output = await visualize(model, { model: 'shapes-a', steps: 1, seed: 1, ...spec, image: { size: 32, ...spec.image } } as VisualizationSpec);
  assert.equal(tf.memory().numTensors, before, 'tensors leaked');
  return output;
}

const red = { type: 'class', class: 'red' } as const;
const circle = { type: 'class', class: 'circle' } as const;
const verticalStripes = { type: 'class', class: 'vertical-stripes' } as const;
const reference = { set: 'shapes', count: 96, examples: 4 } as const;

function examplesOf(output: VisualizationOutput, item: number, kind: DatasetExample['kind']): DatasetExample[] {
  return (output.examples ?? []).filter((example) => example.index === item && example.kind === kind);
}

// What the yosinski preset reaches in 32 steps against the best of 96 reference images, per class
// (objective / referenceMax): circle 1.24, cross 1.17; triangle 0.75, red 0.63, square, both stripes
// and checkerboard 0.50 — its clipping, L2 decay and blur keep the image from the full-contrast
// extremes the set holds. The naive preset goes beyond every class's reference maximum (red 1.49).
test('a class optimised with yosinski for 32 steps beats every reference image: referenceRatio > 1', { skip }, async () => {
  const output = await run({ objective: circle, method: 'yosinski', steps: 32, reference });
  const [ratio] = perImage(output, 'referenceRatio') as number[];
  const [max] = perImage(output, 'referenceMax') as number[];
  console.log(`circle, yosinski, 32 steps: objective ${(output.metrics.objective as number).toFixed(2)}, referenceMax ${max.toFixed(2)}, referenceRatio ${ratio.toFixed(2)}`);
  assert.ok(ratio > 1, `referenceRatio ${ratio} ≤ 1`);
  assert.ok(Math.abs(ratio - (output.metrics.objective as number) / max) < 1e-4, 'ratio = final objective / referenceMax (no diversity term here)');
  assert.deepEqual(output.settings.reference, { set: 'shapes', count: 96, seed: 0, examples: 4 }, 'the defaults are reported');

  const top = examplesOf(output, 0, 'top');
  const bottom = examplesOf(output, 0, 'bottom');
  assert.deepEqual(top.map((example) => example.rank), [0, 1, 2, 3]);
  assert.deepEqual(bottom.map((example) => example.rank), [0, 1, 2, 3]);
  assert.equal(top[0].value, max, 'the first top example holds the reference maximum');
  for (let i = 1; i < 4; i++) {
    assert.ok(top[i].value <= top[i - 1].value && bottom[i].value >= bottom[i - 1].value, 'ordered by rank');
  }
  assert.ok(bottom[0].value < top[3].value);

  // An example's PNG is the reference image itself (the set's image `referenceIndex`, at the run's size).
  const set = generateShapes({ count: 96, seed: 0, sizePx: 32 });
  const pixelsPerImage = 32 * 32 * 3;
  for (const example of [top[0], bottom[0]]) {
    const { width, height, rgb } = decodePng(example.png);
    assert.deepEqual([width, height, example.width, example.height], [32, 32, 32, 32]);
    assert.equal(example.label, LABELS[set.labels[example.referenceIndex]]);
    const expected = set.images.subarray(example.referenceIndex * pixelsPerImage, (example.referenceIndex + 1) * pixelsPerImage);
    assert.ok(rgb.every((value, i) => Math.abs(value - expected[i]) <= 0.5 / 255 + 1e-6), `example ${example.referenceIndex} is not the set's image`);
  }
});

// Logits are not calibrated across images: on shapes-a the circle, triangle and cross logits are
// highest on checkerboard images and the square logit on horizontal stripes. The colour and texture
// classes' logits peak on their own class, which is what a dataset example should show.
test('each batch item of a per-item list gets its own objective\'s examples; a diversity term is left out of the reference', { skip }, async () => {
  const items = [red, verticalStripes];
  const labels = (output: VisualizationOutput, item: number, kind: DatasetExample['kind']) => examplesOf(output, item, kind).map((example) => example.label);
  const list = await run({ objective: items, reference });
  assert.deepEqual(labels(list, 0, 'top'), ['red', 'red', 'red', 'red']);
  assert.ok(!labels(list, 0, 'bottom').includes('red'), `red's bottom examples: ${labels(list, 0, 'bottom')}`);
  assert.deepEqual(labels(list, 1, 'top'), ['vertical-stripes', 'vertical-stripes', 'vertical-stripes', 'vertical-stripes']);
  assert.ok(!labels(list, 1, 'bottom').includes('vertical-stripes'));
  // Item 0 of the list reads the same values as the single objective 'red' on its own.
  const single = await run({ objective: red, reference });
  assert.deepEqual(examplesOf(single, 0, 'top').map((e) => [e.referenceIndex, e.value]), examplesOf(list, 0, 'top').map((e) => [e.referenceIndex, e.value]));

  // diversity compares batch items and has no value on one reference image: the unit part is the same.
  const withDiversity = await run({
    objective: { type: 'sum', terms: [{ objective: items }, { objective: { type: 'diversity', layer: 'conv3' }, weight: 10 }] },
    image: { batch: 2 },
    reference,
  });
  const maxima = perImage(list, 'referenceMax') as number[];
  const diverseMaxima = perImage(withDiversity, 'referenceMax') as number[];
  for (let item = 0; item < 2; item++) assert.ok(Math.abs(diverseMaxima[item] - maxima[item]) < 1e-4, `item ${item}: ${diverseMaxima[item]} vs ${maxima[item]}`);
  assert.equal(withDiversity.examples?.length, 2 * 2 * 4);
});

test('without a reference set the reference metrics are null and there are no examples', { skip }, async () => {
  const output = await run({ objective: red });
  assert.equal(output.metrics.referenceMax, null);
  assert.equal(output.metrics.referenceRatio, null);
  assert.equal(perImage(output, 'referenceMax'), null);
  assert.equal(output.examples, undefined);
  assert.equal(output.settings.reference, undefined);
  // k = 0 keeps the metrics and returns no examples.
  const noExamples = await run({ objective: red, reference: { set: 'shapes', count: 16, examples: 0 } });
  assert.deepEqual(noExamples.examples, []);
  assert.equal(typeof noExamples.metrics.referenceMax, 'number');
});
