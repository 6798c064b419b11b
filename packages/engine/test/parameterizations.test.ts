import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-core alone registers no gradients; tfjs-layers (which the engine loads models with) registers them all.
import '@tensorflow/tfjs-layers';
import { PNG } from 'pngjs';
import seedrandom from 'seedrandom';
import {
  ColorDecorrelation, colorCorrelationSqrtFromImages, IMAGENET_COLOR_CORRELATION_SQRT, RealFourierBasis, parameterizations,
  type ImageParameterization, type ParameterizationContext,
} from '../src/parameterizations/index.ts';
import { INVERTIBLE_PARAMETERIZATIONS } from '@featurevis/contracts';
import { InvalidSpecError } from '../src/types.ts';
import type { Random } from '../src/units.ts';

await tf.setBackend('cpu');

function seeded(seed: number): Random {
  const rng = seedrandom(String(seed));
  return { next: () => rng(), nextSeed: () => rng.int32() >>> 0 };
}

const context = (overrides: Partial<ParameterizationContext> = {}): ParameterizationContext => ({ batch: 2, sizePx: 16, random: seeded(1), ...overrides });

/** A smooth, colourful test image inside (0,1): what an init image or a hook's edit looks like. */
function testImages(batch: number, sizePx: number): tf.Tensor4D {
  return tf.tidy(() => tf.add(0.5, tf.mul(0.4, tf.sin(tf.mul(3, tf.randomUniform([batch, sizePx, sizePx, 3], -1, 1, 'float32', 3))))) as tf.Tensor4D);
}

function maxAbsDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

function assertValidImages(p: ImageParameterization, batch: number, sizePx: number) {
  const images = p.render();
  assert.deepEqual(images.shape, [batch, sizePx, sizePx, 3]);
  const [low, high] = tf.tidy(() => [tf.min(images).dataSync()[0], tf.max(images).dataSync()[0]]);
  assert.ok(low >= 0 && high <= 1, `pixels in [0,1], got [${low}, ${high}]`);
  images.dispose();
}

/** Gradient of a pixel-weighted sum of the rendered images with respect to each variable. */
function variableGradientNorms(p: ImageParameterization): number[] {
  return tf.tidy(() => {
    const weights = tf.randomNormal(p.render().shape, 0, 1, 'float32', 5);
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(p.render(), weights)) as tf.Scalar, p.variables);
    return p.variables.map((v) => tf.norm(grads[v.name]).dataSync()[0]);
  });
}

test('the real DFT basis matches a direct DFT and inverts exactly, for even and odd sizes', () => {
  for (const [height, width] of [[8, 8], [7, 10], [9, 5]]) {
    const basis = new RealFourierBasis(height, width);
    const image = tf.randomNormal([2, height, width], 0, 1, 'float32', 11) as tf.Tensor3D;
    const spectrum = basis.forward(image);
    assert.deepEqual(spectrum.shape, [2, height, 2 * (Math.floor(width / 2) + 1)]);
    // Direct DFT of item 1 at every stored frequency.
    const x = image.arraySync()[1];
    const stored = spectrum.arraySync()[1];
    const columns = basis.frequencyColumns;
    for (let k = 0; k < height; k++) {
      for (let l = 0; l < columns; l++) {
        let re = 0; let im = 0;
        for (let m = 0; m < height; m++) {
          for (let n = 0; n < width; n++) {
            const angle = -2 * Math.PI * (k * m / height + l * n / width);
            re += x[m][n] * Math.cos(angle); im += x[m][n] * Math.sin(angle);
          }
        }
        assert.ok(Math.abs(stored[k][l] - re) < 1e-3 && Math.abs(stored[k][columns + l] - im) < 1e-3, `X[${k},${l}]`);
      }
    }
    const roundTrip = basis.inverse(spectrum);
    assert.ok(maxAbsDifference(roundTrip, image) < 1e-4, `${height}×${width} round trip`);
    tf.dispose([image, spectrum, roundTrip]);
    basis.dispose();
  }
});

