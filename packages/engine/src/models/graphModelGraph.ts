/**
 * A tfjs-converter GraphModel as a ModelGraph. Its targetable units are the GraphDef's nodes; the
 * converter's format stores no output shapes, so they are found by running the graph once (twice when
 * the input size is free: a dimension that changes with the input size is listed as null).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import type { LayerInfo } from '@featurevis/contracts';
import { InvalidSpecError } from '../types.ts';
import { convolutionChannelsFromInput } from './channelsFromInput.ts';
import { withoutBatch, type ChannelsFromInput, type ModelGraph } from './modelGraph.ts';

interface AttrValue { s?: string; i?: string | number; list?: { s?: string[]; i?: Array<string | number> } }
interface GraphNode { name: string; op: string; input?: string[]; attr?: Record<string, AttrValue> }

/** Nodes that hold no activation an objective could target. */
const UNTARGETABLE_OPS = new Set(['Const', 'Placeholder', 'PlaceholderWithDefault', 'NoOp']);
/** Ops that pass their input through unchanged, walked over when looking for the Softmax. */
const PASS_THROUGH_OPS = new Set(['Identity', 'IdentityN', 'StopGradient']);
/** Output ops after which the values are no longer class scores. */
const SQUASHING_OPS = new Set(['Sigmoid', 'Tanh', 'Relu', 'Relu6']);

/** "name:0" and control inputs "^name" both refer to the node "name". */
function nodeNameOf(input: string): string {
  return input.replace(/^\^/, '').replace(/:\d+$/, '');
}

function findLogits(outputName: string, nodes: Map<string, GraphNode>): string | null {
  let node = nodes.get(outputName);
  while (node && PASS_THROUGH_OPS.has(node.op) && node.input?.[0]) node = nodes.get(nodeNameOf(node.input[0]));
  if (!node) return outputName;
  if (node.op === 'Softmax' && node.input?.[0]) return nodeNameOf(node.input[0]);
  if (SQUASHING_OPS.has(node.op)) return null;
  return outputName;
}

/** A GraphDef string attribute (base64 in the converter's model.json). */
function text(value: string | undefined): string | undefined {
  return value == null ? undefined : Buffer.from(value, 'base64').toString('utf8');
}

/**
 * `ChannelsFromInput` for a `_FusedConv2D` node (BiasAdd, optionally Relu; NHWC; SAME or VALID) whose
 * input is another targetable node's first output and whose filter and bias are the model's weights;
 * undefined for anything else.
 */
function fusedConvolutionChannels(node: GraphNode, targetable: ReadonlySet<string>, weights: tf.NamedTensorMap | Record<string, tf.Tensor[]>): ChannelsFromInput | undefined {
  if (node.op !== '_FusedConv2D' || node.input == null || node.input.length < 3) return undefined;
  const attr = node.attr ?? {};
  const fusedOps = (attr.fused_ops?.list?.s ?? []).map(text);
  if (fusedOps[0] !== 'BiasAdd' || fusedOps.length > 2 || (fusedOps.length === 2 && fusedOps[1] !== 'Relu')) return undefined;
  if (Number(attr.num_args?.i ?? 1) !== 1 || (text(attr.data_format?.s) ?? 'NHWC') !== 'NHWC') return undefined;
  const padding = text(attr.padding?.s);
  if (padding !== 'SAME' && padding !== 'VALID') return undefined;
  const [x, filter, bias] = node.input;
  if (/:\d+$/.test(x) && !x.endsWith(':0')) return undefined;
  const inputLayer = nodeNameOf(x);
  if (!targetable.has(inputLayer)) return undefined;
  const weightOf = (input: string) => {
    const value = (weights as Record<string, tf.Tensor | tf.Tensor[] | undefined>)[nodeNameOf(input)];
    return Array.isArray(value) ? value[0] : value;
  };
  const kernel = weightOf(filter);
  const biasTensor = weightOf(bias);
  if (kernel?.rank !== 4 || biasTensor?.rank !== 1) return undefined;
  const strides = (attr.strides?.list?.i ?? [1, 1, 1, 1]).map(Number);
  const dilations = (attr.dilations?.list?.i ?? [1, 1, 1, 1]).map(Number);
  return convolutionChannelsFromInput({
    inputLayer, kernel: kernel as tf.Tensor4D, bias: biasTensor as tf.Tensor1D, activation: fusedOps[1] === 'Relu' ? 'relu' : 'linear',
    padding: padding === 'SAME' ? 'same' : 'valid', strides: [strides[1], strides[2]], dilations: [dilations[1], dilations[2]],
  });
}

