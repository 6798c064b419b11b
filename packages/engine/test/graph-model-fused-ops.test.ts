/**
 * The GraphModel fused-op executors (src/backends/graph-model-fused-ops.ts) read a node's attributes as
 * tfjs-converter's own executor does: checked here on nodes as `registerOp` executors receive them
 * (inputs, and attributes parsed by the converter: strings lower-cased, lists as arrays) against the
 * tf.fused op called directly, for strides, dilations, explicit padding, bias with and without
 * activations (relu, prelu, leakyrelu), transposed matrix products, and the converter's errors.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { GraphNode } from '@tensorflow/tfjs-converter';
import { initBackend } from '@featurevis/engine/backends';
import { fusedConvolution, fusedMatMul } from '../src/backends/graph-model-fused-ops.ts';

before(async () => { await initBackend('cpu'); });

const node = (inputs: tf.Tensor[], attrs: Record<string, unknown>): GraphNode => ({ inputs, attrs } as unknown as GraphNode);

function assertSame(actual: tf.Tensor, expected: tf.Tensor, label: string) {
  assert.deepEqual(actual.shape, expected.shape, label);
  assert.deepEqual(Array.from(actual.dataSync()), Array.from(expected.dataSync()), label);
}

test('_FusedConv2D and FusedDepthwiseConv2dNative: geometry, bias, activations as the converter reads them', () => {
  tf.tidy(() => {
    const x = tf.randomUniform([2, 9, 9, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
    const filter = tf.randomUniform([3, 3, 3, 4], -1, 1, 'float32', 2) as tf.Tensor4D;
    const bias = tf.randomUniform([4], -1, 1, 'float32', 3) as tf.Tensor1D;
    const alpha = tf.randomUniform([4], 0, 0.5, 'float32', 4) as tf.Tensor1D;
    const conv = fusedConvolution('_FusedConv2D');
    const cases: Array<[string, Record<string, unknown>, tf.Tensor[], Parameters<typeof tf.fused.conv2d>[0]]> = [
      ['strided, relu', { strides: [1, 2, 2, 1], padding: 'same', fused_ops: ['biasadd', 'relu'], num_args: 1 }, [bias],
        { x, filter, strides: [2, 2], pad: 'same', bias, activation: 'relu' }],
      ['dilated, valid, linear', { strides: [1, 1, 1, 1], dilations: [1, 2, 2, 1], padding: 'valid', fused_ops: ['biasadd'], num_args: 1 }, [bias],
        { x, filter, strides: [1, 1], dilations: [2, 2], pad: 'valid', bias }],
      ['explicit padding, leakyrelu', { strides: [1, 1, 1, 1], padding: 'explicit', explicit_paddings: [0, 0, 1, 2, 0, 1, 0, 0], fused_ops: ['biasadd', 'leakyrelu'], num_args: 1, leakyrelu_alpha: 0.3 }, [bias],
        { x, filter, strides: [1, 1], pad: [[0, 0], [1, 2], [0, 1], [0, 0]], bias, activation: 'leakyrelu', leakyreluAlpha: 0.3 }],
      ['bias and prelu', { strides: [1, 1, 1, 1], padding: 'same', fused_ops: ['biasadd', 'prelu'], num_args: 2 }, [bias, alpha],
        { x, filter, strides: [1, 1], pad: 'same', bias, activation: 'prelu', preluActivationWeights: alpha }],
      ['prelu without bias', { strides: [1, 1, 1, 1], padding: 'same', fused_ops: ['', 'prelu'], num_args: 1 }, [alpha],
        { x, filter, strides: [1, 1], pad: 'same', activation: 'prelu', preluActivationWeights: alpha }],
    ];
    for (const [label, attrs, args, expected] of cases) {
      assertSame(conv(node([x, filter, ...args], attrs))[0], tf.fused.conv2d(expected), label);
    }
    const depthwiseFilter = tf.randomUniform([3, 3, 3, 2], -1, 1, 'float32', 5) as tf.Tensor4D;
    const depthwiseBias = tf.randomUniform([6], -1, 1, 'float32', 6) as tf.Tensor1D;
    assertSame(
      fusedConvolution('FusedDepthwiseConv2dNative')(node([x, depthwiseFilter, depthwiseBias], { strides: [1, 2, 2, 1], padding: 'same', fused_ops: ['biasadd', 'relu6'], num_args: 1 }))[0],
      tf.fused.depthwiseConv2d({ x, filter: depthwiseFilter, strides: [2, 2], pad: 'same', bias: depthwiseBias, activation: 'relu6' }),
      'depthwise, relu6');
    assert.throws(() => conv(node([x, filter, bias], { padding: 'same', fused_ops: ['fusedbatchnorm'], num_args: 1 })), /FusedBatchNorm is not supported/);
    assert.throws(() => conv(node([x, filter, bias, alpha], { padding: 'same', fused_ops: ['biasadd', 'prelu'], num_args: 1 })), /two extra arguments/);
  });
});

test('_FusedMatMul: transposes, bias, activation', () => {
  tf.tidy(() => {
    const a = tf.randomUniform([5, 3], -1, 1, 'float32', 7) as tf.Tensor2D;
    const b = tf.randomUniform([4, 5], -1, 1, 'float32', 8) as tf.Tensor2D;
    const bias = tf.randomUniform([4], -1, 1, 'float32', 9) as tf.Tensor1D;
    assertSame(
      fusedMatMul(node([a, b, bias], { transpose_a: true, transpose_b: true, fused_ops: ['biasadd', 'relu'], num_args: 1 }))[0],
      tf.fused.matMul({ a, b, transposeA: true, transposeB: true, bias, activation: 'relu' }),
      'transposed, relu');
    assert.throws(() => fusedMatMul(node([a, b, bias, bias], { fused_ops: ['biasadd'], num_args: 2 })), /one extra argument/);
  });
});
