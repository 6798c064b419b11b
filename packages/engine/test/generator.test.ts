/**
 * DGN-AM (Nguyen et al. 2016): the `generator` parameterisation and method on the bundled classifier
 * shapes-a at 32 px. The bundled generator (priors/generator-shapes, scripts/train-generator.ts)
 * reproduces shapes images it never saw through its encoder; the `generator` method raises class and
 * channel objectives within 32 steps and draws classes the classifier recognises; the code never leaves
 * the box real codes span; nothing leaks; combinations that need an inverse are refused by field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { generateShapes, LABELS, shapesTensor } from '@featurevis/engine/datasets';
import { codeStatistics, generator, loadEncoder, loadGenerator, type GeneratorParameterization } from '../src/parameterizations/index.ts';
import { createRandom } from '../src/random.ts';
import { InvalidSpecError, type VisualizationOutput, type VisualizationSpec } from '../src/types.ts';
import { visualize } from '../src/visualize.ts';
import { shapesA } from './helpers/shapes-a.ts';
import { gain, perImage } from './helpers/visualize-fixture.ts';

const model = await shapesA();
// Loaded once per process: before the baseline, so their weights are not counted as a leak.
const [generatorModel, encoderModel] = [await loadGenerator(), await loadEncoder()];
const baseline = tf.memory().numTensors;
const statistics = codeStatistics();

/**
 * The classes the generator method draws with p ≥ 0.9 at both seeds 1 and 2 (measured, 32 steps: seed 1
 * square 0.99, vertical stripes 1.00, checkerboard 1.00, red 1.00, circle 0.01, triangle 0.48,
 * horizontal stripes 0.00, cross 0.17; seed 2 circle, square, both stripes, checkerboard and red ≥ 0.99,
 * triangle and cross ≈ 0). The textures come from the generator's feature loss on shapes-b
 * (scripts/train-generator.ts); the generator trained on pixel error alone drew no stripes or
 * checkerboard at all (p ≈ 0 at every seed).
 */
const ROBUST_CLASSES = ['square', 'vertical-stripes', 'checkerboard', 'red'];

const mse = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.mean(tf.squaredDifference(a, b)).dataSync()[0]);

function run(spec: Partial<VisualizationSpec> & Pick<VisualizationSpec, 'objective'>): Promise<VisualizationOutput> {
  return visualize(model, { model: 'shapes-a', method: 'generator', steps: 32, seed: 1, ...spec, image: { size: 32, ...spec.image } } as VisualizationSpec);
}

test('the generator reproduces shapes images it was not trained on: G(E(x)) is far closer than the mean image', () => {
  const [reconstructionMse, meanImageMse] = tf.tidy(() => {
    const heldOut = shapesTensor(generateShapes({ count: 64, seed: 31_337, sizePx: statistics.sizePx }));
    const other = shapesTensor(generateShapes({ count: 256, seed: 4_242, sizePx: statistics.sizePx }));
    const reconstructed = generatorModel.predict(encoderModel.predict(heldOut) as tf.Tensor) as tf.Tensor4D;
    return [mse(reconstructed, heldOut), mse(tf.broadcastTo(tf.mean(other, 0, true), heldOut.shape), heldOut)];
  });
  // Measured: reconstruction 0.021, mean image 0.051 (priors/generator-shapes/training.json: held out 0.0223 vs 0.0509).
  assert.ok(reconstructionMse < 0.025, `reconstruction MSE ${reconstructionMse}`);
  assert.ok(reconstructionMse < 0.5 * meanImageMse, `reconstruction MSE ${reconstructionMse} vs mean image ${meanImageMse}`);
  assert.equal(tf.memory().numTensors, baseline);
});

test('shapes-a (never used in training) recognises the generator\'s reconstructions of held-out images of every class', (t) => {
  const batch = generateShapes({ count: 512, seed: 31_337, sizePx: statistics.sizePx });
  const predicted = tf.tidy(() => {
    const reconstructed = generatorModel.predict(encoderModel.predict(shapesTensor(batch)) as tf.Tensor) as tf.Tensor4D;
    return tf.argMax(model.activations(reconstructed, ['@logits'])[0], -1).dataSync();
  });
  const share = LABELS.map((_, c) => {
    const members = [...batch.labels.keys()].filter((i) => batch.labels[i] === c);
    return members.filter((i) => predicted[i] === c).length / members.length;
  });
  t.diagnostic(JSON.stringify(Object.fromEntries(LABELS.map((label, c) => [label, Number(share[c].toFixed(2))]))));
  // Measured: circle 0.66 (0.78 on the originals), square 0.73, triangle 0.89, horizontal stripes 0.78,
  // vertical stripes 0.81, checkerboard 0.89, red 1.00, cross 0.77; trained on pixel error alone the
  // stripes and checkerboard were 0.00 and circle 0.19.
  for (const [c, label] of LABELS.entries()) assert.ok(share[c] >= 0.55, `${label}: ${share[c]}`);
  assert.equal(tf.memory().numTensors, baseline);
});

