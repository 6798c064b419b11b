/**
 * Writes a trained tfjs-layers model as a TF.js GraphModel (model.json with `format: "graph-model"`
 * and a GraphDef as modelTopology), the format tensorflowjs_converter produces from a SavedModel.
 * There is no Python converter here, so this emits the same nodes the converter would for the few
 * layer types the bundled architectures use, fused the way TF's grappler fuses them:
 *
 *   Conv2D + bias + relu         → _FusedConv2D (fused_ops BiasAdd, Relu)        named <layer>/Relu
 *   SeparableConv2D              → DepthwiseConv2dNative <layer>/depthwise, then a 1×1 _FusedConv2D
 *   MaxPooling2D                 → MaxPool                                        <layer>/MaxPool
 *   GlobalAveragePooling2D       → Mean over axes [1, 2] (a Const)                <layer>/Mean
 *   Dense                        → _FusedMatMul (fused_ops BiasAdd)               <layer>/BiasAdd
 *   Activation('softmax')        → Softmax                                        <layer>/Softmax
 *
 * Weights are Const nodes whose values sit in the weights manifest under the node's name (the
 * converter's layout). Any other layer, or an option these do not cover, throws.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { WEIGHTS_FILE, type SerializedModel } from '@featurevis/engine/models';

/** A GraphDef node as the converter writes it (proto3 JSON: int64s as strings, bytes as base64). */
interface GraphNode { name: string; op: string; input?: string[]; attr?: Record<string, unknown> }

const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const FLOAT = { type: 'DT_FLOAT' };
const ints = (values: number[]) => ({ list: { i: values.map(String) } });
const strings = (values: string[]) => ({ list: { s: values.map(base64) } });
const text = (value: string) => ({ s: base64(value) });
const shapeOf = (dims: (number | null)[]) => ({ dim: dims.map((size) => ({ size: String(size ?? -1) })) });

interface LayerConfig { activation?: string; useBias?: boolean; strides?: number[]; poolSize?: number[]; padding?: string; dataFormat?: string; dilationRate?: number | number[]; depthMultiplier?: number; keepDims?: boolean }

class GraphBuilder {
  readonly nodes: GraphNode[] = [];
  readonly weights: tf.NamedTensorMap = {};
  /** Tensors made here (not the layers' own weights), disposed once encoded. */
  readonly owned: tf.Tensor[] = [];

  add(node: GraphNode): string {
    this.nodes.push(node);
    return node.name;
  }

  constant(name: string, value: tf.Tensor): string {
    this.weights[name] = value;
    const dtype = value.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT';
    return this.add({ name, op: 'Const', attr: { value: { tensor: { dtype, tensorShape: shapeOf(value.shape) } }, dtype: { type: dtype } } });
  }
}

function checkConvolution(layer: tfl.layers.Layer, config: LayerConfig): void {
  const strides = config.strides ?? [1, 1];
  const dilation = config.dilationRate ?? 1;
  const unit = (v: number | number[]) => (Array.isArray(v) ? v.every((x) => x === 1) : v === 1);
  if (!unit(strides) || !unit(dilation) || (config.dataFormat ?? 'channelsLast') !== 'channelsLast' || config.useBias === false) {
    throw new Error(`layer ${layer.name}: only stride 1, no dilation, channels-last convolutions with a bias are exported`);
  }
  if (!['relu', 'linear'].includes(config.activation ?? 'linear')) throw new Error(`layer ${layer.name}: activation ${config.activation} is not exported`);
}

/** `_FusedConv2D`: x * filter + bias, then the activation if any; named like grappler names it. */
function fusedConv2d(graph: GraphBuilder, layerName: string, x: string, filter: string, bias: string, activation: string, padding: string): string {
  const relu = activation === 'relu';
  return graph.add({
    name: `${layerName}/${relu ? 'Relu' : 'BiasAdd'}`, op: '_FusedConv2D', input: [x, filter, bias],
    attr: {
      T: FLOAT, num_args: { i: '1' }, fused_ops: strings(relu ? ['BiasAdd', 'Relu'] : ['BiasAdd']), epsilon: { f: 0 },
      strides: ints([1, 1, 1, 1]), dilations: ints([1, 1, 1, 1]), padding: text(padding), data_format: text('NHWC'),
      explicit_paddings: { list: {} }, use_cudnn_on_gpu: { b: true },
    },
  });
}

