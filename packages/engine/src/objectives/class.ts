/**
 * `class`: the pre-softmax score (logit) of a class. Simonyan, Vedaldi & Zisserman (2014) maximise the
 * logit rather than the probability because the softmax can be raised by lowering the other classes
 * instead of drawing this one. `score: 'logProbability'` gives log p(y|x) instead, the class term of
 * PPGN sampling (Nguyen et al. 2017), where the DAE prior keeps the image from gaming the softmax.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ObjectiveTerm } from '@featurevis/contracts';
import { InvalidSpecError, type LoadedModel } from '../types.ts';
import type { ObjectiveFactory } from './context.ts';
import { activationsOf, objective, sliceChannel } from './objective.ts';

export type ClassSpec = Extract<ObjectiveTerm, { type: 'class' }>;

/** The name under which the model gives its pre-softmax class scores (see models/loadModel.ts). */
export const LOGITS = '@logits';

/** A class index from an index or one of the model's labels, or an InvalidSpecError at `<field>.class`. */
export function classIndex(model: LoadedModel, ref: number | string, field: string): number {
  const { classes } = model.info.output;
  if (typeof ref === 'number') {
    if (!Number.isInteger(ref) || ref < 0 || ref >= classes) throw new InvalidSpecError(`class ${ref} is out of range: model "${model.id}" has ${classes} classes (0–${classes - 1})`, `${field}.class`);
    return ref;
  }
  const labels = model.info.labels;
  if (!labels) throw new InvalidSpecError(`model "${model.id}" has no labels; give the class as an index (0–${classes - 1})`, `${field}.class`);
  const index = labels.indexOf(ref);
  if (index < 0) {
    const shown = labels.slice(0, 12).map((label) => `"${label}"`).join(', ');
    throw new InvalidSpecError(`model "${model.id}" has no class labelled "${ref}"; its labels are ${shown}${labels.length > 12 ? ', …' : ''}`, `${field}.class`);
  }
  return index;
}

export const classLogit: ObjectiveFactory<ClassSpec> = (spec, { model, field }) => {
  if (model.info.output.logitsLayer === null) {
    throw new InvalidSpecError(`model "${model.id}" has no pre-softmax class scores (its output "${model.info.output.layer}" is not a softmax)`, `${field}.type`);
  }
  const index = classIndex(model, spec.class, field);
  const label = model.info.labels?.[index];
  if (spec.score === 'logProbability') {
    // log p(y|x) = logit_y − log Σ_k exp(logit_k): PPGN's class term (Nguyen et al. 2017).
    return objective(`class ${index}${label === undefined ? '' : ` "${label}"`} (log probability)`, [LOGITS], (activations) =>
      tf.reshape(sliceChannel(tf.logSoftmax(activationsOf(activations, LOGITS)), index), [-1]) as tf.Tensor1D);
  }
  return objective(`class ${index}${label === undefined ? '' : ` "${label}"`} (logit)`, [LOGITS], (activations) =>
    tf.reshape(sliceChannel(activationsOf(activations, LOGITS), index), [-1]) as tf.Tensor1D);
};
