/**
 * The redirected ReLU/ReLU6 gradient (src/optimizers/redirected-relu-gradient.ts), written with 0/1
 * masks and arithmetic, against Lucid's rule written the way Lucid (and this project, before) wrote
 * it: boolean comparisons and `where`. Both backends the engine runs on here, CPU and WASM; inputs
 * with exact zeros (and exact 6s), batch items that are alive, dead everywhere, or dead because the
 * incoming gradient is zero wherever the ReLU is open.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's own gradients (Sum, Mul, Relu, …) are registered by tfjs-layers, as when the engine loads a model.
import '@tensorflow/tfjs-layers';
import { initBackend, registerWasmGradientKernels } from '@featurevis/engine/backends';
import { withRedirectedReluGradients } from '../src/optimizers/index.ts';

/** Lucid's redirected_relu_grad / redirected_relu6_grad, with `where` (the project's previous code). */
function lucidReference(x: tf.Tensor, dy: tf.Tensor, relu6: boolean): tf.Tensor {
  return tf.tidy(() => {
    const zeros = tf.zerosLike(dy);
    const below = tf.less(x, 0);
    const above = relu6 ? tf.greater(x, 6) : tf.zerosLike(below);
    const ordinary = tf.where(tf.logicalOr(below, above), zeros, dy);
    const pushingOut = tf.logicalOr(tf.logicalAnd(below, tf.greater(dy, 0)), tf.logicalAnd(above, tf.less(dy, 0)));
    const redirected = tf.where(pushingOut, zeros, dy);
    const batch = ordinary.shape[0]!;
    const anythingThrough = tf.greater(tf.sum(tf.abs(tf.reshape(ordinary, [batch, -1])), 1), 0);
    const mask = tf.reshape(anythingThrough, [batch, ...ordinary.shape.slice(1).map(() => 1)]);
    return tf.where(tf.broadcastTo(mask, ordinary.shape), ordinary, redirected);
  });
}

/** Deterministic values in [low, high] on a grid of 1/4, so exact 0 (and 6) occur; the same on every backend. */
function gridValues(count: number, seed: number, low: number, high: number): Float32Array {
  let state = seed >>> 0;
  const steps = Math.round((high - low) * 4);
  return Float32Array.from({ length: count }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return low + (state % (steps + 1)) / 4;
  });
}

interface Case { name: string; shape: number[]; x: Float32Array; dy: Float32Array }

/** Item by item: [x range, dy range, dy zeroed where x is in the open range?]. */
function makeCase(name: string, itemShape: number[], items: Array<[number, number, number, number, boolean?]>, openHigh: number, seed: number): Case {
  const size = itemShape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(size * items.length);
  const dy = new Float32Array(size * items.length);
  items.forEach(([xLow, xHigh, dyLow, dyHigh, zeroWhereOpen], b) => {
    const xs = gridValues(size, seed + 2 * b, xLow, xHigh);
    const ds = gridValues(size, seed + 2 * b + 1, dyLow, dyHigh);
    for (let i = 0; i < size; i++) {
      x[b * size + i] = xs[i];
      dy[b * size + i] = zeroWhereOpen && xs[i] >= 0 && xs[i] <= openHigh ? 0 : ds[i];
    }
  });
  return { name, shape: [items.length, ...itemShape], x, dy };
}

const reluItems: Array<[number, number, number, number, boolean?]> = [
  [-2, 2, -1, 1], // alive, with exact zeros in x and dy
  [-3, -0.25, -1, 1], // dead: x < 0 everywhere; dy of both signs
  [-2, 2, -1, 1, true], // dead: dy is 0 wherever x ≥ 0
  [-3, -0.25, 0.25, 1], // dead and every dy pushes lower: nothing passes
  [0, 0, -1, 1], // x exactly 0 everywhere: the ReLU counts as open there (Lucid's x < 0 test)
];
const relu6Items: Array<[number, number, number, number, boolean?]> = [
  [-2, 8, -1, 1], // alive, with exact 0 and 6 in x
  [6.25, 9, -1, 1], // dead above the range
  [-3, -0.25, -1, 1], // dead below it
  [-3, 9, -1, 1, true], // dead: dy is 0 wherever 0 ≤ x ≤ 6
  [-3, 9, -1, 1], // mixed
];

const cases: Array<Case & { relu6: boolean }> = [
  { ...makeCase('relu, rank 4', [3, 4, 5], reluItems, Infinity, 11), relu6: false },
  { ...makeCase('relu, rank 2 (a dense layer)', [7], reluItems, Infinity, 23), relu6: false },
  { ...makeCase('relu6, rank 4', [3, 4, 5], relu6Items, 6, 37), relu6: true },
  { ...makeCase('relu6, rank 2', [7], relu6Items, 6, 41), relu6: true },
];

before(async () => {
  await initBackend('cpu');
  await initBackend('wasm');
});

