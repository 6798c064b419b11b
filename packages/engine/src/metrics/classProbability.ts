/**
 * `classProbability`: the softmax probability of the targeted class on each final image — the number
 * that says whether the model "sees" the class in the picture (Simonyan et al. 2014 report it). Null
 * for images whose objective is not a class.
 */
import * as tf from '@tensorflow/tfjs-core';
import { LOGITS } from '../objectives/class.ts';
import { readValues, type Metric } from './metric.ts';

export const classProbability: Metric = async ({ images, model, classIndices }) => {
  if (classIndices.every((index) => index === null) || model.info.output.logitsLayer === null) return null;
  const probabilities = await readValues(tf.tidy(() => {
    const [logits] = model.activations(images, [LOGITS]);
    return tf.reshape(tf.softmax(tf.reshape(logits, [images.shape[0], -1])), [-1]);
  }));
  const classes = probabilities.length / images.shape[0];
  return classIndices.map((index, item) => index === null ? null : probabilities[item * classes + index]);
};