for (const seed of [1, 2]) {
  test(`generator method (seed ${seed}): every class logit of shapes-a rises in 32 steps, and the classifier sees the class`, async (t) => {
    const output = await run({ objective: LABELS.map((label) => ({ type: 'class', class: label })), seed });
    const start = output.trace[0];
    assert.equal((output.settings.parameterization as { type: string }).type, 'generator');
    assert.ok(gain(output) > 1, `mean logit ${start} → ${output.metrics.objective}`);
    const p = perImage(output, 'classProbability') as number[];
    t.diagnostic(JSON.stringify(Object.fromEntries(LABELS.map((label, i) => [label, Number(p[i].toFixed(3))]))));
    for (const label of ROBUST_CLASSES) {
      const value = p[LABELS.indexOf(label)];
      assert.ok(value >= 0.9, `p(${label}) = ${value}`);
    }
    assert.equal(tf.memory().numTensors, baseline);
  });
}

test('generator method raises a channel objective (conv3) in 32 steps', async () => {
  const output = await run({ objective: { type: 'channel', layer: 'conv3', channel: 0 }, image: { batch: 2 } });
  assert.ok(gain(output) > 0.1 * Math.abs(output.trace[0]) && gain(output) > 0, `conv3:0 ${output.trace[0]} → ${output.metrics.objective}`);
  assert.equal(tf.memory().numTensors, baseline);
});

test('the code stays inside the box real codes span (1st–99th percentile), however hard it is pushed', async () => {
  const parameterization = generator({}, { batch: 4, sizePx: 32, random: createRandom(5), init: { type: 'noise', std: 1 } }) as GeneratorParameterization;
  await parameterization.ready!();
  const optimizer = tf.train.adam(1);
  try {
    for (let step = 0; step < 20; step++) {
      optimizer.minimize(() => tf.tidy(() => {
        const [logits] = model.activations(parameterization.render(), ['@logits']);
        return tf.neg(tf.sum(tf.slice(logits, [0, LABELS.indexOf('red')], [-1, 1]))) as tf.Scalar;
      }), false, parameterization.variables);
    }
    const code = parameterization.code();
    const values = code.arraySync();
    code.dispose();
    let atWall = 0;
    for (const row of values) {
      row.forEach((value, d) => {
        assert.ok(value >= statistics.p01[d] - 1e-6 && value <= statistics.p99[d] + 1e-6, `dimension ${d}: ${value} outside [${statistics.p01[d]}, ${statistics.p99[d]}]`);
        if (Math.abs(value - statistics.p01[d]) < 0.05 * (statistics.p99[d] - statistics.p01[d]) || Math.abs(value - statistics.p99[d]) < 0.05 * (statistics.p99[d] - statistics.p01[d])) atWall++;
      });
    }
    // The push was hard enough to matter: without the bound, codes would have left the box.
    assert.ok(atWall > 0, 'no dimension reached the edge of the box: the test did not push hard enough');
  } finally {
    optimizer.dispose();
    parameterization.dispose();
  }
  assert.equal(tf.memory().numTensors, baseline);
});

test('an image init starts from the generator\'s version of the image; other sizes are resized', async () => {
  const image = shapesTensor(generateShapes({ count: 1, seed: 99, sizePx: 32 }));
  const parameterization = generator({}, { batch: 1, sizePx: 32, random: createRandom(1), init: { type: 'image', pixels: image } });
  const large = generator({}, { batch: 2, sizePx: 48, random: createRandom(1) });
  try {
    await parameterization.ready!();
    await large.ready!();
    const [startMse, greyMse] = tf.tidy(() => [mse(parameterization.render(), image), mse(tf.fill(image.shape, 0.5), image)]);
    assert.ok(startMse < 0.25 * greyMse, `start MSE ${startMse} vs grey ${greyMse}`);
    const rendered = large.render();
    assert.deepEqual(rendered.shape, [2, 48, 48, 3]);
    rendered.dispose();
  } finally {
    image.dispose();
    parameterization.dispose();
    large.dispose();
  }
  assert.equal(tf.memory().numTensors, baseline);
});

test('combinations that need an inverse, and unknown generators, are refused by field', async () => {
  const refused = async (spec: Partial<VisualizationSpec>, field: string) => {
    await assert.rejects(run({ objective: { type: 'class', class: 'red' }, steps: 2, ...spec }), (error: unknown) => error instanceof InvalidSpecError && error.field === field);
  };
  await refused({ priors: [{ type: 'blur' }] }, 'priors[0]');
  await refused({ reference: { set: 'shapes', count: 16 }, facets: { k: 2, top: 8 } } as Partial<VisualizationSpec>, 'facets');
  await refused({ parameterization: { type: 'generator', generator: 'imagenet' } as never }, 'parameterization.generator');
  // A penalty prior acts on the image and is fine.
  const output = await run({ objective: { type: 'class', class: 'red' }, steps: 2, priors: [{ type: 'totalVariation' }] });
  assert.equal(output.images.length, 1);
  assert.equal(tf.memory().numTensors, baseline);
});
