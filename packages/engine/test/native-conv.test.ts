/**
 * The addon's convolutions (packages/native-conv, AVX-512 and AVX2, registered by native-conv.ts) against tfjs's pure-JS
 * CPU kernels: Conv2D and FusedConv2D over strides, dilations, paddings, channel counts that take
 * each of the addon's two loop orders with their vector tails, activations, and a split over threads;
 * the fallbacks to XNNPACK; and that the addon is built and used wherever the CPU has AVX-512 or AVX2 (so a
 * machine where `npm ci` silently failed to build it fails here instead of running slower).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { loadNativeConv, NATIVE_CONV_LOOP_ORDERS } from '@featurevis/native-conv';
import { initBackend, nativeConvActive, nativeConvUnavailableReason, registerNativeConvKernels } from '@featurevis/engine/backends';
import { nativeConvCallCount, nativeConvLoopOrderCounts, nativeConvSplitCount, setNativeConvState } from '../src/backends/wasm/native-conv.ts';
import { assertClose, instructionSets, onInstructionSet, randomValues, runOn, withXnnpackConvolutions } from './helpers/kernel-comparison.ts';
import { shapesA, skipWithoutShapesA } from './helpers/shapes-a.ts';
import { visualize } from '../src/index.ts';

type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];

before(async () => {
  await initBackend('cpu');
  await initBackend('wasm', { wasmThreads: 1 });
});

after(() => setNativeConvState({ active: nativeConvActive(), threads: 1 }));

test('the addon is built and runs the WASM backend\'s convolutions on a CPU with AVX-512 or AVX2 (the best it has; else says why not)', () => {
  if (instructionSets.length > 0) {
    assert.equal(nativeConvUnavailableReason(), null);
    assert.ok(nativeConvActive());
    assert.equal(loadNativeConv().addon!.isa(), instructionSets[0]);
  } else {
    assert.match(nativeConvUnavailableReason() ?? '', /AVX|not built|x86-64/);
    assert.ok(!nativeConvActive());
  }
});

/** `channels` [in, out]; `threads` the addon may split over (it splits from 8 M multiply-adds a thread). */
const cases: Array<{ batch: number; inputHw: [number, number]; filterHw: [number, number]; channels: [number, number]; stride: number | [number, number]; dilation?: number | [number, number]; pad: Pad; threads?: number }> = [
  // Over output channels: 16 a vector, one and two vectors, tails; 8 output pixels a block with a tail.
  { batch: 2, inputHw: [9, 11], filterHw: [3, 3], channels: [3, 16], stride: 1, pad: 'same' },
  { batch: 2, inputHw: [8, 8], filterHw: [3, 3], channels: [16, 32], stride: 1, pad: 'same' },
  { batch: 1, inputHw: [7, 13], filterHw: [3, 2], channels: [5, 37], stride: 2, pad: 'same' },
  { batch: 3, inputHw: [8, 8], filterHw: [1, 1], channels: [40, 24], stride: 1, pad: 'valid' },
  { batch: 2, inputHw: [10, 9], filterHw: [3, 3], channels: [6, 9], stride: [2, 1], pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { batch: 2, inputHw: [11, 11], filterHw: [3, 3], channels: [4, 20], stride: 1, dilation: [2, 1], pad: 'valid' },
  // Fewer input channels than a vector (read from zero-padded copies of the input rows) with a width dilation.
  { batch: 2, inputHw: [9, 12], filterHw: [3, 3], channels: [3, 16], stride: 1, dilation: [1, 2], pad: 'same' },
  // Over input channels (at most 8 outputs from 16 or more inputs): every output count 1–8, input tails.
  { batch: 2, inputHw: [9, 9], filterHw: [3, 3], channels: [16, 3], stride: 1, pad: 'same' },
  { batch: 3, inputHw: [11, 7], filterHw: [3, 3], channels: [33, 1], stride: 1, pad: 'same' },
  { batch: 1, inputHw: [5, 5], filterHw: [3, 3], channels: [17, 2], stride: 1, pad: 'valid' },
  { batch: 3, inputHw: [11, 7], filterHw: [5, 5], channels: [16, 5], stride: 2, pad: 'same' },
  { batch: 2, inputHw: [6, 10], filterHw: [2, 2], channels: [48, 8], stride: 2, pad: 'valid' },
  { batch: 2, inputHw: [9, 9], filterHw: [3, 3], channels: [20, 7], stride: 1, dilation: 2, pad: 'valid' },
  { batch: 2, inputHw: [6, 6], filterHw: [3, 3], channels: [32, 4], stride: 1, pad: 'same' },
  { batch: 2, inputHw: [6, 6], filterHw: [3, 3], channels: [16, 6], stride: 1, pad: [[0, 0], [2, 0], [1, 1], [0, 0]] },
  { batch: 2, inputHw: [10, 9], filterHw: [3, 3], channels: [16, 3], stride: 1, dilation: 2, pad: 'same' },
  // Over output pixels (width stride 1, at most a vector of outputs, rows wide enough): up to four
  // vectors of pixels for 1–4 outputs, one vector with a transpose for more; row tails, an input-channel
  // tail in the transpose to planar rows, an odd input channel, the first layer's 3 unrolled, a width dilation.
  { batch: 2, inputHw: [5, 40], filterHw: [3, 3], channels: [3, 10], stride: 1, pad: 'same' },
  { batch: 2, inputHw: [4, 50], filterHw: [3, 3], channels: [20, 4], stride: 1, pad: 'same' },
  { batch: 2, inputHw: [6, 33], filterHw: [3, 3], channels: [17, 7], stride: 1, dilation: [1, 2], pad: 'same' },
  { batch: 3, inputHw: [6, 32], filterHw: [3, 3], channels: [1, 2], stride: 1, pad: 'same' },
  { batch: 2, inputHw: [7, 36], filterHw: [2, 3], channels: [9, 16], stride: [2, 1], pad: 'valid' },
  // Split over two threads (rows of the batch × height; each above 16 M multiply-adds, checked), every loop order.
  { batch: 5, inputHw: [23, 32], filterHw: [3, 3], channels: [16, 32], stride: 1, pad: 'same', threads: 2 },
  { batch: 20, inputHw: [31, 32], filterHw: [3, 3], channels: [32, 3], stride: 1, pad: 'same', threads: 2 },
  { batch: 40, inputHw: [32, 32], filterHw: [3, 3], channels: [3, 16], stride: 1, pad: 'same', threads: 2 },
  { batch: 14, inputHw: [40, 40], filterHw: [3, 3], channels: [64, 5], stride: 2, pad: 'same', threads: 2 },
];

/** Loop orders the cases took, per instruction set (checked after the cases: each order is exercised). */
const ordersTaken = new Map<string, Set<string>>();
function noteLoopOrders(set: string, before: ReadonlyMap<string, number>): void {
  const taken = ordersTaken.get(set) ?? new Set<string>();
  for (const [order, count] of nativeConvLoopOrderCounts()) if (count > (before.get(order) ?? 0)) taken.add(order);
  ordersTaken.set(set, taken);
}

for (const [index, c] of cases.entries()) {
  const label = `input ${c.batch}×${c.inputHw}×${c.channels[0]}, filter ${c.filterHw} → ${c.channels[1]}, stride ${c.stride}, dilation ${c.dilation ?? 1}, pad ${JSON.stringify(c.pad)}${c.threads ? `, ${c.threads} threads` : ''}`;
  const inputs = () => {
    const xShape = [c.batch, ...c.inputHw, c.channels[0]];
    const filterShape = [...c.filterHw, ...c.channels];
    return {
      x: { values: randomValues(xShape.reduce((a, b) => a * b), 7 + index), shape: xShape },
      filter: { values: randomValues(filterShape.reduce((a, b) => a * b), 70 + index), shape: filterShape },
      bias: { values: randomValues(c.channels[1], 700 + index), shape: [c.channels[1]] },
    };
  };
  const attrs = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', dilations: c.dilation ?? 1 };

  for (const set of instructionSets) test(`native Conv2D (${set}) equals CPU: ${label}`, () => onInstructionSet(set, async () => {
    setNativeConvState({ active: true, threads: c.threads ?? 1 });
    const { x, filter } = inputs();
    const expected = await runOn('cpu', tf.Conv2D, { x, filter }, attrs);
    const callsBefore = nativeConvCallCount();
    const ordersBefore = new Map(nativeConvLoopOrderCounts());
    const splitsBefore = nativeConvSplitCount();
    const actual = await runOn('wasm', tf.Conv2D, { x, filter }, attrs);
    assert.equal(nativeConvCallCount(), callsBefore + 1, 'the addon ran');
    noteLoopOrders(set, ordersBefore);
    assert.equal(nativeConvSplitCount() - splitsBefore, c.threads ? 1 : 0, 'split over threads');
    assert.deepEqual(actual.shape, expected.shape);
    assertClose(actual.values, expected.values, 'y');
  }));

  for (const activation of ['linear', 'relu', 'relu6'] as const) for (const set of instructionSets) {
    test(`native FusedConv2D (${set}; bias, ${activation}) equals CPU: ${label}`, () => onInstructionSet(set, async () => {
      setNativeConvState({ active: true, threads: c.threads ?? 1 });
      // relu6 clips at 6: scale the input so that some outputs do reach it.
      const { x, filter, bias } = inputs();
      if (activation === 'relu6') x.values = x.values.map((v) => v * 8);
      const fusedAttrs = { ...attrs, activation, dimRoundingMode: undefined, leakyreluAlpha: 0 };
      const expected = await runOn('cpu', tf.FusedConv2D, { x, filter, bias }, fusedAttrs);
      const callsBefore = nativeConvCallCount();
      const actual = await runOn('wasm', tf.FusedConv2D, { x, filter, bias }, fusedAttrs);
      assert.equal(nativeConvCallCount(), callsBefore + 1, 'the addon ran');
      assertClose(actual.values, expected.values, 'y');
    }));
  }
}

test('the cases above exercise every loop order of the addon on every instruction set', { skip: instructionSets.length === 0 && 'no AVX-512 or AVX2' }, () => {
  for (const set of instructionSets) assert.deepEqual([...(ordersTaken.get(set) ?? [])].sort(), [...NATIVE_CONV_LOOP_ORDERS].sort(), set);
});

/** Means over axes: where the addon takes them (a run of consecutive axes with at least 4 values inside it) and where tfjs-backend-wasm's kernel does. */
const meanCases: Array<{ shape: number[]; axis: number | number[]; keepDims: boolean; addon: boolean }> = [
  { shape: [4, 8, 8, 64], axis: [1, 2], keepDims: false, addon: true }, // a global average pool, four full vectors
  { shape: [3, 5, 7, 9], axis: [1, 2], keepDims: true, addon: true }, // one vector with a tail: partial sums over r mod 4
  { shape: [2, 3, 70], axis: [1], keepDims: false, addon: true }, // 70: four vectors and a tail
  { shape: [6, 10, 16], axis: 0, keepDims: false, addon: true }, // outer 1
  { shape: [5, 7, 3], axis: [2, 1], keepDims: false, addon: false }, // nothing inside: tfjs's kernel
  { shape: [4, 6, 8], axis: [0, 2], keepDims: false, addon: false }, // not consecutive
];
for (const [index, c] of meanCases.entries()) for (const set of instructionSets) {
  test(`Mean (${set}) equals CPU: ${c.shape} over ${c.axis}${c.keepDims ? ', keepDims' : ''} (${c.addon ? 'the addon' : 'tfjs-backend-wasm'})`, () => onInstructionSet(set, async () => {
    const x = { values: randomValues(c.shape.reduce((a, b) => a * b), 900 + index), shape: c.shape };
    const attrs = { axis: c.axis, keepDims: c.keepDims };
    const expected = await runOn('cpu', tf.Mean, { x }, attrs);
    const callsBefore = nativeConvCallCount();
    const actual = await runOn('wasm', tf.Mean, { x }, attrs);
    assert.equal(nativeConvCallCount() - callsBefore, c.addon ? 1 : 0, 'calls to the addon');
    assert.deepEqual(actual.shape, expected.shape);
    assertClose(actual.values, expected.values, 'mean');
  }));
}

test('FusedConv2D falls back to XNNPACK for leaky ReLU and PReLU, with the same results as CPU', { skip: instructionSets.length === 0 && 'no AVX-512 or AVX2' }, async () => {
  const x = { values: randomValues(2 * 6 * 6 * 4, 1), shape: [2, 6, 6, 4] };
  const filter = { values: randomValues(3 * 3 * 4 * 8, 2), shape: [3, 3, 4, 8] };
  const bias = { values: randomValues(8, 3), shape: [8] };
  const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1 };
  const variants: Array<[string, Record<string, { values: Float32Array; shape: number[] }>, object]> = [
    ['leakyrelu', { x, filter, bias }, { ...attrs, activation: 'leakyrelu', leakyreluAlpha: 0.3 }],
    ['prelu', { x, filter, bias, preluActivationWeights: { values: randomValues(8, 4), shape: [8] } }, { ...attrs, activation: 'prelu' }],
  ];
  for (const [name, inputs, fusedAttrs] of variants) {
    const expected = await runOn('cpu', tf.FusedConv2D, inputs, fusedAttrs);
    const callsBefore = nativeConvCallCount();
    const actual = await runOn('wasm', tf.FusedConv2D, inputs, fusedAttrs);
    assert.equal(nativeConvCallCount(), callsBefore, `${name}: the addon did not run`);
    assertClose(actual.values, expected.values, name);
  }
});

