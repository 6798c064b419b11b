/**
 * `adam` (Kingma & Ba 2015): the default, as in Lucid's render_vis. Its per-variable step size makes the
 * learning rate independent of the objective's scale, which differs by orders of magnitude between a
 * logit and a mid-layer channel.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OptimizerFactory } from './optimizer.ts';

export const adam: OptimizerFactory = ({ learningRate }) => tf.train.adam(learningRate);