test('colour decorrelation: the matrix times its inverse is the identity', () => {
  const decorrelation = new ColorDecorrelation(IMAGENET_COLOR_CORRELATION_SQRT);
  const product = tf.matMul(decorrelation.toRgbMatrix, decorrelation.fromRgbMatrix);
  assert.ok(maxAbsDifference(product, tf.eye(3)) < 1e-5);
  const images = testImages(1, 4);
  const back = decorrelation.toRgb(decorrelation.fromRgb(images));
  assert.ok(maxAbsDifference(back, images) < 1e-5);
  tf.dispose([product, images, back]);
  decorrelation.dispose();
});

test('the colour covariance square root computed from images reproduces their covariance', () => {
  // Correlated colours: a shared luminance plus a little independent colour noise.
  const pixels = 4000;
  const random = seedrandom('colours');
  const values = new Float32Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    const luminance = random();
    for (let c = 0; c < 3; c++) values[p * 3 + c] = 0.8 * luminance + 0.2 * random() * (c + 1) / 3;
  }
  const sqrt = colorCorrelationSqrtFromImages(values);
  const covariance = (a: number, b: number) => {
    let meanA = 0; let meanB = 0;
    for (let p = 0; p < pixels; p++) { meanA += values[p * 3 + a] / pixels; meanB += values[p * 3 + b] / pixels; }
    let sum = 0;
    for (let p = 0; p < pixels; p++) sum += (values[p * 3 + a] - meanA) * (values[p * 3 + b] - meanB);
    return sum / (pixels - 1);
  };
  for (let a = 0; a < 3; a++) {
    for (let b = 0; b < 3; b++) {
      const product = sqrt[a][0] * sqrt[b][0] + sqrt[a][1] * sqrt[b][1] + sqrt[a][2] * sqrt[b][2];
      assert.ok(Math.abs(product - covariance(a, b)) < 1e-4, `(M Mᵀ)[${a}][${b}] = ${product}, covariance ${covariance(a, b)}`);
    }
  }
  // Largest component first, and it is the luminance direction (all of one sign).
  const columnNorm = (c: number) => Math.hypot(sqrt[0][c], sqrt[1][c], sqrt[2][c]);
  assert.ok(columnNorm(0) >= columnNorm(1) && columnNorm(1) >= columnNorm(2));
  assert.ok(Math.sign(sqrt[0][0]) === Math.sign(sqrt[1][0]) && Math.sign(sqrt[1][0]) === Math.sign(sqrt[2][0]));
});

test('every invertible parameterisation round-trips an image: setImages then render recovers it', () => {
  const cases: Array<[string, ImageParameterization]> = [
    ['pixel clip', parameterizations.pixel({ range: 'clip' }, context())],
    ['pixel sigmoid decorrelated', parameterizations.pixel({ range: 'sigmoid', decorrelate: true }, context())],
    ['fourier sigmoid decorrelated', parameterizations.fourier({ decayPower: 1, range: 'sigmoid', decorrelate: true }, context())],
    ['fourier clip, odd size', parameterizations.fourier({ decayPower: 1.5, range: 'clip' }, context({ sizePx: 15 }))],
    ['fourier, own colour matrix', parameterizations.fourier({ decorrelate: { matrix: [[0.3, 0.1, 0], [0.3, 0, 0.05], [0.3, -0.1, 0]] } }, context())],
    ['laplacian', parameterizations.laplacian({ levels: 3, range: 'sigmoid', decorrelate: true }, context())],
  ];
  for (const [name, p] of cases) {
    const sizePx = name.includes('odd') ? 15 : 16;
    const images = testImages(2, sizePx);
    assert.ok(p.setImages, `${name} has an inverse`);
    p.setImages(images);
    const rendered = p.render();
    assert.ok(maxAbsDifference(rendered, images) < 2e-3, `${name}: ${maxAbsDifference(rendered, images)}`);
    tf.dispose([images, rendered]);
    p.dispose();
  }
});