test('registerNativeConvKernels\' restore puts XNNPACK back, and registering again uses the addon again', { skip: instructionSets.length === 0 && 'no AVX-512 or AVX2' }, async () => {
  const x = { values: randomValues(2 * 5 * 5 * 16, 5), shape: [2, 5, 5, 16] };
  const filter = { values: randomValues(3 * 3 * 16 * 16, 6), shape: [3, 3, 16, 16] };
  const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1 };
  const restore = registerNativeConvKernels(1);
  restore();
  assert.ok(!nativeConvActive());
  let callsBefore = nativeConvCallCount();
  const xnnpack = await runOn('wasm', tf.Conv2D, { x, filter }, attrs);
  assert.equal(nativeConvCallCount(), callsBefore, 'XNNPACK ran');
  registerNativeConvKernels(1);
  assert.ok(nativeConvActive());
  callsBefore = nativeConvCallCount();
  const native = await runOn('wasm', tf.Conv2D, { x, filter }, attrs);
  assert.equal(nativeConvCallCount(), callsBefore + 1, 'the addon ran');
  assertClose(native.values, xnnpack.values, 'native against XNNPACK');
});

test('the addon refuses tensors outside the memory and geometries with zero sizes (convolutions and item-channel kernels)', { skip: instructionSets.length === 0 && 'no AVX-512 or AVX2' }, () => {
  const { addon } = loadNativeConv();
  assert.ok(addon);
  const memory = new Float32Array(64);
  //                            x  w  b   y  n  h  w  ci oh ow co kh kw sh sw dh dw pt pl act threads
  const params = Int32Array.of(0, 16, -1, 32, 1, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1);
  assert.doesNotThrow(() => addon.conv2d(memory, params));
  assert.throws(() => addon.conv2d(memory, Int32Array.from(params, (v, i) => (i === 3 ? 60 : v))), /outside the memory/);
  assert.throws(() => addon.conv2d(memory, Int32Array.from(params, (v, i) => (i === 4 ? 0 : v))), /geometry/);
  assert.throws(() => addon.conv2d(memory, params.subarray(0, 10)), /params/);
  assert.throws(() => addon.conv2d(new Float64Array(8) as unknown as Float32Array, params), /Float32Array/);
  // The item-channel kernels: one output channel an item, each tensor (and the forward's n biases) inside the memory.
  //                                x  f   b   y  n  h  w  ci oh ow co kh kw sh sw dh dw pt pl act threads
  const itemParams = Int32Array.of(0, 16, 24, 32, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1);
  for (const run of [addon.itemChannelConv, addon.itemChannelConvBackpropInput]) {
    assert.doesNotThrow(() => run(memory, itemParams));
    assert.throws(() => run(memory, Int32Array.from(itemParams, (v, i) => (i === 10 ? 2 : v))), /one output channel/);
    assert.throws(() => run(memory, Int32Array.from(itemParams, (v, i) => (i === 3 ? 60 : v))), /outside the memory/);
    assert.throws(() => run(memory, Int32Array.from(itemParams, (v, i) => (i === 1 ? 62 : v))), /outside the memory/);
    assert.throws(() => run(memory, Int32Array.from(itemParams, (v, i) => (i === 9 ? 0 : v))), /geometry/);
  }
  assert.throws(() => addon.itemChannelConv(memory, Int32Array.from(itemParams, (v, i) => (i === 2 ? 63 : v))), /outside the memory/);
  // Mean: x [outer, reduce, inner] and out [outer, inner] inside the memory, sizes from 1.
  assert.doesNotThrow(() => addon.mean(memory, Int32Array.of(0, 48, 2, 3, 8)));
  assert.throws(() => addon.mean(memory, Int32Array.of(0, 60, 2, 3, 8)), /outside the memory/);
  assert.throws(() => addon.mean(memory, Int32Array.of(0, 48, 2, 0, 8)), /geometry/);
  assert.throws(() => addon.mean(memory, Int32Array.of(0, 48, 2)), /params/);
});

