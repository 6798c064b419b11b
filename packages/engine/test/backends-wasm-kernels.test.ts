/**
 * The project's WASM gradient kernels (src/backends/wasm) against tfjs's pure-JS CPU kernels, on
 * random inputs over strides, paddings (same, valid, explicit), dilations and channel multipliers.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
// Importing tfjs-layers registers tfjs-core's op gradients, as the engine's model loading does.
import '@tensorflow/tfjs-layers';
import { initBackend, nativeConvUnavailableReason, wasmGradientKernelNames } from '@featurevis/engine/backends';
import { useMaxPoolGradPath, type MaxPoolGradPath } from '../src/backends/wasm/max-pool-grad.ts';
import { planSubPixelConvolution } from '../src/backends/wasm/sub-pixel-convolution.ts';
import { derivedFilterBytes, derivedFilterCount } from '../src/backends/wasm/derived-filters.ts';
import { scattersDepthwiseGradient } from '../src/backends/wasm/depthwise-conv2d-backprop-input.ts';
import { FusedAdamOptimizer } from '../src/optimizers/adam.ts';
import { convolutionChannelsFromInput } from '../src/models/channelsFromInput.ts';
import { ITEM_CHANNEL_CONV_KERNEL } from '../src/backends/wasm/item-channel-conv.ts';
import { assertClose, instructionSets, onInstructionSet, randomValues, runOn, withXnnpackConvolutions } from './helpers/kernel-comparison.ts';
import { nativeConvCallCount } from '../src/backends/wasm/native-conv.ts';

type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];



/** A [h, w, c, m] filter with dilation − 1 zeros between taps: a dilated convolution without dilation. */
function dilateFilter(filter: { values: Float32Array; shape: number[] }, dilation: number | [number, number]) {
  const [height, width, channels, multiplier] = filter.shape;
  const [dilationHeight, dilationWidth] = typeof dilation === 'number' ? [dilation, dilation] : dilation;
  const shape = [(height - 1) * dilationHeight + 1, (width - 1) * dilationWidth + 1, channels, multiplier];
  const values = new Float32Array(shape.reduce((a, b) => a * b));
  const inner = channels * multiplier;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      values.set(filter.values.subarray((y * width + x) * inner, (y * width + x + 1) * inner), (y * dilationHeight * shape[1] + x * dilationWidth) * inner);
    }
  }
  return { values, shape };
}


before(async () => {
  await initBackend('cpu');
  await initBackend('wasm');
});

test('the WASM backend has every kernel this module registers', () => {
  for (const name of wasmGradientKernelNames) assert.ok(tf.getKernel(name, 'wasm'), name);
});

/**
 * `channels` is [in, out] of the forward convolution (default [3, 5]); `subPixel` says whether the case
 * takes sub-pixel-convolution.ts (checked against its planner, so both formulations stay covered).
 */
const convCases: Array<{ inputHw: [number, number]; filterHw: [number, number]; stride: number | [number, number]; pad: Pad; channels?: [number, number]; subPixel?: boolean }> = [
  { inputHw: [9, 9], filterHw: [3, 3], stride: 1, pad: 'same' },
  // Sub-pixel: blocks of 2, 4 or 8 pixels along the width (few input channels), stride phases.
  { inputHw: [6, 8], filterHw: [3, 3], stride: 1, pad: 'same', subPixel: true },
  { inputHw: [5, 16], filterHw: [3, 3], stride: 1, pad: 'same', channels: [1, 16], subPixel: true },
  { inputHw: [6, 12], filterHw: [3, 3], stride: 1, pad: 'valid', channels: [2, 9], subPixel: true },
  { inputHw: [8, 8], filterHw: [5, 4], stride: 1, pad: [[0, 0], [2, 1], [0, 3], [0, 0]], subPixel: true },
  { inputHw: [10, 10], filterHw: [3, 3], stride: 2, pad: 'same', subPixel: true },
  { inputHw: [8, 12], filterHw: [3, 3], stride: [2, 1], pad: 'same', channels: [4, 16], subPixel: true },
  { inputHw: [8, 8], filterHw: [4, 4], stride: 2, pad: 'valid', channels: [6, 7], subPixel: true },
  // Many input channels: the dilated formulation.
  { inputHw: [8, 8], filterHw: [3, 3], stride: 1, pad: 'same', channels: [16, 8], subPixel: false },
  { inputHw: [9, 8], filterHw: [3, 3], stride: 2, pad: 'same' },
  { inputHw: [10, 10], filterHw: [3, 3], stride: 2, pad: 'same' },
  { inputHw: [9, 9], filterHw: [3, 3], stride: 1, pad: 'valid' },
  { inputHw: [11, 10], filterHw: [3, 2], stride: [2, 3], pad: 'valid' },
  { inputHw: [8, 8], filterHw: [5, 5], stride: 2, pad: 'same' },
  { inputHw: [8, 8], filterHw: [1, 1], stride: 2, pad: 'valid' },
  { inputHw: [7, 9], filterHw: [3, 3], stride: 2, pad: [[0, 0], [1, 1], [0, 2], [0, 0]] },
];

