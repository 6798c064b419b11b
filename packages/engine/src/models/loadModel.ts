/**
 * Loads a TF.js LayersModel or GraphModel from its files and gives the engine what it needs: the
 * ModelView (GET /v1/models/{id}) and `activations(images, layers)` on RGB images in [0,1].
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import type { ModelMetadata, ModelView } from '@featurevis/contracts';
import type { LoadedModel, ModelFiles } from '../types.ts';
import { InvalidSpecError } from '../types.ts';
import { readModelArtifacts } from './modelArtifacts.ts';
import type { ModelGraph } from './modelGraph.ts';
import { layersModelGraph } from './layersModelGraph.ts';
import { graphModelGraph } from './graphModelGraph.ts';
import { mapToModelInput, preprocessingFromMetadata, type InputPreprocessing } from './inputMapping.ts';
import { unknownLayerError } from './unknownLayer.ts';

/** The name objectives use for the pre-softmax class scores, whatever the model calls that tensor. */
export const LOGITS_LAYER = '@logits';

/** Image size used when the model accepts any size and nobody said otherwise. */
export const DEFAULT_IMAGE_SIZE_PX = 128;

export interface LoadModelOptions {
  id: string;
  metadata?: ModelMetadata;
  /** Bundled with the service (models/) rather than uploaded. */
  bundled?: boolean;
  /** Size at which to visualise a model whose input size is free (a fixed-size model uses its own). */
  defaultSizePx?: number;
  /** When the model was registered; defaults to now. */
  createdAt?: string;
}

function describe(graph: ModelGraph, hash: string, preprocessing: InputPreprocessing, defaultSizePx: number, options: LoadModelOptions): ModelView {
  const labels = options.metadata?.labels ?? null;
  if (labels && labels.length !== graph.classes) {
    throw new InvalidSpecError(`metadata.labels has ${labels.length} labels; the model has ${graph.classes} classes`, 'metadata.labels');
  }
  const [height] = graph.inputShape;
  const input: ModelView['input'] = {
    shape: graph.inputShape,
    channels: graph.inputShape[2] ?? 3,
    defaultSizePx: height ?? defaultSizePx,
    ...(preprocessing.kind === 'range' ? { range: preprocessing.range } : { mean: preprocessing.mean, std: preprocessing.std }),
  };
  return {
    id: options.id,
    name: options.metadata?.name ?? options.id,
    format: graph.format,
    hash,
    bundled: options.bundled ?? false,
    input,
    output: { layer: graph.outputName, classes: graph.classes, logitsLayer: graph.logitsName },
    labels,
    layers: graph.layers,
    createdAt: options.createdAt ?? new Date().toISOString(),
  };
}

export async function loadModel(files: ModelFiles, options: LoadModelOptions): Promise<LoadedModel> {
  const { format, artifacts, hash } = await readModelArtifacts(files);
  const defaultSizePx = options.defaultSizePx ?? DEFAULT_IMAGE_SIZE_PX;
  let graph: ModelGraph;
  try {
    graph = format === 'layers'
      ? layersModelGraph(await tfl.loadLayersModel(tf.io.fromMemory(artifacts)))
      : graphModelGraph(await loadGraphModel(tf.io.fromMemory(artifacts)), artifacts.modelTopology, defaultSizePx);
  } catch (error) {
    if (error instanceof InvalidSpecError) throw error;
    throw new InvalidSpecError(`cannot load the ${format} model: ${(error as Error).message}`, 'model');
  }
  const channels = graph.inputShape[2] ?? 3;
  let info: ModelView;
  let preprocessing: InputPreprocessing;
  try {
    preprocessing = preprocessingFromMetadata(options.metadata, channels);
    info = describe(graph, hash, preprocessing, defaultSizePx, options);
  } catch (error) {
    graph.dispose();
    throw error;
  }
  const known = new Set(graph.layers.map((layer) => layer.name));
  const resolve = (name: string): string => {
    if (name === LOGITS_LAYER) {
      if (graph.logitsName === null) throw new InvalidSpecError(`model "${options.id}" has no pre-softmax class scores (its output "${graph.outputName}" is squashed by a non-softmax activation)`, 'objective');
      return graph.logitsName;
    }
    if (!known.has(name)) throw unknownLayerError(name, [...known]);
    return name;
  };
  return {
    id: options.id,
    hash,
    info,
    activations(images, layers) {
      const names = layers.map(resolve);
      const distinct = [...new Set(names)];
      const outputs = graph.run(mapToModelInput(images, channels, preprocessing), distinct);
      return names.map((name) => outputs[distinct.indexOf(name)]);
    },
    channelsFromInput(layer) {
      return graph.channelsFromInput?.(resolve(layer));
    },
    dispose() { graph.dispose(); },
  };
}

/** The ModelView of a model's files, e.g. to validate an upload; loads the model and disposes it. */
export async function inspectModel(files: ModelFiles, options: LoadModelOptions): Promise<ModelView> {
  const model = await loadModel(files, options);
  model.dispose();
  return model.info;
}
