/**
 * Trains the bundled models and writes them to models/<id>/ (npm run train [-- --only shapes-a,shapes-b]).
 *
 * - shapes-a: the conv architecture, seed 1, plus checkpoints of the same run (shapes-a-epoch-NN) for
 *   looking at features across training;
 * - shapes-b: the same architecture and data distribution, another seed (comparing networks);
 * - shapes-dw-graph: the depthwise architecture, written as a TF.js GraphModel.
 *
 * All train at 32×32 on the procedural shapes set (@featurevis/engine/datasets), on the WASM backend
 * (scripts/training/backend.ts). A run is a function of the seeds below. Each model's held-out
 * accuracy is measured twice, on the trained model and on the written folder loaded back through the
 * engine; a model below its threshold is not written, and the script then exits non-zero (as it does
 * when the written files classify differently from the trained model).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { generateShapes, LABELS, DEFAULT_SHAPES_SIZE_PX, type ShapesBatch } from '@featurevis/engine/datasets';
import { loadModelFromDirectory } from '@featurevis/engine/models';
import { buildClassifier, type Architecture } from './training/architectures.ts';
import { useTrainingBackend } from './training/backend.ts';
import { accuracy } from './training/evaluate.ts';
import { train, type TrainingOptions } from './training/train.ts';
import { layersToGraphModel } from './training/graph-model.ts';
import { writeModelFolder, type BundledModel } from './training/write-model.ts';
import { serializeLayersModel } from '@featurevis/engine/models';

const MODELS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'models');

/** The held-out images: a seed no training epoch draws from (those are datasetSeed·1000 + epoch). */
export const HELD_OUT = { seed: 999_999, count: 800, sizePx: DEFAULT_SHAPES_SIZE_PX } as const;

const TRAINING: Omit<TrainingOptions, 'datasetSeed'> = {
  epochs: 16,
  imagesPerEpoch: 4096,
  batchSize: 64,
  learningRate: 0.003,
  finalLearningRateFactor: 0.2,
  sizePx: DEFAULT_SHAPES_SIZE_PX,
};

interface Plan {
  id: string;
  name: string;
  description: string;
  architecture: Architecture;
  seed: number;
  datasetSeed: number;
  format: 'layers' | 'graph';
  minAccuracy: number;
  /** Epochs after which to write models/<id>-epoch-NN as well. */
  checkpoints?: number[];
}

const PLANS: Plan[] = [
  {
    id: 'shapes-a', name: 'Shapes A (conv, seed 1)', architecture: 'conv', seed: 1, datasetSeed: 1, format: 'layers', minAccuracy: 0.95, checkpoints: [1, 2, 4, 8],
    description: 'A small fully-convolutional classifier of the procedural shapes set (circle, square, triangle, horizontal and vertical stripes, checkerboard, red, and a two-kind cross). Three 3×3 conv layers (16, 32, 64 filters) with max pooling, global average pooling, dense logits and a softmax. Trained at 32×32; accepts any size.',
  },
  {
    id: 'shapes-b', name: 'Shapes B (conv, seed 2)', architecture: 'conv', seed: 2, datasetSeed: 2, format: 'layers', minAccuracy: 0.95,
    description: 'The same architecture and data distribution as shapes-a, other initial weights and other training images: for comparing what two networks learn and whether visualisations transfer between them.',
  },
  {
    id: 'shapes-dw-graph', name: 'Shapes DW (depthwise-separable, GraphModel)', architecture: 'depthwise', seed: 3, datasetSeed: 3, format: 'graph', minAccuracy: 0.9,
    description: 'The depthwise-separable variant (conv1 a full 3×3 convolution, conv2 and conv3 depthwise 3×3 + pointwise 1×1), stored as a TF.js GraphModel as tensorflowjs_converter would write it (fused _FusedConv2D / DepthwiseConv2dNative / _FusedMatMul nodes; targetable units are node names such as conv3/Relu and logits/BiasAdd). Trained at 32×32; accepts any size.',
  },
];

const pad2 = (n: number) => String(n).padStart(2, '0');

function metadataOf(name: string): BundledModel['metadata'] {
  return { name, labels: [...LABELS], input: { range: [0, 1] } };
}

const classifyWith = (model: tfl.LayersModel) => (images: tf.Tensor4D) => model.predict(images) as tf.Tensor;

/** The written folder, loaded back through the engine: its held-out accuracy must match. */
async function reloadedAccuracy(dir: string, id: string, heldOut: ShapesBatch): Promise<number> {
  const loaded = await loadModelFromDirectory(dir, id);
  try {
    return accuracy((images) => loaded.activations(images, [loaded.info.output.layer])[0], heldOut);
  } finally {
    loaded.dispose();
  }
}

interface Result { id: string; accuracy: number; reloaded: number; weightBytes: number; seconds: number; ok: boolean }