// Each case with XNNPACK's forward convolutions and, where the convolution addon runs on this machine, with
// its (the planner's choice of formulation follows each one's cost: checked for XNNPACK's).
for (const [index, c] of convCases.entries()) for (const convolutions of ['XNNPACK', 'addon'] as const) {
  test(`Conv2DBackpropInput on WASM (${convolutions} convolutions) equals CPU: input ${c.inputHw}, filter ${c.filterHw}, stride ${c.stride}, pad ${JSON.stringify(c.pad)}, channels ${c.channels ?? [3, 5]}`, { skip: convolutions === 'addon' && (nativeConvUnavailableReason() ?? false) }, () => (convolutions === 'XNNPACK' ? withXnnpackConvolutions : (f: () => Promise<void>) => f())(async () => {
    const [inChannels, outChannels] = c.channels ?? [3, 5];
    const batch = 2;
    const inputShape = [batch, ...c.inputHw, inChannels];
    const filterShape = [...c.filterHw, inChannels, outChannels];
    const convInfo = tf.backend_util.computeConv2DInfo(inputShape as [number, number, number, number], filterShape as [number, number, number, number], c.stride, 1, c.pad);
    if (c.subPixel != null && convolutions === 'XNNPACK') assert.equal(planSubPixelConvolution(convInfo) != null, c.subPixel, 'formulation chosen');
    const dyShape = convInfo.outShape;
    const inputs = {
      dy: { values: randomValues(dyShape.reduce((a, b) => a * b), 11 + index), shape: dyShape },
      filter: { values: randomValues(filterShape.reduce((a, b) => a * b), 101 + index), shape: filterShape },
    };
    const attrs = { inputShape, strides: c.stride, pad: c.pad, dataFormat: 'NHWC' };
    const expected = await runOn('cpu', tf.Conv2DBackpropInput, inputs, attrs);
    const actual = await runOn('wasm', tf.Conv2DBackpropInput, inputs, attrs);
    assert.deepEqual(actual.shape, inputShape);
    assertClose(actual.values, expected.values, 'dx');
  }));
}

/**
 * `channels` defaults to 4; `scatter`: whether the case takes the strided scatter kernel
 * (depthwise-scatter.wat; checked against scattersDepthwiseGradient, so both formulations stay covered).
 */
const depthwiseCases: Array<{ inputHw: [number, number]; filterHw: [number, number]; stride: number | [number, number]; dilation: number; multiplier: number; pad: Pad; channels?: number; scatter: boolean }> = [
  { inputHw: [9, 9], filterHw: [3, 3], stride: 1, dilation: 1, multiplier: 1, pad: 'same', scatter: false },
  { inputHw: [10, 9], filterHw: [3, 3], stride: 2, dilation: 1, multiplier: 1, pad: 'same', scatter: true },
  { inputHw: [9, 9], filterHw: [3, 3], stride: 2, dilation: 1, multiplier: 2, pad: 'valid', scatter: false },
  { inputHw: [9, 10], filterHw: [3, 3], stride: 1, dilation: 2, multiplier: 1, pad: 'same', scatter: false },
  { inputHw: [8, 8], filterHw: [5, 3], stride: 1, dilation: 1, multiplier: 3, pad: 'valid', scatter: false },
  { inputHw: [7, 8], filterHw: [3, 3], stride: 2, dilation: 1, multiplier: 1, pad: [[0, 0], [0, 1], [1, 1], [0, 0]], scatter: true },
  // Channels in blocks of 16, 4 and 1 (21 = 16 + 4 + 1); unequal strides; a 5×5 filter at stride 3.
  { inputHw: [11, 12], filterHw: [3, 3], stride: [2, 1], dilation: 1, multiplier: 1, pad: 'same', channels: 21, scatter: true },
  { inputHw: [13, 13], filterHw: [5, 5], stride: 3, dilation: 1, multiplier: 1, pad: 'valid', channels: 6, scatter: true },
];

