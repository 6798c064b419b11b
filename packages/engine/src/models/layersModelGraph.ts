/** A tfjs-layers LayersModel as a ModelGraph: layers by name, sub-models for any set of outputs. */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { LayerInfo } from '@featurevis/contracts';
import { InvalidSpecError } from '../types.ts';
import { convolutionChannelsFromInput } from './channelsFromInput.ts';
import { withoutBatch, type ChannelsFromInput, type ModelGraph } from './modelGraph.ts';

type Layer = tfl.layers.Layer;
type LayerClass = { fromConfig(cls: unknown, config: tf.serialization.ConfigDict): Layer };

function activationOf(layer: Layer): string | undefined {
  const className = layer.getClassName();
  if (className === 'Softmax') return 'softmax';
  const activation = layer.getConfig().activation;
  return typeof activation === 'string' ? activation.toLowerCase() : undefined;
}

function singleInput(layer: Layer): tfl.SymbolicTensor {
  const input = layer.input;
  if (Array.isArray(input)) throw new InvalidSpecError(`layer "${layer.name}" has several inputs; cannot take its logits`, 'model');
  return input;
}

/**
 * Where the class scores before softmax are. A separate Softmax/Activation layer: its input. A layer
 * with a fused softmax activation (Dense(..., activation: 'softmax')): a copy of that layer with a linear
 * activation and the same weights, applied to the same input, so the logits are a tensor of the graph.
 */
function findLogits(model: tfl.LayersModel): { name: string; tensor: tfl.SymbolicTensor; extraLayer?: Layer } | null {
  const outputLayer = model.outputLayers[0];
  const activation = activationOf(outputLayer);
  // No squashing activation (Dense linear, a global pooling of class maps): the output is the scores.
  if (activation === 'linear' || activation === undefined) {
    return { name: outputLayer.name, tensor: model.outputs[0] };
  }
  if (activation !== 'softmax') return null;
  if (outputLayer.getClassName() === 'Softmax' || outputLayer.getClassName() === 'Activation') {
    const input = singleInput(outputLayer);
    return { name: input.sourceLayer.name, tensor: input };
  }
  const config = { ...outputLayer.getConfig(), activation: 'linear', name: `${outputLayer.name}/logits` };
  const linear = (outputLayer.constructor as unknown as LayerClass).fromConfig(outputLayer.constructor, config);
  const tensor = linear.apply(singleInput(outputLayer)) as tfl.SymbolicTensor;
  linear.setWeights(outputLayer.getWeights());
  return { name: linear.name, tensor, extraLayer: linear };
}

/**
 * `ChannelsFromInput` for a Conv2D layer (channels last, ReLU or linear activation) whose input is
 * the output of another targetable layer; undefined for anything else (the caller then takes the
 * layer's output and picks its channels).
 */
function convolutionChannels(layer: Layer, tensors: ReadonlyMap<string, tfl.SymbolicTensor>): ChannelsFromInput | undefined {
  if (layer.getClassName() !== 'Conv2D') return undefined;
  const config = layer.getConfig() as { dataFormat?: string; strides?: number[]; dilationRate?: number | number[]; padding?: string; useBias?: boolean };
  const activation = activationOf(layer);
  if (config.dataFormat !== 'channelsLast' || (activation !== 'relu' && activation !== 'linear')) return undefined;
  if (config.padding !== 'same' && config.padding !== 'valid') return undefined;
  const input = layer.input;
  if (Array.isArray(input)) return undefined;
  const inputLayer = input.sourceLayer.name;
  if (tensors.get(inputLayer) !== input) return undefined;
  const [kernel, bias] = layer.getWeights() as [tf.Tensor4D, tf.Tensor1D | undefined];
  const dilations = typeof config.dilationRate === 'number' ? [config.dilationRate, config.dilationRate] : config.dilationRate ?? [1, 1];
  return convolutionChannelsFromInput({
    inputLayer, kernel, bias: config.useBias !== false ? bias : undefined, activation, padding: config.padding,
    strides: (config.strides ?? [1, 1]) as [number, number], dilations: dilations as [number, number],
  });
}

export function layersModelGraph(model: tfl.LayersModel): ModelGraph {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new InvalidSpecError(`only models with one input and one output are supported (this one has ${model.inputs.length} and ${model.outputs.length})`, 'model');
  }
  const tensors = new Map<string, tfl.SymbolicTensor>();
  const layers: LayerInfo[] = [];
  for (const layer of model.layers) {
    if (layer.getClassName() === 'InputLayer') continue;
    const output = layer.output;
    if (Array.isArray(output)) continue; // multi-output layers are not targetable by one name
    const shape = withoutBatch(output.shape);
    tensors.set(layer.name, output);
    layers.push({ name: layer.name, shape, channels: shape[shape.length - 1] ?? 0, className: layer.getClassName() });
  }
  const logits = findLogits(model);
  if (logits?.extraLayer) {
    const shape = withoutBatch(logits.tensor.shape);
    tensors.set(logits.name, logits.tensor);
    layers.push({ name: logits.name, shape, channels: shape[shape.length - 1] ?? 0, className: 'Logits' });
  }
  const outputShape = withoutBatch(model.outputs[0].shape);
  // One sub-model per distinct set of requested outputs; tfjs-layers shares the weights with `model`.
  const subModels = new Map<string, tfl.LayersModel>();
  return {
    format: 'layers',
    inputShape: withoutBatch(model.inputs[0].shape),
    layers,
    outputName: model.outputLayers[0].name,
    classes: outputShape[outputShape.length - 1] ?? 0,
    logitsName: logits?.name ?? null,
    run(input, names) {
      const key = names.join('\u0000');
      let subModel = subModels.get(key);
      if (!subModel) {
        subModel = tfl.model({ inputs: model.inputs, outputs: names.map((name) => tensors.get(name)!) });
        subModels.set(key, subModel);
      }
      const outputs = subModel.apply(input, { training: false }) as tf.Tensor | tf.Tensor[];
      return Array.isArray(outputs) ? outputs : [outputs];
    },
    channelsFromInput(name) {
      const layer = model.layers.find((candidate) => candidate.name === name);
      return layer == null ? undefined : convolutionChannels(layer, tensors);
    },
    dispose() {
      logits?.extraLayer?.dispose();
      model.dispose();
    },
  };
}
