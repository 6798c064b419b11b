/**
 * Hand-designed priors (survey section 3): each does what its name says — TV lowers total variation,
 * blur lowers high-frequency energy, L2/L1/L2 decay keep pixels near grey, the clipping priors set the
 * lowest-percentile pixels to grey, the centre bias puts the pattern in the middle — and the objective
 * still rises with each of them (16 px, 20 steps on the fixture classifier, WASM backend).
 *
 * Each "does what it says" test compares two runs that differ only by the prior (same seed, same
 * steps), at a weight where the effect is plain; the defaults are checked to let the objective rise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { Prior } from '@featurevis/contracts';
import { PRIOR_TYPES } from '@featurevis/contracts';
import { parameterizations, type ImageParameterization } from '../src/parameterizations/index.ts';
import { loadDae, loadLatentDae, priors } from '../src/priors/index.ts';
import { loadGenerator } from '../src/parameterizations/generator.ts';
import { createRandom } from '../src/random.ts';
import { InvalidSpecError, type VisualizationOutput } from '../src/types.ts';
import { visualize } from '../src/visualize.ts';
import { fixtureRequest, gain, loadFixtureOnWasm, meanDistanceFromGrey, pixels, run } from './helpers/visualize-fixture.ts';

const model = await loadFixtureOnWasm();
// The dae priors' autoencoders and the generator are loaded once per process: load them before counting tensors.
await loadDae();
await loadLatentDae();
await loadGenerator();
const baseline = tf.memory().numTensors;

const ring = { type: 'class', class: 'ring' } as const;
const withPriors = (list: Prior[]) => run(model, { objective: ring, priors: list });
const metric = (output: VisualizationOutput, name: string) => output.metrics[name] as number;
const none = await withPriors([]);

/** Priors whose step hook edits the generator's code, not the image (Prior.acts 'code'): run on the generator. */
const CODE_PRIORS: readonly string[] = ['latentDae'];

test('every prior, at its default, still lets the objective rise', async () => {
  assert.deepEqual([...PRIOR_TYPES].sort(), Object.keys(priors).sort());
  const generator = { type: 'generator' } as const;
  const noneOnGenerator = await run(model, { objective: ring, parameterization: generator, priors: [] });
  for (const type of PRIOR_TYPES) {
    const onCode = CODE_PRIORS.includes(type);
    const output = onCode ? await run(model, { objective: ring, parameterization: generator, priors: [{ type } as Prior] }) : await withPriors([{ type } as Prior]);
    const without = onCode ? noneOnGenerator : none;
    // Without a prior the ring logit gains 0.47 in 20 steps; each prior keeps at least half of that.
    assert.ok(gain(output) > 0.5 * gain(without), `${type}: gain ${gain(output)} vs ${gain(without)} without`);
  }
});

test('totalVariation lowers the total variation of the result', async () => {
  const smooth = await withPriors([{ type: 'totalVariation', weight: 1 }]);
  assert.ok(metric(smooth, 'totalVariation') < 0.3 * metric(none, 'totalVariation'), `${metric(smooth, 'totalVariation')} vs ${metric(none, 'totalVariation')}`);
  // β = 1 (edges allowed) still removes noise.
  const edges = await withPriors([{ type: 'totalVariation', weight: 0.3, beta: 1 }]);
  assert.ok(metric(edges, 'totalVariation') < 0.7 * metric(none, 'totalVariation'));
  assert.ok(gain(smooth) > 0.5 * gain(none) && gain(edges) > 0.5 * gain(none));
});

test('blur (its default: σ ½ px every 4 steps) lowers the high-frequency energy', async () => {
  const blurred = await withPriors([{ type: 'blur' }]);
  assert.ok(metric(blurred, 'highFrequencyEnergy') < 0.4 * metric(none, 'highFrequencyEnergy'), `${metric(blurred, 'highFrequencyEnergy')} vs ${metric(none, 'highFrequencyEnergy')}`);
  // Blurring more often removes more.
  const everyStep = await withPriors([{ type: 'blur', everySteps: 1 }]);
  assert.ok(metric(everyStep, 'highFrequencyEnergy') < metric(blurred, 'highFrequencyEnergy'));
});