for (const [index, c] of depthwiseCases.entries()) {
  test(`DepthwiseConv2dNativeBackpropInput on WASM equals CPU: input ${c.inputHw}, filter ${c.filterHw}, stride ${c.stride}, dilation ${c.dilation}, multiplier ${c.multiplier}, pad ${JSON.stringify(c.pad)}`, async () => {
    const [channels, batch] = [c.channels ?? 4, 2];
    const inputShape = [batch, ...c.inputHw, channels] as [number, number, number, number];
    const filterShape = [...c.filterHw, channels, c.multiplier] as [number, number, number, number];
    const convInfo = tf.backend_util.computeConv2DInfo(inputShape, filterShape, c.stride, c.dilation, c.pad, undefined, true);
    assert.equal(scattersDepthwiseGradient(convInfo), c.scatter, 'the case does not take the formulation it names');
    const dyShape = convInfo.outShape;
    const inputs = {
      dy: { values: randomValues(dyShape.reduce((a, b) => a * b), 21 + index), shape: dyShape },
      filter: { values: randomValues(filterShape.reduce((a, b) => a * b), 201 + index), shape: filterShape },
    };
    const attrs = { inputShape, strides: c.stride, dilations: c.dilation, pad: c.pad };
    // tfjs's CPU kernel ignores dilations (tfjs never asks for dilated depthwise gradients), so the
    // reference uses the equivalent undilated filter with zeros between the taps.
    const reference = c.dilation === 1 ? inputs : { dy: inputs.dy, filter: dilateFilter(inputs.filter, c.dilation) };
    const expected = await runOn('cpu', tf.DepthwiseConv2dNativeBackpropInput, reference, { ...attrs, dilations: 1 });
    const tensorsBefore = tf.memory().numTensors;
    const actual = await runOn('wasm', tf.DepthwiseConv2dNativeBackpropInput, inputs, attrs);
    assert.equal(tf.memory().numTensors, tensorsBefore, 'the kernel left tensors behind');
    assert.deepEqual(actual.shape, inputShape);
    assertClose(actual.values, expected.values, 'dx');
  });
}

const maxPoolCases: Array<{ inputHw: [number, number]; filter: number; stride: number; pad: 'same' | 'valid'; ties: boolean; channels?: number; nonFinite?: boolean }> = [
  { inputHw: [8, 8], filter: 2, stride: 2, pad: 'valid', ties: false },
  { inputHw: [9, 7], filter: 2, stride: 2, pad: 'valid', ties: false },
  { inputHw: [9, 9], filter: 2, stride: 2, pad: 'same', ties: false },
  { inputHw: [9, 9], filter: 3, stride: 2, pad: 'same', ties: false },
  { inputHw: [8, 8], filter: 3, stride: 1, pad: 'same', ties: false },
  // Values on a coarse grid, so windows hold equal maxima: the gradient goes to the first of them.
  { inputHw: [8, 8], filter: 2, stride: 2, pad: 'valid', ties: true },
  { inputHw: [9, 9], filter: 3, stride: 2, pad: 'same', ties: true },
  // A channel count divisible by 4 takes the WebAssembly SIMD kernel (max-pool-grad-2x2.wat).
  { inputHw: [8, 8], filter: 2, stride: 2, pad: 'valid', ties: false, channels: 8 },
  { inputHw: [9, 7], filter: 2, stride: 2, pad: 'valid', ties: true, channels: 12 },
  // NaN never wins and a window of only NaN/−∞ gets no gradient, as in the CPU kernel.
  { inputHw: [6, 6], filter: 2, stride: 2, pad: 'valid', ties: true, channels: 4, nonFinite: true },
  { inputHw: [6, 6], filter: 2, stride: 2, pad: 'valid', ties: true, channels: 3, nonFinite: true },
];

/** Every third value NaN and every fifth −∞, so that some windows hold only those. */
function withNonFinite(values: Float32Array): Float32Array {
  return values.map((v, i) => (i % 3 === 0 ? NaN : i % 5 === 0 ? -Infinity : v));
}

// A channel count divisible by 4 runs the SIMD kernel in tfjs-backend-wasm's heap ('auto'); the same
// cases also check the SIMD kernel on copies and the JavaScript loops, which run where that cannot.
const maxPoolPaths = (channels: number): MaxPoolGradPath[] => (channels % 4 === 0 ? ['auto', 'simdInPlace', 'simdOnCopies', 'javascript'] : ['auto']);

for (const [index, c] of maxPoolCases.entries()) for (const path of maxPoolPaths(c.channels ?? 3)) {
  test(`MaxPoolGrad on WASM (${path}) equals CPU: input ${c.inputHw}, ${c.channels ?? 3} channels, filter ${c.filter}, stride ${c.stride}, pad ${c.pad}${c.ties ? ', with ties' : ''}${c.nonFinite ? ', NaN and −∞' : ''}`, async () => {
    const [channels, batch] = [c.channels ?? 3, 2];
    const inputShape = [batch, ...c.inputHw, channels];
    const raw = randomValues(inputShape.reduce((a, b) => a * b), 31 + index);
    const rounded = c.ties ? raw.map((v) => Math.round(v * 2) / 2) : raw;
    const input = { values: c.nonFinite ? withNonFinite(rounded) : rounded, shape: inputShape };
    await tf.setBackend('cpu');
    const output = tf.tidy(() => {
      const pooled = tf.maxPool(tf.tensor4d(input.values, inputShape as [number, number, number, number]), c.filter, c.stride, c.pad);
      return { values: pooled.dataSync() as Float32Array, shape: pooled.shape as number[] };
    });
    const inputs = { dy: { values: randomValues(output.values.length, 41 + index), shape: output.shape }, input, output };
    const attrs = { filterSize: c.filter, strides: c.stride, pad: c.pad };
    const expected = await runOn('cpu', tf.MaxPoolGrad, inputs, attrs);
    const restorePath = useMaxPoolGradPath(path);
    const actual = await runOn('wasm', tf.MaxPoolGrad, inputs, attrs).finally(restorePath);
    assert.deepEqual(actual.shape, inputShape);
    assertClose(actual.values, expected.values, 'dx');
  });
}

