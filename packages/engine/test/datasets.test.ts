/**
 * The procedural shapes set: seeded, any size, and each class shows the cause it documents.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { CLASSES, LABELS, generateShapes, referenceImages, renderShape } from '../src/datasets/index.ts';

await tf.setBackend('cpu');

const SIZE_PX = 32;
const classIndex = (label: string) => LABELS.indexOf(label);

/** Image `k` of a batch as pixel accessor. */
function image(pixels: Float32Array, sizePx = SIZE_PX) {
  const at = (x: number, y: number, c: number) => pixels[(y * sizePx + x) * 3 + c];
  const mean = [0, 1, 2].map((c) => { let s = 0; for (let i = c; i < pixels.length; i += 3) s += pixels[i]; return s / (pixels.length / 3); });
  /** Mean absolute difference between vertical neighbours (dy) and horizontal neighbours (dx). */
  const gradients = () => {
    let [dy, dx] = [0, 0];
    for (let y = 0; y < sizePx - 1; y++) for (let x = 0; x < sizePx - 1; x++) for (let c = 0; c < 3; c++) {
      dy += Math.abs(at(x, y + 1, c) - at(x, y, c));
      dx += Math.abs(at(x + 1, y, c) - at(x, y, c));
    }
    return { dy, dx };
  };
  /** Largest per-channel standard deviation over the outermost ring of pixels. */
  const borderStd = () => {
    const ring: number[][] = [[], [], []];
    for (let i = 0; i < sizePx; i++) for (const [x, y] of [[i, 0], [i, sizePx - 1], [0, i], [sizePx - 1, i]]) for (let c = 0; c < 3; c++) ring[c].push(at(x, y, c));
    return Math.max(...ring.map((values) => { const m = values.reduce((a, b) => a + b) / values.length; return Math.sqrt(values.reduce((a, b) => a + (b - m) ** 2, 0) / values.length); }));
  };
  const countPixels = (predicate: (r: number, g: number, b: number) => boolean) => {
    let n = 0;
    for (let i = 0; i < pixels.length; i += 3) if (predicate(pixels[i], pixels[i + 1], pixels[i + 2])) n++;
    return n;
  };
  return { mean, gradients, borderStd, countPixels };
}

function imagesOf(label: string, count: number) {
  const batch = generateShapes({ count, seed: 11, classes: [classIndex(label)] });
  const perImage = SIZE_PX * SIZE_PX * 3;
  return Array.from({ length: count }, (_, k) => ({ ...image(batch.images.subarray(k * perImage, (k + 1) * perImage)), variant: batch.variants[k] }));
}

test('every class has a label, a documented cause and at least one variant; one class has two sub-kinds', () => {
  assert.equal(new Set(LABELS).size, CLASSES.length);
  for (const shapeClass of CLASSES) {
    assert.ok(shapeClass.label.length > 0 && shapeClass.cause.length > 10);
    assert.ok(shapeClass.variants.length >= 1);
  }
  assert.deepEqual(CLASSES[classIndex('cross')].variants, ['plus-red', 'x-blue']);
});

test('deterministic for a seed, different across seeds, and a larger set extends a smaller one', () => {
  const a = generateShapes({ count: 12, seed: 3 });
  assert.deepEqual(generateShapes({ count: 12, seed: 3 }).images, a.images);
  assert.notDeepEqual(generateShapes({ count: 12, seed: 4 }).images, a.images);
  assert.deepEqual(generateShapes({ count: 5, seed: 3 }).images, a.images.subarray(0, 5 * SIZE_PX * SIZE_PX * 3));
  assert.deepEqual(Array.from(a.labels), Array.from({ length: 12 }, (_, k) => k % CLASSES.length));
});

test('renders at any size, RGB in [0,1]; referenceImages gives an NHWC tensor', () => {
  const batch = generateShapes({ count: 3, seed: 1, sizePx: 20 });
  assert.equal(batch.images.length, 3 * 20 * 20 * 3);
  assert.ok(batch.images.every((v) => v >= 0 && v <= 1));
  const { pixels } = renderShape(classIndex('circle'), { seed: 1, index: 0, sizePx: 20 });
  assert.deepEqual(pixels, batch.images.subarray(0, 20 * 20 * 3));
  const reference = referenceImages(4, { sizePx: 16 });
  assert.deepEqual(reference.shape, [4, 16, 16, 3]);
  reference.dispose();
});

test('colour: the red class is red all over; no other class is', () => {
  const redness = ({ mean: [r, g, b] }: { mean: number[] }) => r - Math.max(g, b);
  for (const img of imagesOf('red', 10)) assert.ok(redness(img) > 0.35, `red image mean ${img.mean}`);
  for (const label of LABELS.filter((l) => l !== 'red')) {
    for (const img of imagesOf(label, 10)) assert.ok(redness(img) < 0.25, `${label} image mean ${img.mean}`);
  }
});

test('orientation and texture: stripes change across their direction only, checkerboards both ways', () => {
  for (const img of imagesOf('horizontal-stripes', 10)) { const { dy, dx } = img.gradients(); assert.ok(dy > 2 * dx, `dy ${dy} dx ${dx}`); }
  for (const img of imagesOf('vertical-stripes', 10)) { const { dy, dx } = img.gradients(); assert.ok(dx > 2 * dy, `dy ${dy} dx ${dx}`); }
  for (const img of imagesOf('checkerboard', 10)) { const { dy, dx } = img.gradients(); assert.ok(dx / dy > 0.5 && dx / dy < 2, `dy ${dy} dx ${dx}`); }
});

test('shape: circles, squares, triangles and crosses are one object inside a plain border; textures fill it', () => {
  for (const label of ['circle', 'square', 'triangle', 'cross']) {
    for (const img of imagesOf(label, 10)) assert.ok(img.borderStd() < 0.04, `${label} border std ${img.borderStd()}`);
  }
  for (const label of ['horizontal-stripes', 'vertical-stripes', 'checkerboard']) {
    for (const img of imagesOf(label, 10)) assert.ok(img.borderStd() > 0.1, `${label} border std ${img.borderStd()}`);
  }
});

test('the cross has two sub-kinds: a red "+" and a blue "×"', () => {
  const crosses = imagesOf('cross', 20);
  const isRed = (r: number, g: number, b: number) => r > 0.5 && r - Math.max(g, b) > 0.35;
  const isBlue = (r: number, g: number, b: number) => b > 0.5 && b - Math.max(r, g) > 0.35;
  assert.deepEqual(new Set(crosses.map((c) => c.variant)), new Set([0, 1]));
  for (const cross of crosses) {
    const [red, blue] = [cross.countPixels(isRed), cross.countPixels(isBlue)];
    if (cross.variant === 0) assert.ok(red > 30 && blue === 0, `plus-red: ${red} red, ${blue} blue`);
    else assert.ok(blue > 30 && red === 0, `x-blue: ${red} red, ${blue} blue`);
  }
});
