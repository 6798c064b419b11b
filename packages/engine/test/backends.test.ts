/**
 * Backends: initBackend's choice, and input-only gradients — an activation-maximization step
 * differentiates with respect to the image only, so no weight-gradient kernel may run in it
 * (issue 4), while the image gradient stays exactly what tfjs computes the slow way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend, installInputOnlyGradients, weightGradientKernelNames, withUnfusedActivations } from '@featurevis/engine/backends';
import { loadModelFromDirectory } from '@featurevis/engine/models';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

test('initBackend picks an available backend and reports its package', async () => {
  const chosen = await initBackend('auto');
  // tfjs-node(-gpu) is not installable here, so auto lands on WASM; where it is installed it wins.
  assert.ok(['tensorflow', 'wasm', 'cpu'].includes(chosen.name), chosen.name);
  assert.equal(tf.getBackend(), chosen.name);
  assert.deepEqual(await initBackend('cpu'), { name: 'cpu', package: '@tensorflow/tfjs-backend-cpu' });
  assert.equal(tf.getBackend(), 'cpu');
});

test('initBackend rejects an explicitly requested backend that is not installed', async () => {
  await assert.rejects(initBackend('tensorflow-gpu'));
  await initBackend('cpu');
});

/**
 * conv+relu, a linear conv (fused with a bias), a strided conv, a depthwise conv + relu, a dense + relu
 * and a dense layer: every fused op, with and without a fused ReLU.
 */
function smallConvNet(): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [12, 12, 3], filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv_relu' }),
      tfl.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', name: 'conv_linear' }),
      tfl.layers.conv2d({ filters: 7, kernelSize: 3, strides: 2, padding: 'valid', name: 'conv_strided' }),
      tfl.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu', name: 'depthwise_relu' }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 6, activation: 'relu', name: 'dense_relu' }),
      tfl.layers.dense({ units: 5, name: 'logits' }),
    ],
  });
}

/** The kernels that ran a fused op, and the separate Relu kernels (a ReLU tfjs unfused). */
function fusedAndReluKernels(kernels: ProfiledGradient['kernels']) {
  return {
    fused: kernels.filter((k) => [tf.FusedConv2D, tf.FusedDepthwiseConv2D, tf._FusedMatMul].includes(k.name)).length,
    relu: kernels.filter((k) => k.name === tf.Relu).length,
  };
}

interface ProfiledGradient { gradient: Float32Array; kernels: Array<{ name: string; outputShapes: number[][] }> }

/** One AM-style step: the gradient of an objective with respect to the image only, profiled. */
async function profiledImageGradient(objective: (images: tf.Tensor) => tf.Tensor, images: tf.Tensor4D): Promise<ProfiledGradient> {
  let gradient: Float32Array = new Float32Array();
  const profile = await tf.profile(() => {
    const grad = tf.grad(objective)(images);
    gradient = grad.dataSync() as Float32Array;
    grad.dispose();
  });
  return { gradient, kernels: profile.kernels.map((k) => ({ name: k.name, outputShapes: k.outputShapes as number[][] })) };
}

/** Kernels that computed something shaped like a weight: a weight gradient by another name (MatMul, Sum). */
function weightShapedComputations(kernels: ProfiledGradient['kernels'], weightShapes: number[][]): string[] {
  // The fused ops save clones of their weights; the WASM input-gradient kernels flip and transpose them.
  const copiesAndViews = new Set(['Identity', 'Reshape', 'Cast', 'Reverse', 'Transpose']);
  const shapes = new Set(weightShapes.map((shape) => shape.join('x')));
  return kernels
    .filter((k) => !copiesAndViews.has(k.name) && k.outputShapes.some((shape) => shapes.has(shape.join('x'))))
    .map((k) => `${k.name} → ${JSON.stringify(k.outputShapes)}`);
}

function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  return a.reduce((max, value, i) => Math.max(max, Math.abs(value - b[i])), 0);
}