const tileCases: Array<{ shape: number[]; reps: number[]; dtype: 'float32' | 'int32' | 'bool' }> = [
  { shape: [4, 1, 1, 1], reps: [1, 3, 5, 7], dtype: 'bool' },
  { shape: [2, 3], reps: [3, 2], dtype: 'float32' },
  { shape: [2, 1, 3], reps: [2, 4, 1], dtype: 'int32' },
  { shape: [5], reps: [3], dtype: 'float32' },
  { shape: [2, 2, 1, 2, 3], reps: [1, 2, 3, 1, 2], dtype: 'float32' },
  { shape: [3, 2], reps: [1, 1], dtype: 'float32' },
  { shape: [1, 1, 1, 1], reps: [2, 3, 4, 5], dtype: 'float32' },
  { shape: [2, 3, 1], reps: [3, 1, 4], dtype: 'int32' },
  { shape: [2, 1, 1, 4], reps: [1, 3, 2, 1], dtype: 'float32' },
];

for (const [index, c] of tileCases.entries()) {
  test(`Tile on WASM equals CPU: ${c.dtype} ${c.shape} × ${c.reps}`, async () => {
    const size = c.shape.reduce((a, b) => a * b, 1);
    const raw = randomValues(size, 51 + index);
    const values = c.dtype === 'float32' ? raw : Array.from(raw, (v) => (c.dtype === 'bool' ? (v > 0 ? 1 : 0) : Math.round(v * 100)));
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      return tf.tidy(() => {
        const out = tf.engine().runKernel(tf.Tile, { x: tf.tensor(values, c.shape, c.dtype) }, { reps: c.reps }) as tf.Tensor;
        return { values: Array.from(out.dataSync()), shape: out.shape, dtype: out.dtype };
      });
    };
    const expected = await run('cpu');
    const actual = await run('wasm');
    assert.deepEqual(actual, expected);
  });
}

const sliceCases: Array<{ shape: number[]; begin: number[]; size: number[]; dtype: 'float32' | 'int32' | 'bool' }> = [
  { shape: [4, 8, 8, 3], begin: [0, 0, 1, 0], size: [-1, 7, 7, -1], dtype: 'float32' }, // total variation's
  { shape: [4, 8, 8, 3], begin: [0, 1, 0, 0], size: [-1, 7, 7, -1], dtype: 'float32' },
  { shape: [2, 6, 6, 16], begin: [0, 0, 0, 5], size: [-1, -1, -1, 1], dtype: 'float32' }, // one channel: runs of 1
  { shape: [3, 10, 10, 4], begin: [1, 2, 3, 0], size: [2, 5, 6, 4], dtype: 'int32' },
  { shape: [5, 7], begin: [1, 2], size: [3, 4], dtype: 'bool' },
  { shape: [4, 5, 6], begin: [1, 0, 2], size: [2, 5, 3], dtype: 'float32' },
  { shape: [2, 3, 4, 5, 6], begin: [0, 1, 0, 2, 0], size: [2, 2, 4, 3, 6], dtype: 'float32' },
  { shape: [4, 8, 8, 3], begin: [1, 0, 0, 0], size: [2, -1, -1, -1], dtype: 'float32' }, // contiguous: one copy
  { shape: [4, 8, 8, 3], begin: [2, 3, 0, 0], size: [1, 2, -1, -1], dtype: 'int32' },
  { shape: [4, 8, 8, 3], begin: [0, 0, 0, 0], size: [4, 0, 8, 3], dtype: 'float32' }, // empty
];

for (const [index, c] of sliceCases.entries()) {
  test(`Slice on WASM equals CPU: ${c.dtype} ${c.shape} from ${c.begin} size ${c.size}`, async () => {
    const count = c.shape.reduce((a, b) => a * b, 1);
    const raw = randomValues(count, 131 + index);
    const values = c.dtype === 'float32' ? raw : Array.from(raw, (v) => (c.dtype === 'bool' ? (v > 0 ? 1 : 0) : Math.round(v * 1000)));
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      return tf.tidy(() => {
        const out = tf.slice(tf.tensor(values, c.shape, c.dtype), c.begin, c.size);
        return { values: Array.from(out.dataSync()), shape: out.shape, dtype: out.dtype };
      });
    };
    const expected = await run('cpu');
    assert.deepEqual(await run('wasm'), expected);
  });
}