for (const backend of ['cpu', 'wasm']) {
  for (const c of cases) {
    test(`redirected ${c.name} on ${backend}: the same values as Lucid's where-based rule`, async () => {
      await tf.setBackend(backend);
      tf.tidy(() => {
        const x = tf.tensor(c.x, c.shape);
        const dy = tf.tensor(c.dy, c.shape);
        // The gradient of sum(relu(x) · dy) with respect to x is the ReLU's gradient given dy.
        const activation = (v: tf.Tensor) => (c.relu6 ? tf.relu6(v) : tf.relu(v));
        const loss = (v: tf.Tensor) => tf.sum(tf.mul(activation(v), dy));
        const actual = withRedirectedReluGradients(() => tf.grad(loss)(x)).dataSync();
        const expected = lucidReference(x, dy, c.relu6).dataSync();
        // Equal element for element (deepEqual, not strict: +0 and −0 count as equal).
        assert.deepEqual(Array.from(actual), Array.from(expected));
        // The cases exercise both branches: some item gets a redirected gradient the ordinary rule blocks.
        const ordinary = tf.grad(loss)(x).dataSync();
        assert.ok(Array.from(expected).some((v, i) => v !== 0 && ordinary[i] === 0 && (c.relu6 || c.x[i] !== 0)), 'no redirected element');
      });
    });
  }
}

test('the redirected gradient reaches a fused conv + ReLU as it reaches separate conv, add and relu ops', async () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    await initBackend(backend);
    const images = tf.tensor4d(gridValues(2 * 6 * 6 * 3, 5, 0, 1), [2, 6, 6, 3]);
    const filter = tf.tensor4d(gridValues(3 * 3 * 3 * 4, 6, -1, 1), [3, 3, 3, 4]);
    // Minimising the loss −Σ relu(conv + bias) raises the units: dy < 0, which the rule lets through
    // where a batch item is dead, and only where x > 0 where it is alive.
    for (const [label, biasValue] of [['dead', -100], ['alive', 0]] as const) {
      const bias = tf.fill([4], biasValue);
      const fused = (x: tf.Tensor) => tf.neg(tf.sum(tf.fused.conv2d({ x: x as tf.Tensor4D, filter, strides: 1, pad: 'same', bias, activation: 'relu' })));
      const separate = (x: tf.Tensor) => tf.neg(tf.sum(tf.relu(tf.add(tf.conv2d(x as tf.Tensor4D, filter, 1, 'same'), bias))));
      const gradient = (loss: (x: tf.Tensor) => tf.Tensor, redirected: boolean) => tf.tidy(() => {
        const step = () => tf.grad(loss)(images);
        return Array.from((redirected ? withRedirectedReluGradients(step) : step()).dataSync());
      });
      const redirected = gradient(fused, true);
      assert.ok(redirected.some((v) => v !== 0), `${backend}, ${label}: zero gradient`);
      assert.deepEqual(redirected, gradient(separate, true), `${backend}, ${label}: fused and separate ops differ`);
      if (label === 'dead') assert.ok(gradient(fused, false).every((v) => v === 0), `${backend}: the ordinary gradient of dead units should be zero`);
      bias.dispose();
    }
    tf.dispose([images, filter]);
  }
});

test('on WASM the redirected ReLU gradient is one FeaturevisRedirectedReluGrad kernel, equal to the tfjs formula bit for bit (NaN, ±∞, ±0, tails, dead and alive items)', async () => {
  await initBackend('wasm');
  const special = [NaN, Infinity, -Infinity, 0, -0, 1e-30, -1e-30];
  // Items of 7 values (a scalar tail after one SIMD vector) and of 3 · 4 · 5 = 60; dead and alive items.
  for (const itemShape of [[7], [3, 4, 5]]) {
    const size = itemShape.reduce((a, b) => a * b, 1);
    const items = 4;
    const x = new Float32Array(size * items);
    const dy = new Float32Array(size * items);
    for (let b = 0; b < items; b++) {
      const xs = gridValues(size, 101 + b, b === 1 ? -3 : -2, b === 1 ? -0.25 : 2); // item 1: dead
      const ds = gridValues(size, 201 + b, -1, 1);
      for (let i = 0; i < size; i++) {
        x[b * size + i] = b === 2 && i < special.length ? special[i] : xs[i]; // item 2: special x
        dy[b * size + i] = b === 3 && i < special.length ? special[i] : ds[i]; // item 3: special dy
      }
    }
    const gradient = () => tf.tidy(() => {
      const loss = (v: tf.Tensor) => tf.sum(tf.mul(tf.relu(v), tf.tensor(dy, [items, ...itemShape])));
      return Array.from(withRedirectedReluGradients(() => tf.grad(loss)(tf.tensor(x, [items, ...itemShape]))).dataSync());
    });
    const viaKernel = gradient();
    // tfjs's kernels only: the project's WASM kernels switched off, the rule's formula runs instead.
    const restore = registerWasmGradientKernels();
    restore();
    let viaFormula: number[];
    try {
      viaFormula = gradient();
    } finally {
      registerWasmGradientKernels();
    }
    const same = viaKernel.length === viaFormula.length && viaKernel.every((v, i) => Object.is(v, viaFormula[i]));
    assert.ok(same, `item shape ${itemShape}: kernel ${viaKernel.slice(0, 20)} vs formula ${viaFormula.slice(0, 20)}`);
    assert.ok(viaKernel.some((v, i) => Number.isFinite(v) && v !== 0 && x[i] < 0), 'no redirected element');
  }
  const profile = await tf.profile(() => tf.tidy(() => {
    withRedirectedReluGradients(() => tf.grad((v: tf.Tensor) => tf.sum(tf.relu(v)))(tf.tensor2d([[1, -1, 2, -2, 3]]))).dataSync();
  }));
  const kernels = profile.kernels.map((k) => k.name);
  assert.ok(kernels.includes('FeaturevisRedirectedReluGrad') && !kernels.includes('Step'), `kernels: ${kernels.join(' ')}`);
});