function probeShapes(model: GraphModel, inputName: string, names: string[], sizePx: number, channels: number): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  tf.tidy(() => {
    const probe = tf.zeros([1, sizePx, sizePx, channels]);
    const outputs = model.execute({ [inputName]: probe }, names) as tf.Tensor | tf.Tensor[];
    const list = Array.isArray(outputs) ? outputs : [outputs];
    list.forEach((tensor, index) => shapes.set(names[index], tensor.dtype === 'float32' ? tensor.shape : []));
  });
  return shapes;
}

export function graphModelGraph(model: GraphModel, modelTopology: unknown, defaultSizePx: number): ModelGraph {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new InvalidSpecError(`only models with one input and one output are supported (this one has ${model.inputs.length} and ${model.outputs.length})`, 'model');
  }
  const input = model.inputs[0];
  const inputShape = withoutBatch(input.shape ?? [-1, -1, -1, 3]);
  const channels = inputShape[2];
  if (inputShape.length !== 3 || channels === null) throw new InvalidSpecError(`the model's input must be NHWC with a known channel count (it is [${input.shape}])`, 'model');

  const topology = modelTopology as { node?: GraphNode[] } | undefined;
  const nodes = new Map((topology?.node ?? []).map((node) => [node.name, node]));
  const candidates = [...nodes.values()].filter((node) => !UNTARGETABLE_OPS.has(node.op)).map((node) => node.name);
  const outputName = nodeNameOf(model.outputs[0].name);

  const height = inputShape[0] ?? defaultSizePx;
  const width = inputShape[1] ?? defaultSizePx;
  const fixedSize = inputShape[0] !== null && inputShape[1] !== null;
  if (fixedSize && height !== width) throw new InvalidSpecError(`only square inputs are supported (the model takes ${height}×${width})`, 'model');
  const first = probeShapes(model, input.name, candidates, height, channels);
  const second = fixedSize ? first : probeShapes(model, input.name, candidates, height + 16, channels);

  const layers: LayerInfo[] = [];
  for (const name of candidates) {
    const a = first.get(name)!;
    const b = second.get(name)!;
    if (a.length < 2) continue; // scalars, shapes and integer bookkeeping are no activations
    const shape = withoutBatch(a.map((size, axis) => (size === b[axis] ? size : -1)));
    layers.push({ name, shape, channels: a[a.length - 1], className: nodes.get(name)!.op });
  }
  const outputShape = first.get(outputName) ?? (model.outputs[0].shape ?? []);
  return {
    format: 'graph',
    inputShape,
    layers,
    outputName,
    classes: outputShape[outputShape.length - 1] ?? 0,
    logitsName: findLogits(outputName, nodes),
    // GraphModel compiles and caches an execution plan per distinct output set itself.
    run(images, names) {
      const outputs = model.execute({ [input.name]: images }, [...names]) as tf.Tensor | tf.Tensor[];
      return Array.isArray(outputs) ? outputs : [outputs];
    },
    channelsFromInput(name) {
      const node = nodes.get(name);
      const targetable = new Set(layers.filter((layer) => layer.shape.length === 3).map((layer) => layer.name));
      return node == null ? undefined : fusedConvolutionChannels(node, targetable, model.weights);
    },
    dispose() { model.dispose(); },
  };
}