function exportLayer(graph: GraphBuilder, layer: tfl.layers.Layer, x: string): string {
  const config = layer.getConfig() as LayerConfig;
  const weights = layer.getWeights();
  const padding = (config.padding ?? 'valid').toUpperCase();
  const name = layer.name;
  switch (layer.getClassName()) {
    case 'Conv2D': {
      checkConvolution(layer, config);
      const [kernel, bias] = weights;
      return fusedConv2d(graph, name, x, graph.constant(`${name}/kernel`, kernel), graph.constant(`${name}/bias`, bias), config.activation ?? 'linear', padding);
    }
    case 'SeparableConv2D': {
      checkConvolution(layer, config);
      const [depthwiseKernel, pointwiseKernel, bias] = weights;
      const depthwise = graph.add({
        name: `${name}/depthwise`, op: 'DepthwiseConv2dNative', input: [x, graph.constant(`${name}/depthwise_kernel`, depthwiseKernel)],
        attr: { T: FLOAT, strides: ints([1, 1, 1, 1]), dilations: ints([1, 1, 1, 1]), padding: text(padding), data_format: text('NHWC'), explicit_paddings: { list: {} } },
      });
      return fusedConv2d(graph, name, depthwise, graph.constant(`${name}/pointwise_kernel`, pointwiseKernel), graph.constant(`${name}/bias`, bias), config.activation ?? 'linear', 'VALID');
    }
    case 'MaxPooling2D': {
      const [ph, pw] = config.poolSize ?? [2, 2];
      const [sh, sw] = config.strides ?? [ph, pw];
      return graph.add({
        name: `${name}/MaxPool`, op: 'MaxPool', input: [x],
        attr: { T: FLOAT, ksize: ints([1, ph, pw, 1]), strides: ints([1, sh, sw, 1]), padding: text(padding), data_format: text('NHWC'), explicit_paddings: { list: {} } },
      });
    }
    case 'GlobalAveragePooling2D': {
      if (config.keepDims) throw new Error(`layer ${name}: keepDims is not exported`);
      const indices = tf.tensor1d([1, 2], 'int32');
      graph.owned.push(indices);
      const axes = graph.constant(`${name}/Mean/reduction_indices`, indices);
      return graph.add({ name: `${name}/Mean`, op: 'Mean', input: [x, axes], attr: { T: FLOAT, Tidx: { type: 'DT_INT32' }, keep_dims: { b: false } } });
    }
    case 'Dense': {
      if (config.activation !== 'linear' || config.useBias === false) throw new Error(`layer ${name}: only a linear Dense layer with a bias is exported`);
      const [kernel, bias] = weights;
      return graph.add({
        name: `${name}/BiasAdd`, op: '_FusedMatMul', input: [x, graph.constant(`${name}/kernel`, kernel), graph.constant(`${name}/bias`, bias)],
        attr: { T: FLOAT, num_args: { i: '1' }, fused_ops: strings(['BiasAdd']), epsilon: { f: 0 }, transpose_a: { b: false }, transpose_b: { b: false } },
      });
    }
    case 'Activation': {
      if (config.activation !== 'softmax') throw new Error(`layer ${name}: activation ${config.activation} is not exported`);
      return graph.add({ name: `${name}/Softmax`, op: 'Softmax', input: [x], attr: { T: FLOAT } });
    }
    default:
      throw new Error(`layer ${name}: ${layer.getClassName()} is not exported as a graph node`);
  }
}

/** The GraphModel files of a single-input, single-output chain of layers. */
export async function layersToGraphModel(model: tfl.LayersModel): Promise<SerializedModel> {
  const [input] = model.inputs;
  if (model.inputs.length !== 1 || model.outputs.length !== 1) throw new Error('only single-input, single-output models are exported');
  const graph = new GraphBuilder();
  let x = graph.add({ name: model.inputLayers[0].name, op: 'Placeholder', attr: { dtype: FLOAT, shape: { shape: shapeOf(input.shape) } } });
  for (const layer of model.layers) {
    if (layer.getClassName() === 'InputLayer') continue;
    if (layer.inboundNodes.length !== 1 || layer.inboundNodes[0].inboundLayers.length !== 1) throw new Error(`layer ${layer.name}: only a chain of layers is exported`);
    x = exportLayer(graph, layer, x);
  }
  const { data, specs } = await tf.io.encodeWeights(graph.weights);
  tf.dispose(graph.owned);
  return {
    modelJson: {
      format: 'graph-model',
      generatedBy: `tfjs-layers ${model.getClassName()} via scripts/training/graph-model.ts`,
      convertedBy: 'featurevis scripts/training/graph-model.ts',
      modelTopology: { node: graph.nodes, library: {}, versions: {} },
      weightsManifest: [{ paths: [WEIGHTS_FILE], weights: specs }],
    },
    weights: new Uint8Array(data),
  };
}
