/** `decorrelate: { images: 'shapes' }`: the colour matrix computed from an image set, usable in a run. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateShapes } from '@featurevis/engine/datasets';
import { colorCorrelationSqrtFromImages, IMAGENET_COLOR_CORRELATION_SQRT, resolveColorMatrix } from '../src/parameterizations/index.ts';
import { gain, loadFixtureOnWasm, run } from './helpers/visualize-fixture.ts';

test('the shapes matrix is the square root of the bundled set\'s colour covariance, not ImageNet\'s', () => {
  const matrix = resolveColorMatrix({ images: 'shapes' });
  assert.deepEqual(matrix, colorCorrelationSqrtFromImages(generateShapes({ count: 256, seed: 0, sizePx: 32 }).images));
  const distance = matrix.flat().reduce((sum, v, i) => sum + Math.abs(v - IMAGENET_COLOR_CORRELATION_SQRT.flat()[i]!), 0);
  assert.ok(distance > 0.1, `differs from ImageNet's by ${distance}`);
  assert.equal(resolveColorMatrix({ images: 'shapes' }), matrix, 'computed once');
});

test('a run decorrelated with the image set\'s matrix raises its objective', async () => {
  const model = await loadFixtureOnWasm();
  try {
    for (const type of ['pixel', 'fourier'] as const) {
      const output = await run(model, { objective: { type: 'class', class: 'green' }, parameterization: { type, decorrelate: { images: 'shapes' } } as never });
      assert.ok(gain(output) > 0, `${type}: gain ${gain(output)}`);
    }
  } finally { model.dispose(); }
});