async function trainPlan(plan: Plan, heldOut: ShapesBatch): Promise<Result[]> {
  const started = Date.now();
  const options: TrainingOptions = { ...TRAINING, datasetSeed: plan.datasetSeed };
  const model = buildClassifier(plan.architecture, { classes: LABELS.length, seed: plan.seed });
  const facts = {
    architecture: plan.architecture, seed: plan.seed, datasetSeed: plan.datasetSeed, sizePx: options.sizePx,
    imagesPerEpoch: options.imagesPerEpoch, batchSize: options.batchSize, optimizer: 'adam', learningRate: options.learningRate,
    finalLearningRateFactor: options.finalLearningRateFactor, heldOut: { ...HELD_OUT },
    script: 'scripts/train-models.ts',
  };
  const results: Result[] = [];
  const write = async (id: string, name: string, training: Record<string, unknown>, minAccuracy: number, format: Plan['format']) => {
    const heldOutAccuracy = accuracy(classifyWith(model), heldOut);
    const percent = (value: number) => `${(value * 100).toFixed(1)}%`;
    if (heldOutAccuracy < minAccuracy) {
      // Not written: a failed run leaves the committed model in place.
      console.log(`  ${id}: held-out accuracy ${percent(heldOutAccuracy)}, needs ≥ ${percent(minAccuracy)}; NOT written`);
      results.push({ id, accuracy: heldOutAccuracy, reloaded: Number.NaN, weightBytes: 0, seconds: (Date.now() - started) / 1000, ok: false });
      return;
    }
    const serialized = format === 'graph' ? await layersToGraphModel(model) : await serializeLayersModel(model);
    const { dir, weightBytes } = await writeModelFolder(MODELS_DIR, serialized, {
      id, metadata: metadataOf(name), defaultSizePx: options.sizePx,
      training: { ...training, ...facts, format, heldOutAccuracy },
    });
    // Loaded back through the engine, the written files must classify exactly as the trained model.
    const reloaded = await reloadedAccuracy(dir, id, heldOut);
    const ok = reloaded === heldOutAccuracy;
    console.log(`  wrote models/${id}: held-out accuracy ${percent(heldOutAccuracy)} (reloaded ${percent(reloaded)}), weights ${(weightBytes / 1024).toFixed(0)} KiB${ok ? '' : '  FAILED: the written model classifies differently'}`);
    results.push({ id, accuracy: heldOutAccuracy, reloaded, weightBytes, seconds: (Date.now() - started) / 1000, ok });
  };
  console.log(`${plan.id}: ${plan.architecture}, seed ${plan.seed}, ${options.epochs} epochs × ${options.imagesPerEpoch} images`);
  await train(model, options, async (report) => {
    console.log(`  epoch ${pad2(report.epoch)}: loss ${report.loss.toFixed(4)}, training accuracy ${(report.accuracy * 100).toFixed(1)}%, ${report.seconds.toFixed(1)} s`);
    if (plan.checkpoints?.includes(report.epoch)) {
      const id = `${plan.id}-epoch-${pad2(report.epoch)}`;
      await write(id, `${plan.name}, after epoch ${report.epoch} of ${options.epochs}`, {
        description: `A checkpoint of ${plan.id}'s training run after epoch ${report.epoch} of ${options.epochs}, for looking at features across training.`,
        checkpointOf: plan.id, epochs: report.epoch,
      }, 0, 'layers');
    }
  });
  await write(plan.id, plan.name, { description: plan.description, epochs: options.epochs }, plan.minAccuracy, plan.format);
  model.dispose();
  return results;
}

const { values } = parseArgs({ options: { only: { type: 'string' } } });
const only = values.only?.split(',').map((id) => id.trim()).filter(Boolean);
const unknown = only?.filter((id) => !PLANS.some((plan) => plan.id === id)) ?? [];
if (unknown.length > 0) {
  console.error(`unknown model(s) ${unknown.join(', ')}; known: ${PLANS.map((plan) => plan.id).join(', ')}`);
  process.exit(2);
}

await useTrainingBackend('wasm');
console.log(`backend: ${tf.getBackend()}; held-out set: ${HELD_OUT.count} images, seed ${HELD_OUT.seed}`);
const heldOut = generateShapes(HELD_OUT);
const results: Result[] = [];
for (const plan of PLANS.filter((p) => !only || only.includes(p.id))) results.push(...(await trainPlan(plan, heldOut)));
console.log('\nmodel                      held-out  weights   elapsed');
for (const r of results) console.log(`${r.id.padEnd(26)} ${(r.accuracy * 100).toFixed(1).padStart(6)}%  ${(r.weightBytes / 1024).toFixed(0).padStart(4)} KiB  ${r.seconds.toFixed(0).padStart(5)} s${r.ok ? '' : '  FAILED'}`);
if (results.some((r) => !r.ok)) process.exit(1);