test('Identity on WASM shares memory by reference: a clone outlives its source, and both free it', async () => {
  await tf.setBackend('wasm');
  const bytesBefore = tf.memory().numBytes;
  for (const dtype of ['float32', 'int32', 'bool'] as const) {
    const source = tf.tensor([1, 0, 3, 4], [2, 2], dtype);
    const clone = tf.clone(source);
    assert.equal(clone.dataId, source.dataId, `${dtype}: the clone should share the source's memory`);
    source.dispose();
    assert.deepEqual(Array.from(clone.dataSync()), dtype === 'bool' ? [1, 0, 1, 1] : [1, 0, 3, 4], `${dtype}: the clone lost its values`);
    clone.dispose();
  }
  assert.equal(tf.memory().numBytes, bytesBefore, 'memory not freed');
  // A gradient records clones of the tensors kernels save: the result is unchanged.
  const x = tf.tensor4d(randomValues(2 * 6 * 6 * 4, 61), [2, 6, 6, 4]);
  const filter = tf.tensor4d(randomValues(3 * 3 * 4 * 8, 62), [3, 3, 4, 8]);
  const gradient = (backend: string) => { tf.setBackend(backend); return tf.tidy(() => tf.grad((input: tf.Tensor) => tf.mean(tf.relu(tf.conv2d(input as tf.Tensor4D, filter, 1, 'same'))))(x).dataSync() as Float32Array); };
  const onWasm = gradient('wasm');
  await tf.setBackend('cpu');
  assertClose(onWasm, gradient('cpu'), 'dx');
  x.dispose();
  filter.dispose();
});

test('the ReLU gradient on WASM is one FeaturevisReluGrad kernel and equals tfjs\'s dy · step(x) bit for bit (NaN, ±∞, ±0, a tail of 1–3 values)', async () => {
  const special = [NaN, Infinity, -Infinity, 0, -0, 1e-30, -1e-30];
  for (const size of [4, 7, 64 * 9 + 3]) {
    const x = randomValues(size, 71 + size).map((v, i) => (i < special.length ? special[i] : v));
    const dy = randomValues(size, 83 + size).map((v, i) => (i >= special.length && i < 2 * special.length ? special[i - special.length] : v));
    const gradientOn = async (backend: string) => {
      await tf.setBackend(backend);
      return tf.tidy(() => {
        const input = tf.tensor1d(x);
        const upstream = tf.tensor1d(dy);
        // tfjs's own formula, the reference: mul(dy, cast(step(x), 'float32')).
        const reference = tf.mul(upstream, tf.cast(tf.step(input), 'float32')).dataSync() as Float32Array;
        const viaGradient = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.relu(v), upstream)))(input).dataSync() as Float32Array;
        return { reference: Array.from(reference), viaGradient: Array.from(viaGradient) };
      });
    };
    const cpu = await gradientOn('cpu');
    const wasm = await gradientOn('wasm');
    // Object.is distinguishes −0 from 0 and treats NaN as equal to NaN.
    const same = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
    assert.ok(same(wasm.viaGradient, cpu.reference), `size ${size}: the WASM gradient differs from tfjs's formula`);
    assert.ok(same(cpu.viaGradient, cpu.reference), `size ${size}: the CPU gradient differs from tfjs's formula`);
  }
  await tf.setBackend('wasm');
  const profile = await tf.profile(() => tf.tidy(() => { tf.grad((v: tf.Tensor) => tf.sum(tf.relu(v)))(tf.tensor1d([1, -1, 2, -2, 3])).dataSync(); }));
  const kernels = profile.kernels.map((k) => k.name);
  assert.ok(kernels.includes('FeaturevisReluGrad'), `kernels: ${kernels.join(' ')}`);
  assert.ok(!kernels.includes('Cast') && !kernels.includes('Step'), `kernels: ${kernels.join(' ')}`);
});

// Object.is distinguishes −0 from 0 and treats NaN as equal to NaN.
const sameBits = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((v, i) => Object.is(v, b[i]));

/**
 * Channel objectives from a convolution's input (models/channelsFromInput.ts): on WASM the
 * FeaturevisItemChannelConv kernels (item-channel-conv.wat, and the convolution addon's on each
 * instruction set the CPU has), on CPU the depthwise formulation; both
 * against a per-item tf.conv2d on CPU, values and input gradients. Cases cover a channel count with a
 * tail of 1–3 (C mod 4), strides, a width dilation (one run per tap), 1×1 and non-square kernels,
 * and borders (same and valid padding).
 */
