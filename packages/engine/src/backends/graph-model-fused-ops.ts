/**
 * GraphModels' fused ops (`_FusedConv2D`, `FusedDepthwiseConv2dNative`, `_FusedMatMul`) executed
 * through `tf.fused.*`, so that input-only-gradients.ts's wrappers (fused ReLU under the tape) reach
 * them too.
 *
 * Why: tfjs-converter bundles its own copy of tfjs-core's ops and calls that copy's `fused.conv2d`
 * from its executor; nothing outside the bundle can reach it. `registerOp` (tfjs-converter's public
 * custom-op API) takes precedence over the built-in mapping when a model is loaded, so these
 * executors replace the built-in ones. Each reads the node's attributes as tfjs-converter's own
 * executor does (operations/executors/convolution_executor.ts, matrices_executor.ts:
 * `fusedConvAndDepthWiseParams`, `getPadding`) and calls the same op, so results are unchanged.
 * Registered once per process, before any model is loaded (initBackend → installInputOnlyGradients).
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerOp, type GraphNode } from '@tensorflow/tfjs-converter';

type Pair = [number, number];
type ExplicitPadding = [[0, 0], Pair, Pair, [0, 0]];

/** The converter's attribute values as `registerOp` executors receive them (strings lower-cased). */
function attr<T>(node: GraphNode, name: string, fallback: T): T {
  const value = node.attrs[name];
  return value == null ? fallback : (value as T);
}

/** The fused ops and their extra arguments: [bias?, prelu weights?] as the converter splits them. */
function fusedOpsOf(node: GraphNode, what: string): { activation: string; bias?: tf.Tensor; prelu?: tf.Tensor } {
  const [extraOp, activation = 'linear'] = attr<string[]>(node, 'fused_ops', []);
  const numArgs = attr<number>(node, 'num_args', 0);
  const isBiasAdd = extraOp === 'biasadd';
  const isPrelu = activation === 'prelu';
  if (extraOp === 'fusedbatchnorm') throw new Error(`${what} with FusedBatchNorm is not supported`);
  if (isBiasAdd && numArgs !== (isPrelu ? 2 : 1)) {
    throw new Error(`${what} with BiasAdd${isPrelu ? ' and Prelu' : ''} must have ${isPrelu ? 'two extra arguments: bias and alpha' : 'one extra argument: bias'}.`);
  }
  const args = node.inputs.slice(2);
  return isBiasAdd || what === '_FusedMatMul' ? { activation, bias: args[0], prelu: args[1] } : { activation, prelu: args[0] };
}

/** A convolution's geometry: strides and dilations [1, h, w, 1] → [h, w]; explicit paddings → pairs. */
function convolutionGeometry(node: GraphNode) {
  const strides = attr<number[]>(node, 'strides', [1, 1, 1, 1]);
  const dilations = attr<number[]>(node, 'dilations', [1, 1, 1, 1]);
  const padding = attr<string>(node, 'padding', 'valid');
  let pad: 'same' | 'valid' | ExplicitPadding = padding as 'same' | 'valid';
  if (padding === 'explicit') {
    const flat = attr<number[]>(node, 'explicit_paddings', []);
    pad = [[0, 0], [flat[2], flat[3]], [flat[4], flat[5]], [0, 0]];
  }
  return {
    strides: [strides[1], strides[2]] as Pair,
    dilations: [dilations[1], dilations[2]] as Pair,
    pad,
    dataFormat: attr<string>(node, 'data_format', 'nhwc').toUpperCase() as 'NHWC',
  };
}

export function fusedConvolution(name: '_FusedConv2D' | 'FusedDepthwiseConv2dNative') {
  return (node: GraphNode): tf.Tensor[] => {
    const { activation, bias, prelu } = fusedOpsOf(node, name);
    const [x, filter] = node.inputs as [tf.Tensor4D, tf.Tensor4D];
    const args = {
      x,
      filter,
      ...convolutionGeometry(node),
      bias,
      activation: activation as tf.fused.Activation,
      preluActivationWeights: prelu,
      leakyreluAlpha: attr<number>(node, 'leakyrelu_alpha', 0.2),
    };
    // tfjs's depthwise op types its padding without the explicit form; its kernel accepts it.
    return [name === '_FusedConv2D' ? tf.fused.conv2d(args) : tf.fused.depthwiseConv2d(args as Parameters<typeof tf.fused.depthwiseConv2d>[0])];
  };
}

export function fusedMatMul(node: GraphNode): tf.Tensor[] {
  const { activation, bias, prelu } = fusedOpsOf(node, '_FusedMatMul');
  const [a, b] = node.inputs;
  return [tf.fused.matMul({
    a,
    b,
    transposeA: attr<boolean>(node, 'transpose_a', false),
    transposeB: attr<boolean>(node, 'transpose_b', false),
    bias,
    activation: activation as tf.fused.Activation,
    preluActivationWeights: prelu,
    leakyreluAlpha: attr<number>(node, 'leakyrelu_alpha', 0.2),
  })];
}

let registered = false;

/** Registers the executors (idempotent). They call `tf.fused.*` at run time, so they follow its wrappers. */
export function registerGraphModelFusedOps(): void {
  if (registered) return;
  registered = true;
  registerOp('_FusedConv2D', fusedConvolution('_FusedConv2D'));
  registerOp('FusedDepthwiseConv2dNative', fusedConvolution('FusedDepthwiseConv2dNative'));
  registerOp('_FusedMatMul', fusedMatMul);
}