test('l2, l1 and l2Decay keep pixels nearer grey, more so the stronger they are', async () => {
  const distance = (output: VisualizationOutput) => meanDistanceFromGrey(pixels(output.images[0]));
  for (const [weak, strong] of [
    [{ type: 'l2', weight: 0.3 }, { type: 'l2', weight: 3 }],
    [{ type: 'l1', weight: 0.3 }, { type: 'l1', weight: 1 }],
    [{ type: 'l2Decay', theta: 0.03 }, { type: 'l2Decay', theta: 0.1 }],
  ] as Prior[][]) {
    const [weakRun, strongRun] = [await withPriors([weak]), await withPriors([strong])];
    assert.ok(distance(weakRun) < distance(none) && distance(strongRun) < 0.8 * distance(weakRun),
      `${weak.type}: |x − ½| ${distance(none)} without, ${distance(weakRun)} weak, ${distance(strongRun)} strong`);
    assert.ok(gain(strongRun) > 0.3 * gain(none), `${strong.type} still lets the objective rise`);
  }
});

/** How many of an image's pixels are exactly grey (128 in all three channels of the PNG). */
function greyPixels(output: VisualizationOutput): number {
  const rgb = pixels(output.images[0]);
  let count = 0;
  for (let i = 0; i < rgb.length; i += 3) if ([0, 1, 2].every((c) => Math.round(rgb[i + c] * 255) === 128)) count++;
  return count;
}

test('clipNorm and clipContribution leave the lowest-percentile pixels grey in the result', async () => {
  assert.equal(greyPixels(none), 0);
  for (const type of ['clipNorm', 'clipContribution'] as const) {
    for (const percentile of [20, 50]) {
      const clipped = await withPriors([{ type, percentile }]);
      // ⌊p/100 · 256⌋ pixels were set to grey after the last step (a few more may be grey by chance).
      const expected = Math.floor((percentile / 100) * 256);
      assert.ok(greyPixels(clipped) >= expected && greyPixels(clipped) <= expected + 3, `${type} ${percentile}%: ${greyPixels(clipped)} grey pixels`);
      assert.ok(gain(clipped) > 0.4 * gain(none));
    }
  }
});

/** A pixel parameterisation holding `images` exactly (NHWC in [0,1]). */
function pixelImages(images: tf.Tensor4D, type: 'pixel' | 'fourier' = 'pixel'): ImageParameterization {
  const [batch, sizePx] = images.shape;
  return parameterizations[type]({}, { batch, sizePx, random: createRandom(1), init: { type: 'image', pixels: images } });
}

test('the clipping hooks grey exactly the pixels of smallest norm / smallest contribution, through any invertible parameterisation', () => {
  tf.tidy(() => {
    const images = tf.randomUniform([2, 8, 8, 3], 0.05, 0.95, 'float32', 4) as tf.Tensor4D;
    const gradients = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const before = images.arraySync();
    const g = gradients.arraySync();
    const scores = {
      clipNorm: (b: number, y: number, x: number) => Math.hypot(...before[b][y][x].map((v) => v - 0.5)),
      clipContribution: (b: number, y: number, x: number) => before[b][y][x].reduce((sum, v, c) => sum + Math.abs((v - 0.5) * g[b][y][x][c]), 0),
    };
    for (const type of ['pixel', 'fourier'] as const) {
      for (const [name, score] of Object.entries(scores) as Array<[keyof typeof scores, (b: number, y: number, x: number) => number]>) {
        const parameterization = pixelImages(images, type);
        priors[name]({ percentile: 25 }).hook!({ step: 1, parameterization, images: () => parameterization.render(), gradients });
        const after = parameterization.render().arraySync();
        for (let b = 0; b < 2; b++) {
          const order = Array.from({ length: 64 }, (_, i) => i).sort((i, j) => score(b, Math.floor(i / 8), i % 8) - score(b, Math.floor(j / 8), j % 8));
          order.forEach((i, rank) => {
            const [y, x] = [Math.floor(i / 8), i % 8];
            const expected = rank < 16 ? [0.5, 0.5, 0.5] : before[b][y][x];
            after[b][y][x].forEach((v, c) => assert.ok(Math.abs(v - expected[c]) < 1e-4, `${type} ${name}: item ${b} (${y}, ${x}) rank ${rank}: ${v} vs ${expected[c]}`));
          });
        }
        parameterization.dispose();
      }
    }
  });
});

