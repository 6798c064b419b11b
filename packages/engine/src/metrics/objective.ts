/** `objective`: the objective's value on each final image, with no transform (what the unit says of the PNG). */
import * as tf from '@tensorflow/tfjs-core';
import { readValues, type Metric } from './metric.ts';

export const objective: Metric = async ({ images, model, objective }) => {
  const layers = [...objective.layers];
  const values = tf.tidy(() => {
    const outputs = model.activations(images, layers);
    return objective.value(new Map(layers.map((layer, i) => [layer, outputs[i]])), images.shape[0]);
  });
  return readValues(values);
};