const itemChannelCases: Array<{ inputHw: [number, number]; kernelHw: [number, number]; channels: number; strides: [number, number]; dilations: [number, number]; padding: 'same' | 'valid' }> = [
  { inputHw: [8, 8], kernelHw: [3, 3], channels: 32, strides: [1, 1], dilations: [1, 1], padding: 'same' },
  { inputHw: [9, 7], kernelHw: [3, 3], channels: 3, strides: [2, 2], dilations: [1, 1], padding: 'same' },
  { inputHw: [10, 10], kernelHw: [3, 3], channels: 6, strides: [1, 1], dilations: [2, 2], padding: 'valid' },
  { inputHw: [11, 10], kernelHw: [3, 2], channels: 9, strides: [1, 1], dilations: [1, 3], padding: 'same' },
  { inputHw: [6, 9], kernelHw: [1, 1], channels: 20, strides: [1, 1], dilations: [1, 1], padding: 'valid' },
  { inputHw: [7, 7], kernelHw: [5, 3], channels: 17, strides: [1, 2], dilations: [1, 1], padding: 'same' },
];

for (const [index, c] of itemChannelCases.entries()) for (const kernels of ['WebAssembly', ...instructionSets] as const) {
  const withKernels = kernels === 'WebAssembly' ? withXnnpackConvolutions : <T>(body: () => Promise<T>) => onInstructionSet(kernels, body);
  test(`channel objectives from a conv's input on WASM (${kernels} item-channel kernels) and CPU equal a per-item conv2d: input ${c.inputHw}×${c.channels}, kernel ${c.kernelHw}, strides ${c.strides}, dilations ${c.dilations}, ${c.padding}`, () => withKernels(async () => {
    const items = 3;
    const outChannels = 5;
    const perItem = [4, 0, 2];
    const inputShape: [number, number, number, number] = [items, ...c.inputHw, c.channels];
    const kernelShape: [number, number, number, number] = [...c.kernelHw, c.channels, outChannels];
    const xValues = randomValues(inputShape.reduce((a, b) => a * b), 401 + index);
    const kernelValues = randomValues(kernelShape.reduce((a, b) => a * b), 411 + index);
    const biasValues = randomValues(outChannels, 421 + index);
    const run = async (backend: string, how: 'objective' | 'reference', only?: number) => {
      await tf.setBackend(backend);
      return tf.tidy(() => {
        const kernel = tf.tensor4d(kernelValues, kernelShape);
        const bias = tf.tensor1d(biasValues);
        const chosen = only == null ? perItem : [perItem[only]!];
        const allX = tf.tensor4d(xValues, inputShape);
        const x = only == null ? allX : tf.slice(allX, [only, 0, 0, 0], [1, -1, -1, -1]);
        // tfjs's conv2d has no gradient with dilations: the reference convolves with the zero-dilated kernel.
        const dilated = dilateFilter({ values: kernelValues, shape: kernelShape }, c.dilations);
        const referenceKernel = tf.tensor4d(dilated.values, dilated.shape as [number, number, number, number]);
        const compute = how === 'reference'
          ? (input: tf.Tensor4D) => tf.concat(chosen.map((channel, i) => tf.add(
            tf.conv2d(tf.slice(input, [i, 0, 0, 0], [1, -1, -1, -1]), tf.slice(referenceKernel, [0, 0, 0, channel], [-1, -1, -1, 1]) as tf.Tensor4D, c.strides, c.padding),
            biasValues[channel]!)))
          : (() => {
            const fromInput = convolutionChannelsFromInput({ inputLayer: 'input', kernel, bias, activation: 'linear', padding: c.padding, strides: c.strides, dilations: c.dilations })!;
            const weights = fromInput.weightsFor(chosen);
            return (input: tf.Tensor4D) => fromInput.compute(input, weights);
          })();
        const values = compute(x);
        // The same upstream gradient per item whether the item runs alone or with the others.
        const perItemSize = values.size / chosen.length;
        const upstreamValues = randomValues(items * perItemSize, 431 + index).subarray((only ?? 0) * perItemSize);
        const upstream = tf.tensor(upstreamValues.subarray(0, values.size), values.shape);
        const gradient = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(compute(input as tf.Tensor4D), upstream)))(x);
        return { shape: values.shape, values: values.dataSync() as Float32Array, gradient: gradient.dataSync() as Float32Array };
      });
    };
    const reference = await run('cpu', 'reference');
    const cpu = await run('cpu', 'objective');
    const tensorsBefore = tf.memory().numTensors;
    await tf.setBackend('wasm');
    const addonCallsBefore = nativeConvCallCount();
    const profile = await tf.profile(async () => { await run('wasm', 'objective'); });
    assert.ok(profile.kernels.some((k) => k.name === ITEM_CHANNEL_CONV_KERNEL), 'the WASM path did not run its kernel');
    // The addon's kernels run exactly where it is registered: the values, the forward inside tf.grad and the input gradient.
    assert.equal(nativeConvCallCount() - addonCallsBefore, kernels === 'WebAssembly' ? 0 : 3, 'calls to the addon');
    const wasm = await run('wasm', 'objective');
    assert.equal(tf.memory().numTensors, tensorsBefore, 'tensors left behind');
    for (const [label, actual] of [['cpu', cpu], ['wasm', wasm]] as const) {
      assert.deepEqual(actual.shape, reference.shape, label);
      assertClose(actual.values, reference.values, `${label} values`);
      assertClose(actual.gradient, reference.gradient, `${label} input gradient`);
    }
    // An item's values and gradient do not depend on the items beside it, bit for bit (grouped runs
    // keep a one-unit run's images).
    const alone = await run('wasm', 'objective', 1);
    const itemSlice = (values: Float32Array) => values.subarray(values.length / items, 2 * values.length / items);
    assert.ok(sameBits(alone.values, itemSlice(wasm.values)), 'item 1 alone: other values');
    assert.ok(sameBits(alone.gradient, itemSlice(wasm.gradient)), 'item 1 alone: another gradient');
  }));
}