test('outputs are RGB in [0,1] and gradients reach every variable', () => {
  const before = tf.memory().numTensors;
  const cases: Array<[string, ImageParameterization]> = [
    ['pixel', parameterizations.pixel({}, context({ init: { type: 'noise', std: 2 } }))],
    ['fourier', parameterizations.fourier({ decayPower: 1, decorrelate: true, range: 'sigmoid' }, context({ init: { type: 'noise', std: 0.5 } }))],
    ['fourier clip', parameterizations.fourier({ decayPower: 1, range: 'clip' }, context({ init: { type: 'noise', std: 0.5 } }))],
    ['laplacian', parameterizations.laplacian({ levels: 4, range: 'sigmoid' }, context({ init: { type: 'noise', std: 1 } }))],
  ];
  for (const [name, p] of cases) {
    assertValidImages(p, 2, 16);
    const norms = variableGradientNorms(p);
    assert.ok(norms.every((n) => n > 0 && Number.isFinite(n)), `${name}: gradient norms ${norms}`);
    p.dispose();
  }
  assert.equal(tf.memory().numTensors, before, 'dispose frees every tensor');
});

test('the clip range passes gradients through saturated pixels (straight-through), so they can come back', () => {
  const p = parameterizations.pixel({ range: 'clip' }, context({ batch: 1, sizePx: 4 }));
  p.variables[0].assign(tf.fill([1, 4, 4, 3], 3)); // far above 1
  const images = p.render();
  assert.equal(tf.min(images).dataSync()[0], 1);
  const { grads } = tf.variableGrads(() => tf.sum(p.render()) as tf.Scalar, p.variables);
  assert.equal(tf.min(grads[p.variables[0].name]).dataSync()[0], 1);
  tf.dispose([images, grads[p.variables[0].name]]);
  p.dispose();
});

