/**
 * The backend training runs on: WASM (XNNPACK forward convolutions) with the engine's input-gradient
 * kernels and this folder's weight-gradient kernels. Not `initBackend` from the engine: that also
 * installs the input-only gradient hook meant for activation maximization, which training does not need.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { registerWasmGradientKernels } from '@featurevis/engine/backends';
import { registerWeightGradientKernels } from './wasm-weight-gradients.ts';

const require = createRequire(import.meta.url);

export async function useTrainingBackend(name: 'wasm' | 'cpu' = 'wasm'): Promise<void> {
  if (name === 'wasm') {
    setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep);
    if (!(await tf.setBackend('wasm'))) throw new Error('the WASM backend did not initialise');
    registerWasmGradientKernels('wasm');
    registerWeightGradientKernels('wasm');
  } else if (!(await tf.setBackend('cpu'))) {
    throw new Error('the CPU backend did not initialise');
  }
}