const reductionCases: Array<{ shape: number[]; axis: number | number[]; keepDims: boolean }> = [
  { shape: [4, 5, 6, 7], axis: [1, 2], keepDims: false },
  { shape: [4, 5, 6, 7], axis: [1, 2], keepDims: true },
  { shape: [3, 8], axis: -1, keepDims: false },
  { shape: [2, 3, 4], axis: [0, 2], keepDims: false },
  { shape: [6, 7], axis: [0, 1], keepDims: false },
];

for (const [index, c] of reductionCases.entries()) {
  test(`the Mean and Sum gradients broadcast dy with Tile and equal tfjs's dy · ones / n bit for bit: ${c.shape} over ${c.axis}${c.keepDims ? ', keepDims' : ''}`, async () => {
    const size = c.shape.reduce((a, b) => a * b, 1);
    const x = randomValues(size, 91 + index);
    const upstreamShape = tf.tidy(() => tf.sum(tf.zeros(c.shape), c.axis, c.keepDims).shape);
    const dy = randomValues(upstreamShape.reduce((a, b) => a * b, 1), 97 + index).map((v) => v * 3.7);
    const gradients = async (backend: string) => {
      await tf.setBackend(backend);
      return tf.tidy(() => {
        const input = tf.tensor(x, c.shape);
        const upstream = tf.tensor(dy, upstreamShape);
        const axes = tf.util.parseAxisParam(c.axis, c.shape);
        const expandedShape = c.shape.map((s, i) => (axes.includes(i) ? 1 : s));
        const count = axes.reduce((product, i) => product * c.shape[i], 1);
        // tfjs's own formulas (gradients/Mean_grad.ts, Sum_grad.ts), the references.
        const ones = tf.ones(c.shape, 'float32');
        const meanReference = tf.div(tf.mul(tf.reshape(upstream, expandedShape), ones), count);
        const sumReference = tf.mul(tf.reshape(upstream, expandedShape), ones);
        const mean = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.mean(v, c.axis, c.keepDims), upstream)))(input);
        const sum = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.sum(v, c.axis, c.keepDims), upstream)))(input);
        return [mean, meanReference, sum, sumReference].map((t) => Array.from(t.dataSync()));
      });
    };
    const [mean, meanReference, sum, sumReference] = await gradients('wasm');
    const cpu = await gradients('cpu');
    assert.deepEqual(mean, meanReference, 'Mean on WASM');
    assert.deepEqual(sum, sumReference, 'Sum on WASM');
    assert.deepEqual(mean, cpu[1], 'Mean: WASM against the CPU backend');
    assert.deepEqual(cpu[0], cpu[1], 'Mean on the CPU backend');
  });
}

test('the Mean gradient on WASM runs no Multiply and no Fill', async () => {
  await tf.setBackend('wasm');
  const x = tf.tensor4d(randomValues(2 * 4 * 4 * 8, 99), [2, 4, 4, 8]);
  const profile = await tf.profile(() => tf.tidy(() => { tf.grad((v: tf.Tensor) => tf.mean(v, [1, 2]))(x).dataSync(); }));
  const kernels = profile.kernels.map((k) => k.name);
  x.dispose();
  assert.ok(kernels.includes('Tile'), `kernels: ${kernels.join(' ')}`);
  assert.ok(!kernels.includes('Multiply') && !kernels.includes('Fill'), `kernels: ${kernels.join(' ')}`);
});

