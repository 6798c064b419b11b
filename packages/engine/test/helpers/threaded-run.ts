/**
 * Run in a child process by wasm-threads.test.ts (the WASM backend's thread count is fixed when it first
 * initialises, once per process): initialises WASM with `WASM_THREADS` threads (XNNPACK's with
 * NATIVE_CONV=0, else the convolution addon's where it is available) and runs two short
 * visualisations on shapes-a (convolutions, max pooling and their gradients: the MaxPoolGrad kernel is
 * forced onto its in-place SIMD path, in the shared heap when threaded): a batch of 4 (4,096 pixels a
 * step: threaded) and a batch of 1 (1,024: switched to one thread). Prints one JSON line: the thread
 * count, what tfjs-backend-wasm reports while a small run has the threads switched off and after, and a
 * hash of each PNG. Then it returns without exiting explicitly: the test also checks that the pthreads
 * do not keep the process alive.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { visualize } from '../../src/index.ts';
import { initBackend, useWasmThreadsFor } from '../../src/backends/index.ts';
import { useMaxPoolGradPath } from '../../src/backends/wasm/max-pool-grad.ts';
import { loadModelFromDirectory } from '../../src/models/index.ts';
import { shapesDir } from './shapes-a.ts';

// BREAK_THREADED_BUILD: reading the threaded build's .wasm fails (as if it could not load here), to
// check that the backend then starts single-threaded instead of failing.
if (process.env.BREAK_THREADED_BUILD) {
  const fs = createRequire(import.meta.url)('node:fs') as typeof import('node:fs');
  const readFileSync = fs.readFileSync;
  fs.readFileSync = ((file: Parameters<typeof readFileSync>[0], ...rest: unknown[]) => {
    if (String(file).endsWith('tfjs-backend-wasm-threaded-simd.wasm')) throw new Error('broken by the test');
    return (readFileSync as (...args: unknown[]) => unknown)(file, ...rest);
  }) as typeof readFileSync;
}
// NATIVE_CONV=0: XNNPACK runs the convolutions (and starts the threads) even where the convolution addon could.
const selected = await initBackend('wasm', { wasmThreads: Number(process.env.WASM_THREADS), wasmThreadsMinPixels: 4096, nativeConv: process.env.NATIVE_CONV !== '0' });
const reportedThreads = () => (tf.backend() as unknown as { wasm: { tfjs: { getThreadsCount(): number } } }).wasm.tfjs.getThreadsCount();
const restore = useWasmThreadsFor(1024);
const duringSmallRun = reportedThreads();
restore();
const afterSmallRun = reportedThreads();

const model = await loadModelFromDirectory(shapesDir, 'shapes-a');
useMaxPoolGradPath('simdInPlace');
const hashes: string[] = [];
for (const channels of [[0, 5, 9, 13], [21]]) {
  const objective = channels.map((channel) => ({ type: 'channel' as const, layer: 'conv2', channel }));
  const output = await visualize(model, { model: 'shapes-a', objective, steps: 6, image: { size: 32, batch: channels.length }, seed: 7, method: 'yosinski' });
  hashes.push(...output.images.map((image) => createHash('sha256').update(image.png).digest('hex')));
}
model.dispose();
console.log(JSON.stringify({ threads: selected.threads, threadsFromPixels: selected.threadsFromPixels ?? null, nativeConv: selected.nativeConv ?? null, duringSmallRun, afterSmallRun, pngSha256: hashes }));