test('a whole run on shapes-a with the addon (each instruction set) follows the same optimisation as with XNNPACK: traces and final objectives within float rounding', { skip: (instructionSets.length === 0 && 'no AVX-512 or AVX2') || skipWithoutShapesA }, async () => {
  setNativeConvState({ active: true, threads: 1 });
  const model = await shapesA();
  // A 64-channel sweep batch's kind of run (per-item channel objectives, the redirected-ReLU phase
  // included), short: 24 steps, 8 items.
  const spec = {
    model: 'shapes-a', objective: [0, 3, 7, 11, 19, 23, 29, 31].map((channel) => ({ type: 'channel' as const, layer: 'conv2', channel })),
    steps: 24, image: { size: 32, batch: 8 }, seed: 3,
  };
  const xnnpack = await withXnnpackConvolutions(() => visualize(model, spec));
  assert.equal(xnnpack.convolutions, 'xnnpack');
  const perImage = (output: typeof xnnpack) => (output.metrics.perImage as { objective: number[] }).objective;
  for (const set of instructionSets) {
    const native = await onInstructionSet(set, async () => {
      const callsBefore = nativeConvCallCount();
      const output = await visualize(model, spec);
      assert.ok(nativeConvCallCount() > callsBefore, 'the addon ran');
      return output;
    });
    assert.equal(native.convolutions, set);
    // Different summation orders: not bit-identical, but the same optimisation to float rounding
    // (measured: 1e-6 relative on AVX-512).
    assert.equal(native.trace.length, xnnpack.trace.length);
    for (const [step, value] of native.trace.entries()) {
      assert.ok(Math.abs(value - xnnpack.trace[step]!) <= 1e-3 * Math.max(1, Math.abs(xnnpack.trace[step]!)), `${set}, step ${step + 1}: ${value} against ${xnnpack.trace[step]}`);
    }
    for (const [item, value] of perImage(native).entries()) {
      const other = perImage(xnnpack)[item]!;
      assert.ok(Math.abs(value - other) <= 1e-3 * Math.max(1, Math.abs(other)), `${set}, item ${item}: ${value} against ${other}`);
    }
  }
});