test('input-gradient kernels keep one derived filter per weight and variant, freed with the weight', () => withXnnpackConvolutions(async () => {
  await tf.setBackend('wasm');
  const backend = tf.backend() as tf.KernelBackend & { numDataIds(): number };
  const countBefore = derivedFilterCount(backend);
  const bytesBefore = derivedFilterBytes(backend);
  const dataIdsBefore = backend.numDataIds();
  const tensorsBefore = tf.memory().numTensors;
  const filter = tf.tensor4d(randomValues(3 * 3 * 3 * 16, 111), [3, 3, 3, 16]);
  const depthwiseFilter = tf.tensor4d(randomValues(3 * 3 * 16 * 1, 112), [3, 3, 16, 1]);
  const dy = tf.tensor4d(randomValues(2 * 8 * 8 * 16, 113), [2, 8, 8, 16]);
  const gradients = () => tf.tidy(() => [
    // Few input channels: the sub-pixel filter; stride 2 with an odd input: the flipped one.
    tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter }, { inputShape: [2, 8, 8, 3], strides: 1, pad: 'same', dataFormat: 'NHWC' }),
    tf.engine().runKernel(tf.Conv2DBackpropInput, { dy: tf.slice(dy, [0, 0, 0, 0], [2, 4, 4, 16]), filter }, { inputShape: [2, 7, 7, 3], strides: 2, pad: 'same', dataFormat: 'NHWC' }),
    tf.engine().runKernel(tf.DepthwiseConv2dNativeBackpropInput, { dy, filter: depthwiseFilter }, { inputShape: [2, 8, 8, 16], strides: 1, pad: 'same', dilations: 1 }),
  ].map((t) => Array.from((t as tf.Tensor).dataSync())));
  const first = gradients();
  assert.equal(derivedFilterCount(backend) - countBefore, 3, 'one derived filter per weight and variant');
  // The flipped 3×3×16×3 filter and the flipped depthwise one as they are; the sub-pixel filter of the
  // stride-1 case is a filter of its own shape: at least the original's 432 values.
  const derivedBytes = derivedFilterBytes(backend) - bytesBefore;
  assert.ok(derivedBytes >= 4 * (432 + 432 + 144), `${derivedBytes} bytes of derived filters`);
  assert.deepEqual(gradients(), first, 'the kept filters give the same results');
  assert.equal(derivedFilterCount(backend) - countBefore, 3, 'the second step derives nothing new');
  tf.dispose([filter, depthwiseFilter, dy]);
  assert.equal(derivedFilterCount(backend), countBefore, 'derived filters outlived their weights');
  assert.equal(derivedFilterBytes(backend), bytesBefore);
  assert.equal(backend.numDataIds(), dataIdsBefore, 'backend memory not freed');
  assert.equal(tf.memory().numTensors, tensorsBefore);
}));

test('the engine\'s Adam runs one FeaturevisAdam kernel a variable on WASM and equals tf.train.adam bit for bit, step after step', async () => {
  const sizes = [[4, 5, 5, 3], [7], [2, 3]]; // 300, 7 and 6 values: SIMD body and scalar tails
  const trajectory = async (backend: string, make: () => tf.Optimizer) => {
    await tf.setBackend(backend);
    const variables = sizes.map((shape, i) => tf.variable(tf.tensor(randomValues(shape.reduce((a, b) => a * b), 121 + i), shape), true, `adam-test-${backend}-${i}-${Math.random()}`));
    const optimizer = make();
    const states: number[][] = [];
    for (let step = 0; step < 5; step++) {
      // A gradient that changes sign and scale between steps, and one exact zero.
      const gradients = Object.fromEntries(variables.map((v, i) => [v.name, tf.tidy(() => tf.mul(tf.sin(tf.add(v, step + i)), 10 ** (step - 2)))]));
      optimizer.applyGradients(gradients);
      tf.dispose(Object.values(gradients));
      states.push(...variables.map((v) => Array.from(v.dataSync())));
    }
    optimizer.dispose();
    variables.forEach((v) => v.dispose());
    return states;
  };
  const reference = await trajectory('wasm', () => tf.train.adam(0.05));
  const fused = await trajectory('wasm', () => new FusedAdamOptimizer(0.05));
  const same = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
  fused.forEach((state, i) => assert.ok(same(state, reference[i]), `state ${i} differs from tf.train.adam`));
  const onCpu = await trajectory('cpu', () => new FusedAdamOptimizer(0.05));
  onCpu.forEach((state, i) => assertClose(Float32Array.from(state), Float32Array.from(reference[i]), `CPU state ${i}`));

  await tf.setBackend('wasm');
  const x = tf.variable(tf.ones([8]), true, `adam-profile-${Math.random()}`);
  const optimizer = new FusedAdamOptimizer(0.1);
  const profile = await tf.profile(() => { const g = tf.onesLike(x); optimizer.applyGradients({ [x.name]: g }); g.dispose(); });
  const kernels = profile.kernels.map((k) => k.name);
  assert.ok(kernels.includes('FeaturevisAdam') && !kernels.includes('Sqrt'), `kernels: ${kernels.join(' ')}`);
  optimizer.dispose();
  x.dispose();
});