test('l2Decay moves every pixel θ of the way to grey; l2, l1 and centreBias penalise what they say', () => {
  tf.tidy(() => {
    const images = tf.randomUniform([1, 6, 6, 3], 0, 1, 'float32', 6) as tf.Tensor4D;
    const parameterization = pixelImages(images);
    priors.l2Decay({ theta: 0.2 }).hook!({ step: 1, parameterization, images: () => parameterization.render() });
    const expected = tf.add(0.5, tf.mul(0.8, tf.sub(images, 0.5)));
    assert.ok(tf.max(tf.abs(tf.sub(parameterization.render(), expected))).dataSync()[0] < 1e-5);
    parameterization.dispose();

    const centred = tf.sub(images, 0.5);
    const close = (a: tf.Tensor, b: number) => assert.ok(Math.abs(a.dataSync()[0] - b) < 1e-5, `${a.dataSync()[0]} vs ${b}`);
    close(priors.l2({}).penalty!(images), tf.mean(tf.square(centred)).dataSync()[0]);
    close(priors.l1({}).penalty!(images), tf.mean(tf.abs(centred)).dataSync()[0]);
    // The centre bias costs nothing at the centre and grows with the distance from it.
    const dot = (y: number, x: number) => tf.tensor4d(Array.from({ length: 36 * 3 }, (_, i) => (Math.floor(i / 3) === y * 6 + x ? 1 : 0.5)), [1, 6, 6, 3]);
    const cost = (y: number, x: number) => priors.centreBias({}).penalty!(dot(y, x)).dataSync()[0];
    assert.ok(cost(2, 3) < cost(1, 3) && cost(1, 3) < cost(0, 3) && cost(0, 3) < cost(0, 0), `${cost(2, 3)}, ${cost(1, 3)}, ${cost(0, 3)}, ${cost(0, 0)}`);
  });
});

/** The ratio of |x − ½| in the middle half of the image (rows and columns 4–11 of 16) to the rest. */
function centreToBorder(output: VisualizationOutput): number {
  const rgb = pixels(output.images[0]);
  let [centre, border] = [0, 0];
  for (let y = 0; y < 16; y++) {
    for (let x = 0; x < 16; x++) {
      const distance = [0, 1, 2].reduce((sum, c) => sum + Math.abs(rgb[(y * 16 + x) * 3 + c] - 0.5), 0);
      if (y >= 4 && y < 12 && x >= 4 && x < 12) centre += distance / 64;
      else border += distance / 192;
    }
  }
  return centre / border;
}

test('centreBias puts the pattern in the middle of the image', async () => {
  const biased = await withPriors([{ type: 'centreBias', weight: 3 }]);
  assert.ok(centreToBorder(none) < 1.1, `without: ${centreToBorder(none)}`);
  assert.ok(centreToBorder(biased) > 1.4 * centreToBorder(none), `centre/border ${centreToBorder(biased)} vs ${centreToBorder(none)} without`);
  assert.ok(gain(biased) > 0.5 * gain(none));
});

test('a step-hook prior on a parameterisation without an inverse (cppn) is refused before the first step', async () => {
  for (const type of ['blur', 'clipNorm', 'l2Decay'] as const) {
    const steps: number[] = [];
    await assert.rejects(
      visualize(model, fixtureRequest({ objective: ring, parameterization: { type: 'cppn' }, priors: [{ type: 'l2' }, { type }] }), { progressEverySteps: 1, onProgress: ({ step }) => steps.push(step) }),
      (error: unknown) => error instanceof InvalidSpecError && error.field === 'priors[1]' && /invertible/.test(error.message),
    );
    assert.deepEqual(steps, []);
  }
  // Penalties need no inverse.
  assert.ok(gain(await run(model, { objective: ring, parameterization: { type: 'cppn' }, priors: [{ type: 'totalVariation' }, { type: 'centreBias' }] })) > 0);
});

test('no tensors are left behind', () => {
  assert.equal(tf.memory().numTensors, baseline);
});
