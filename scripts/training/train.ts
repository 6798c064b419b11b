/**
 * Trains a classifier on the procedural shapes set and measures it. Each epoch draws fresh images
 * (dataset seed × epoch), so the network never sees an image twice and cannot memorise; the held-out
 * set has a seed of its own. With every initialiser seeded, the WASM backend single-threaded and no
 * shuffling, a run is a function of its seeds.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { generateShapes, shapesTensor, type ShapesBatch } from '@featurevis/engine/datasets';

export interface TrainingOptions {
  epochs: number;
  imagesPerEpoch: number;
  batchSize: number;
  learningRate: number;
  /** The learning rate is multiplied by this over the last epochs (a simple step decay). */
  finalLearningRateFactor: number;
  /** Seeds the training images: epoch e draws from dataset seed `datasetSeed * 1000 + e`. */
  datasetSeed: number;
  sizePx: number;
}

export interface EpochReport { epoch: number; loss: number; accuracy: number; seconds: number }

/** The images of one training epoch. */
export function epochBatch(options: TrainingOptions, epoch: number): ShapesBatch {
  return generateShapes({ count: options.imagesPerEpoch, seed: options.datasetSeed * 1000 + epoch, sizePx: options.sizePx });
}

/**
 * Adam on sparse categorical cross-entropy, `epochs` × `imagesPerEpoch`; `afterEpoch` sees the model
 * after each epoch (checkpoints, progress).
 */
export async function train(model: tfl.LayersModel, options: TrainingOptions, afterEpoch: (report: EpochReport) => Promise<void> | void): Promise<void> {
  const optimizer = tf.train.adam(options.learningRate);
  model.compile({ optimizer, loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const decayFrom = Math.ceil(options.epochs * 0.75);
  for (let epoch = 1; epoch <= options.epochs; epoch++) {
    const started = Date.now();
    // tfjs's Adam reads its (protected) learningRate field at every step; there is no public setter.
    (optimizer as unknown as { learningRate: number }).learningRate = epoch > decayFrom ? options.learningRate * options.finalLearningRateFactor : options.learningRate;
    const batch = epochBatch(options, epoch);
    const images = shapesTensor(batch);
    const labels = tf.tensor1d(batch.labels, 'float32');
    let [lossSum, accuracySum, steps] = [0, 0, 0];
    for (let start = 0; start < batch.count; start += options.batchSize) {
      const size = Math.min(options.batchSize, batch.count - start);
      const [x, y] = tf.tidy(() => [tf.slice(images, start, size), tf.slice(labels, start, size)]);
      const [loss, acc] = (await model.trainOnBatch(x, y)) as number[];
      tf.dispose([x, y]);
      lossSum += loss; accuracySum += acc; steps++;
    }
    tf.dispose([images, labels]);
    await afterEpoch({ epoch, loss: lossSum / steps, accuracy: accuracySum / steps, seconds: (Date.now() - started) / 1000 });
  }
}
