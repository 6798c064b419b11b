/**
 * A reference set provided by the caller (issue 5: an uploaded set, which the worker resizes and hands
 * over with `provideReferenceSets`), on shapes-a at 32 px: the dataset examples, referenceMax and a
 * facets run read the provided images, in their order, with their labels; a set that was not provided
 * is an InvalidSpecError naming the field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateShapes, LABELS, provideReferenceSets, type ReferenceImageSet } from '../src/datasets/index.ts';
import { decodePng } from '../src/png.ts';
import { InvalidSpecError, type VisualizationSpec } from '../src/types.ts';
import { visualize } from '../src/visualize.ts';
import { shapesA, skipWithoutShapesA } from './helpers/shapes-a.ts';

const skip = skipWithoutShapesA;
const SIZE = 32;

/** Shapes images 0..n-1 (class k mod 8) as an uploaded set would arrive: RGB bytes, labelled in reverse order. */
function setOf(id: string, count: number): ReferenceImageSet {
  const { images, labels } = generateShapes({ count, seed: 7, sizePx: SIZE });
  return { id, hash: `hash-${id}`, sizePx: SIZE, count, pixels: Uint8Array.from(images, (v) => Math.round(v * 255)), labels: Array.from(labels, (l) => `uploaded-${LABELS[l]}`) };
}

test('dataset examples and referenceMax come from the provided set, labelled by it', { skip }, async () => {
  const model = await shapesA();
  const set = setOf('my-set', 16);
  const withdraw = provideReferenceSets([set]);
  try {
    const output = await visualize(model, { model: 'shapes-a', steps: 1, seed: 1, image: { size: SIZE }, objective: { type: 'class', class: 'red' }, reference: { set: 'my-set', examples: 2 } } as VisualizationSpec);
    const top = (output.examples ?? []).filter((e) => e.kind === 'top');
    assert.equal(top.length, 2);
    // Images 6 and 14 are the set's two `red` images (class k mod 8).
    assert.deepEqual(top.map((e) => e.referenceIndex).sort((a, b) => a - b), [6, 14]);
    assert.deepEqual(top.map((e) => e.label), ['uploaded-red', 'uploaded-red']);
    const png = decodePng(top[0]!.png);
    const first = top[0]!.referenceIndex * SIZE * SIZE * 3;
    assert.ok(Math.abs(png.rgb[0]! - set.pixels[first]! / 255) < 1 / 255 + 1e-6, 'the example is the provided image');
    assert.ok(Math.abs((output.metrics.referenceMax as number) - top[0]!.value) < 1e-4);
  } finally {
    withdraw();
  }
});

test('facets cluster at most the provided set\'s images; k over its size is refused naming facets.k', { skip }, async () => {
  const model = await shapesA();
  const withdraw = provideReferenceSets([setOf('tiny', 3)]);
  try {
    const output = await visualize(model, { model: 'shapes-a', steps: 1, seed: 1, image: { size: SIZE }, objective: { type: 'class', class: 'cross' }, reference: { set: 'tiny', examples: 0 }, facets: { k: 2 } } as VisualizationSpec);
    const clusters = (output.metrics.facets as { clusters: Array<{ referenceIndices: number[] }> }).clusters;
    assert.deepEqual(clusters.flatMap((c) => c.referenceIndices).sort(), [0, 1, 2]);
    await assert.rejects(
      visualize(model, { model: 'shapes-a', steps: 1, seed: 1, image: { size: SIZE }, objective: { type: 'class', class: 'cross' }, reference: { set: 'tiny' }, facets: { k: 4 } } as VisualizationSpec),
      (err: unknown) => err instanceof InvalidSpecError && err.field === 'facets.k',
    );
  } finally {
    withdraw();
  }
});

test('a set that was not provided → InvalidSpecError naming reference.set', { skip }, async () => {
  const model = await shapesA();
  await assert.rejects(
    visualize(model, { model: 'shapes-a', steps: 1, seed: 1, image: { size: SIZE }, objective: { type: 'class', class: 'red' }, reference: { set: 'absent' } } as VisualizationSpec),
    (err: unknown) => err instanceof InvalidSpecError && err.field === 'reference.set',
  );
});