test('a parameterisation gives its variables\' gradient in closed form only where render\'s Jacobian is the identity, and then exactly tf.grads\'s', () => {
  const g = tf.randomNormal([2, 16, 16, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
  const clipped = parameterizations.pixel({ range: 'clip' }, context({ init: { type: 'noise', std: 2 } })); // many pixels saturated
  assert.ok(clipped.variableGradients, 'pixel, clip range, no colour map');
  const [closed] = clipped.variableGradients!(g);
  const [traced] = tf.grads(() => clipped.render())(clipped.variables, g);
  assert.deepEqual(Array.from(closed!.dataSync()), Array.from(traced!.dataSync()));
  tf.dispose([traced!]);
  clipped.dispose();
  for (const [name, p] of [
    ['pixel, sigmoid', parameterizations.pixel({ range: 'sigmoid' }, context())],
    ['pixel, decorrelated', parameterizations.pixel({ range: 'clip', decorrelate: true }, context())],
    ['fourier, clip', parameterizations.fourier({ decayPower: 1, range: 'clip' }, context())],
  ] as const) {
    assert.equal(p.variableGradients, undefined, name);
    p.dispose();
  }
  g.dispose();
});

test('the Fourier parameterisation scales low frequencies up: its noise is smoother than pixel noise', () => {
  const roughness = (p: ImageParameterization) => tf.tidy(() => {
    const images = tf.sub(p.render(), 0.5);
    const dx = tf.sub(tf.slice(images, [0, 0, 1, 0], [-1, -1, 15, -1]), tf.slice(images, [0, 0, 0, 0], [-1, -1, 15, -1]));
    return tf.div(tf.mean(tf.square(dx)), tf.mean(tf.square(images))).dataSync()[0];
  });
  const noisy = { init: { type: 'noise', std: 0.05 } } as const;
  const pixel = parameterizations.pixel({ range: 'clip' }, context(noisy));
  const fourier = parameterizations.fourier({ decayPower: 1, range: 'clip' }, context(noisy));
  const steeper = parameterizations.fourier({ decayPower: 2, range: 'clip' }, context(noisy));
  // White noise has E[dx²]/E[x²] = 2; 1/f and 1/f² noise put ever more of their energy in low frequencies.
  const [white, pink, brown] = [pixel, fourier, steeper].map(roughness);
  assert.ok(white > 1.5, `pixel ${white}`);
  assert.ok(pink < 0.6 * white, `decayPower 1: ${pink} vs pixel ${white}`);
  assert.ok(brown < 0.5 * pink, `decayPower 2: ${brown} vs decayPower 1 ${pink}`);
  for (const p of [pixel, fourier, steeper]) p.dispose();
});

test('noise starts are reproducible per seed and differ between seeds', () => {
  const render = (seed: number) => {
    const p = parameterizations.fourier({ decorrelate: true, range: 'sigmoid' }, context({ random: seeded(seed) }));
    const data = p.render().dataSync();
    p.dispose();
    return data;
  };
  assert.deepEqual(render(4), render(4));
  assert.notDeepEqual(render(4), render(5));
});

test('constant, mean and PNG starts render those images', () => {
  const constant = parameterizations.fourier({ decorrelate: true, range: 'sigmoid' }, context({ init: { type: 'constant', value: 0.3 } }));
  const grey = tf.fill([2, 16, 16, 3], 0.3);
  assert.ok(maxAbsDifference(constant.render(), grey) < 1e-3);
  constant.dispose();

  const mean = parameterizations.laplacian({}, context({ init: { type: 'mean' }, meanRgb: [0.485, 0.456, 0.406] }));
  const rendered = mean.render();
  assert.ok(maxAbsDifference(tf.reshape(tf.slice(rendered, [0, 5, 7, 0], [1, 1, 1, 3]), [3]), tf.tensor1d([0.485, 0.456, 0.406])) < 1e-3);
  mean.dispose();

  // An 8×8 PNG: red left half, blue right half, resized to 16 px.
  const png = new PNG({ width: 8, height: 8 });
  for (let p = 0; p < 64; p++) png.data.set(p % 8 < 4 ? [255, 0, 0, 255] : [0, 0, 255, 255], p * 4);
  const base64 = PNG.sync.write(png).toString('base64');
  const fromPng = parameterizations.pixel({ range: 'clip' }, context({ init: { type: 'image', png: base64 } }));
  const pixels = fromPng.render().arraySync();
  assert.deepEqual(pixels[1][3][0].map((v) => Math.round(v * 100) / 100), [1, 0, 0]);
  assert.deepEqual(pixels[1][3][15].map((v) => Math.round(v * 100) / 100), [0, 0, 1]);
  fromPng.dispose();

  assert.throws(() => parameterizations.pixel({}, context({ init: { type: 'image', png: 'bm90IGEgcG5n' } })), InvalidSpecError);
  assert.throws(() => parameterizations.pixel({}, context({ init: { type: 'image', pixels: [0.5, 0.5] } })), InvalidSpecError);
  tf.dispose([grey, rendered]);
});

test('a CPPN renders valid images, starts uniform, and learns through all its layers', () => {
  const p = parameterizations.cppn({ hiddenLayers: 3, hiddenChannels: 8 }, context({ init: { type: 'constant', value: 0.25 } }));
  assert.equal(p.setImages, undefined, 'no inverse');
  assertValidImages(p, 2, 16);
  const start = p.render();
  assert.ok(maxAbsDifference(start, tf.fill([2, 16, 16, 3], 0.25)) < 1e-5, 'the zero output layer renders the init colour');
  // At the start only the output layer gets a gradient (its weights are zero, as in Lucid) ...
  const first = variableGradientNorms(p);
  assert.ok(first.at(-2)! > 0 && first.at(-1)! > 0);
  // ... and once it has moved, the gradient reaches the first layer.
  const output = p.variables.at(-2)!;
  output.assign(tf.randomNormal(output.shape, 0, 0.1, 'float32', 9));
  const later = variableGradientNorms(p);
  assert.ok(later.every((n) => n > 0), `gradient norms ${later}`);
  const varied = p.render();
  assert.ok(tf.moments(varied).variance.dataSync()[0] > 1e-4, 'a pattern, not a uniform image');
  tf.dispose([start, varied]);
  p.dispose();
  assert.throws(() => parameterizations.cppn({}, context({ init: { type: 'image', png: '' } })), InvalidSpecError);
});

test('the contract\'s invertible parameterisations (facets, step-hook priors) are exactly those with an inverse', () => {
  for (const [type, create] of Object.entries(parameterizations)) {
    const p = (create as (options: unknown, context: ParameterizationContext) => ImageParameterization)({ type }, context());
    try {
      assert.equal(Boolean(p.setImages), (INVERTIBLE_PARAMETERIZATIONS as readonly string[]).includes(type), `${type}: setImages ${p.setImages ? 'present' : 'absent'}`);
    } finally {
      p.dispose();
    }
  }
});
