/**
 * Transforms (transformation robustness, Olah et al. 2017): each changes the image's shape as
 * documented, rotation's hand-written gradient is the transpose of its sampling (checked against the
 * sampling matrix read off the forward pass, on the CPU and WASM backends), and the objective rises
 * through each of them (16 px, 20 steps on the fixture classifier).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { Transform as TransformSpec } from '@featurevis/contracts';
import { TRANSFORM_TYPES } from '@featurevis/contracts';
import { initBackend } from '../src/backends/index.ts';
import { createRandom } from '../src/random.ts';
import { transforms } from '../src/transforms/index.ts';
import { InvalidSpecError } from '../src/types.ts';
import type { Random } from '../src/units.ts';
import { gain, loadFixtureOnWasm, run } from './helpers/visualize-fixture.ts';

const model = await loadFixtureOnWasm();
const baseline = tf.memory().numTensors;

/** Applies one transform request to `images` with a seeded random source. */
function apply(spec: TransformSpec, images: tf.Tensor4D, random: Random = createRandom(1)): tf.Tensor4D {
  return (transforms[spec.type] as (options: unknown) => (images: tf.Tensor4D, random: Random) => tf.Tensor4D)(spec)(images, random);
}

/** [batch, height, width, 3] whose pixel (b, y, x, c) is b·1000 + y·100 + x·10 + c. */
function indexed(batch: number, height: number, width: number): tf.Tensor4D {
  return tf.tidy(() => tf.tensor4d(Float32Array.from({ length: batch * height * width * 3 }, (_, i) => {
    const c = i % 3, x = Math.floor(i / 3) % width, y = Math.floor(i / (3 * width)) % height, b = Math.floor(i / (3 * width * height));
    return b * 1000 + y * 100 + x * 10 + c;
  }), [batch, height, width, 3]));
}

test('jitter crops px pixels at a random offset in [0, px]; every offset turns up', () => {
  tf.tidy(() => {
    const images = indexed(2, 16, 16);
    const random = createRandom(3);
    const offsets = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const out = apply({ type: 'jitter', px: 3 }, images, random);
      assert.deepEqual(out.shape, [2, 13, 13, 3]);
      // The top-left pixel tells the offset; both items are cropped alike.
      const [top, second] = [out.dataSync()[0], out.dataSync()[13 * 13 * 3]];
      const [dy, dx] = [Math.floor(top / 100), Math.floor(top / 10) % 10];
      assert.ok(dy <= 3 && dx <= 3 && second === 1000 + top);
      offsets.add(`${dy},${dx}`);
    }
    assert.equal(offsets.size, 16);
    // Larger than the image allows: it still leaves one row and column.
    assert.deepEqual(apply({ type: 'jitter', px: 40 }, indexed(1, 8, 8)).shape, [1, 1, 1, 3]);
  });
});

test('pad adds a border of px pixels at the grey level value', () => {
  tf.tidy(() => {
    const images = tf.fill([1, 4, 4, 3], 0.9) as tf.Tensor4D;
    const padded = apply({ type: 'pad', px: 2, value: 0.25 }, images);
    assert.deepEqual(padded.shape, [1, 8, 8, 3]);
    const values = padded.arraySync()[0];
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) {
      const inside = y >= 2 && y < 6 && x >= 2 && x < 6;
      assert.deepEqual(values[y][x].map((v) => Math.round(v * 100) / 100), inside ? [0.9, 0.9, 0.9] : [0.25, 0.25, 0.25]);
    }
  });
});

test('scale resizes to round(size × factor), bilinearly', () => {
  tf.tidy(() => {
    const images = indexed(1, 16, 16);
    for (const [factor, size] of [[0.5, 8], [0.95, 15], [1.05, 17], [1.5, 24]]) {
      assert.deepEqual(apply({ type: 'scale', factors: [factor] }, images).shape, [1, size, size, 3]);
    }
    // A factor of 1 returns the images as they are.
    assert.equal(apply({ type: 'scale', factors: [1] }, images), images);
    // Bilinear with aligned corners: the corners are kept and a linear ramp stays linear.
    const ramp = tf.tensor4d(Float32Array.from({ length: 9 * 9 * 3 }, (_, i) => Math.floor(i / 3) % 9), [1, 9, 9, 3]);
    const row = apply({ type: 'scale', factors: [5 / 9] }, ramp).arraySync()[0][2].map((pixel) => pixel[0]);
    row.forEach((v, x) => assert.ok(Math.abs(v - 2 * x) < 1e-4, `${row}`));
  });
});

test('rotate keeps the size; a quarter turn moves every pixel exactly; a flat image stays flat', () => {
  tf.tidy(() => {
    const images = indexed(2, 7, 7);
    const quarter = apply({ type: 'rotate', degrees: [90] }, images).arraySync();
    const source = images.arraySync();
    // Output (y, x) samples the input at (6 − x, y): a rotation by 90° about the centre (3, 3).
    for (let b = 0; b < 2; b++) for (let y = 0; y < 7; y++) for (let x = 0; x < 7; x++) {
      quarter[b][y][x].forEach((v, c) => assert.ok(Math.abs(v - source[b][6 - x][y][c]) < 1e-3, `(${b}, ${y}, ${x})`));
    }
    const flat = apply({ type: 'rotate', degrees: [17] }, tf.fill([1, 9, 11, 3], 0.3) as tf.Tensor4D);
    assert.deepEqual(flat.shape, [1, 9, 11, 3]);
    assert.ok(tf.max(tf.abs(tf.sub(flat, 0.3))).dataSync()[0] < 1e-5);
    assert.equal(apply({ type: 'rotate', degrees: [0] }, images), images);
  });
});

