/**
 * `sgd`: gradient steps with (heavy-ball) momentum, as in Yosinski et al. (2015), whose clipping and
 * blur are tuned for plain gradient steps. Momentum 0 is plain gradient ascent (Erhan et al. 2009).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { OptimizerFactory } from './optimizer.ts';

export const sgd: OptimizerFactory = ({ learningRate, momentum }) => {
  if (momentum === 0) return tf.train.sgd(learningRate);
  const optimizer = tf.train.momentum(learningRate, momentum);
  // tfjs 4.22's MomentumOptimizer.dispose() frees its momentum state but not the learning-rate scalar
  // (`c`) that it inherits from SGDOptimizer, so every run would leak one tensor.
  const disposeMomentum = optimizer.dispose.bind(optimizer);
  optimizer.dispose = () => {
    disposeMomentum();
    (optimizer as unknown as { c?: tf.Tensor }).c?.dispose();
  };
  return optimizer;
};