for (const backend of ['cpu', 'wasm'] as const) {
  test(`on ${backend}, an image-gradient step through a LayersModel runs no weight-gradient kernel and matches tfjs's eager gradient`, async () => {
    await initBackend('cpu');
    const model = smallConvNet();
    const images = tf.randomUniform([2, 12, 12, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const objective = (x: tf.Tensor) => tf.sum(model.apply(x) as tf.Tensor);
    const weightShapes = model.weights.map((w) => w.shape as number[]);

    // The reference: tfjs's own eager fused-op gradients, on the CPU backend (on WASM they cannot
    // run at all: it has no Conv2DBackpropFilter kernel). They do compute the weights' gradients,
    // which shows that the checks below can fail.
    installInputOnlyGradients()();
    const eager = await profiledImageGradient(objective, images);
    assert.ok(eager.kernels.some((k) => k.name === tf.Conv2DBackpropFilter), 'expected tfjs to run Conv2DBackpropFilter');
    assert.ok(weightShapedComputations(eager.kernels, weightShapes).length > 0);

    await initBackend(backend); // installs the input-only gradients again
    const lazy = await profiledImageGradient(objective, images);
    const lazyNames = lazy.kernels.map((k) => k.name);
    for (const name of weightGradientKernelNames) assert.ok(!lazyNames.includes(name), `${name} ran`);
    assert.deepEqual(weightShapedComputations(lazy.kernels, weightShapes), []);
    assert.ok(Math.max(...lazy.gradient.map(Math.abs)) > 0);
    assert.ok(maxAbsDifference(lazy.gradient, eager.gradient) <= 1e-5 * Math.max(...eager.gradient.map(Math.abs)));
    // The conv's and the dense layer's ReLUs stay inside their fused kernels (tfjs unfuses them under
    // the tape: 3 Relu kernels in `eager`; tfjs-layers never fuses the depthwise layer's), and inside
    // withUnfusedActivations (the redirected ReLU gradient's steps) they run as separate Relu kernels
    // after the op with its bias still fused: no bias Add for them (tfjs runs one for each; the third
    // Add is the depthwise layer's bias, which tfjs-layers adds separately everywhere).
    assert.equal(fusedAndReluKernels(eager.kernels).relu, 3);
    assert.equal(eager.kernels.filter((k) => k.name === tf.Add).length, 3);
    assert.deepEqual(fusedAndReluKernels(lazy.kernels), { fused: 5, relu: 1 });
    const unfused = await profiledImageGradient((x) => withUnfusedActivations(() => objective(x)), images);
    assert.deepEqual(fusedAndReluKernels(unfused.kernels), { fused: 5, relu: 3 });
    assert.equal(unfused.kernels.filter((k) => k.name === tf.Add).length, 1);
    assert.ok(maxAbsDifference(unfused.gradient, eager.gradient) <= 1e-5 * Math.max(...eager.gradient.map(Math.abs)));
    images.dispose();
    model.dispose();
  });
}

test('with the fused ReLU kept under the tape, weight gradients (training) equal tfjs\'s eager ones', async () => {
  await initBackend('cpu');
  const model = smallConvNet();
  const images = tf.randomUniform([2, 12, 12, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
  const weights = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const weightGradients = () => tf.tidy(() => {
    const { grads } = tf.variableGrads(() => tf.sum(tf.square(model.apply(images) as tf.Tensor)), weights);
    return weights.map((w) => grads[w.name].dataSync() as Float32Array);
  });
  installInputOnlyGradients()();
  const eager = weightGradients();
  await initBackend('cpu');
  const lazy = weightGradients();
  for (const [i, reference] of eager.entries()) {
    const scale = Math.max(...reference.map(Math.abs));
    assert.ok(scale > 0, `${weights[i].name}: zero gradient`);
    assert.ok(maxAbsDifference(lazy[i], reference) <= 1e-5 * scale, weights[i].name);
  }
  images.dispose();
  model.dispose();
});

const graphModelDir = `${repoRoot}models/shapes-dw-graph`;
test('a step through the bundled depthwise GraphModel runs no weight-gradient kernel', { skip: existsSync(`${graphModelDir}/model.json`) ? false : 'models/shapes-dw-graph is not there yet' }, async () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    await initBackend(backend);
    const model = await loadModelFromDirectory(graphModelDir, 'shapes-dw-graph');
    const size = model.info.input.defaultSizePx;
    const images = tf.randomUniform([1, size, size, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const layer = model.info.output.logitsLayer ?? model.info.output.layer;
    const objective = (x: tf.Tensor) => tf.sum(model.activations(x as tf.Tensor4D, [layer])[0]);
    const lazy = await profiledImageGradient(objective, images);
    const names = lazy.kernels.map((k) => k.name);
    for (const name of weightGradientKernelNames) assert.ok(!names.includes(name), `${name} ran on ${backend}`);
    assert.ok(lazy.gradient.some((v) => v !== 0), `zero gradient on ${backend}`);
    // Its conv + bias + ReLU nodes keep their fused kernels (graph-model-fused-ops.ts); unfused (as
    // tfjs runs them under the tape) the gradient is the same.
    const kept = fusedAndReluKernels(lazy.kernels);
    assert.ok(kept.fused > 0 && kept.relu === 0, `${backend}: ${JSON.stringify(kept)}`);
    const unfused = await profiledImageGradient((x) => withUnfusedActivations(() => objective(x)), images);
    assert.ok(fusedAndReluKernels(unfused.kernels).relu > 0, backend);
    assert.ok(maxAbsDifference(lazy.gradient, unfused.gradient) <= 1e-5 * Math.max(...unfused.gradient.map(Math.abs)), backend);
    images.dispose();
    model.dispose();
  }
});
