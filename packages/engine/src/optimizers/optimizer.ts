/** The shape of an optimiser unit: resolved optimiser settings → a tfjs optimiser (it minimises). */
import type * as tf from '@tensorflow/tfjs-core';
import type { Optimizer as OptimizerSettings } from '@featurevis/contracts';

export type OptimizerFactory = (settings: OptimizerSettings) => tf.Optimizer;