/**
 * The rotation's matrix S (out = S·x, per channel and item), read off the forward pass: column j is
 * the rotation of the image that is 1 at pixel j and 0 elsewhere.
 */
function samplingMatrix(height: number, width: number, degrees: number): number[][] {
  return tf.tidy(() => {
    const n = height * width;
    const basis = tf.reshape(tf.oneHot(tf.range(0, n, 1, 'int32'), n), [n, height, width, 1]);
    const columns = apply({ type: 'rotate', degrees: [degrees] }, tf.tile(basis, [1, 1, 1, 3]) as tf.Tensor4D);
    const rows = tf.reshape(tf.slice(columns, [0, 0, 0, 0], [-1, -1, -1, 1]), [n, n]).arraySync() as number[][]; // [j][i] = S[i][j]
    return Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => rows[j][i]));
  });
}

for (const backend of ['cpu', 'wasm'] as const) {
  test(`rotate's gradient (scatterND) is the transpose of its sampling (gatherND), on ${backend}`, async () => {
    await initBackend(backend);
    try {
      for (const [height, width, degrees] of [[8, 8, 30], [7, 10, -17], [9, 9, 173]]) {
        const S = samplingMatrix(height, width, degrees);
        const n = height * width;
        // Every output is a convex combination of input pixels (bilinear weights summing to 1).
        S.forEach((row) => assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5));
        tf.tidy(() => {
          const x = tf.randomUniform([2, height, width, 3], 0, 1, 'float32', 8) as tf.Tensor4D;
          const upstream = tf.randomNormal([2, height, width, 3], 0, 1, 'float32', 9);
          const gradient = tf.grad((images: tf.Tensor) => tf.sum(tf.mul(apply({ type: 'rotate', degrees: [degrees] }, images as tf.Tensor4D), upstream)))(x).arraySync() as number[][][][];
          // The reference Sᵀ·dy, summed in plain JavaScript, for every item and channel.
          const dy = upstream.arraySync() as number[][][][];
          for (let b = 0; b < 2; b++) for (let c = 0; c < 3; c++) for (let j = 0; j < n; j++) {
            let expected = 0;
            for (let i = 0; i < n; i++) expected += S[i][j] * dy[b][Math.floor(i / width)][i % width][c];
            const actual = gradient[b][Math.floor(j / width)][j % width][c];
            assert.ok(Math.abs(actual - expected) < 1e-4, `${backend} ${height}×${width} @${degrees}°, item ${b} channel ${c} pixel ${j}: ${actual} vs ${expected}`);
          }
          // And a central difference along a random direction agrees (the map is linear, so exactly).
          const direction = tf.randomNormal(x.shape, 0, 1, 'float32', 10);
          const f = (images: tf.Tensor) => tf.sum(tf.mul(apply({ type: 'rotate', degrees: [degrees] }, images as tf.Tensor4D), upstream)).dataSync()[0];
          const numeric = (f(tf.add(x, tf.mul(direction, 0.01))) - f(tf.sub(x, tf.mul(direction, 0.01)))) / 0.02;
          const analytic = tf.sum(tf.mul(tf.tensor4d(gradient), direction)).dataSync()[0];
          assert.ok(Math.abs(numeric - analytic) < 1e-2 * Math.max(1, Math.abs(analytic)), `directional derivative ${numeric} vs ${analytic}`);
        });
      }
    } finally {
      await initBackend('wasm');
    }
  });
}

test('invalid options are refused, naming the field', () => {
  const cases: Array<[TransformSpec, string]> = [
    [{ type: 'jitter', px: 0 }, 'transforms.px'],
    [{ type: 'pad', px: 2, value: 2 }, 'transforms.value'],
    [{ type: 'scale', factors: [] }, 'transforms.factors'],
    [{ type: 'rotate', degrees: [Number.NaN] }, 'transforms.degrees'],
  ];
  for (const [spec, field] of cases) {
    assert.throws(() => (transforms[spec.type] as (options: unknown) => unknown)(spec), (error: unknown) => error instanceof InvalidSpecError && error.field === field, JSON.stringify(spec));
  }
});

const ring = { type: 'class', class: 'ring' } as const;

test('the objective rises through every transform, and through Lucid\'s chain of them', async () => {
  assert.deepEqual([...TRANSFORM_TYPES].sort(), Object.keys(transforms).sort());
  const none = await run(model, { objective: ring });
  const chains: TransformSpec[][] = [
    ...TRANSFORM_TYPES.map((type) => [{ type }] as TransformSpec[]),
    [{ type: 'rotate', degrees: [-30, 30] }],
    [{ type: 'scale', factors: [0.75, 1.25] }],
    [{ type: 'pad', px: 2 }, { type: 'jitter', px: 2 }, { type: 'scale' }, { type: 'rotate' }, { type: 'jitter', px: 1 }],
  ];
  for (const chain of chains) {
    const output = await run(model, { objective: ring, transforms: chain });
    assert.ok(gain(output) > 0.4 * gain(none), `${JSON.stringify(chain)}: gain ${gain(output)} vs ${gain(none)} without`);
  }
});

test('transforms are drawn from the run\'s seed: the same seed repeats them, another changes them', async () => {
  const chain: TransformSpec[] = [{ type: 'jitter', px: 3 }, { type: 'scale', factors: [0.8, 1, 1.2] }, { type: 'rotate', degrees: [-20, 20] }];
  const [a, b, c] = [await run(model, { objective: ring, transforms: chain, seed: 5 }), await run(model, { objective: ring, transforms: chain, seed: 5 }), await run(model, { objective: ring, transforms: chain, seed: 6 })];
  assert.deepEqual(a.trace, b.trace);
  assert.notDeepEqual(a.trace, c.trace);
});

test('no tensors are left behind', () => {
  assert.equal(tf.memory().numTensors, baseline);
});
