/**
 * The trained bundled classifier `shapes-a` on the WASM backend, loaded once per test file. Tests that
 * need it skip with `skipWithoutShapesA` until models/shapes-a exists (bundled-models.test.ts requires it).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../../src/backends/index.ts';
import { loadModelFromDirectory } from '../../src/models/index.ts';
import type { LoadedModel } from '../../src/types.ts';

export const shapesDir = fileURLToPath(new URL('../../../../models/shapes-a/', import.meta.url));
export const skipWithoutShapesA: false | string = existsSync(`${shapesDir}model.json`) ? false : 'models/shapes-a is not there yet';

let loaded: LoadedModel | undefined;
export async function shapesA(): Promise<LoadedModel> {
  if (!loaded) {
    await initBackend('wasm');
    loaded = await loadModelFromDirectory(shapesDir, 'shapes-a');
  }
  return loaded;
}

/** Frees the cached model (a test that checks every tensor is freed ends with it). */
export function disposeShapesA(): void {
  loaded?.dispose();
  loaded = undefined;
}

/** The classifier's probability of `className` on each 32-px RGB image (as decoded from a PNG). */
export function classProbabilities(model: LoadedModel, images: Float32Array[], className: string): number[] {
  const classIndex = model.info.labels!.indexOf(className);
  return tf.tidy(() => {
    const batch = tf.tensor4d(Float32Array.from(images.flatMap((image) => [...image])), [images.length, 32, 32, 3]);
    const [probs] = model.activations(batch, [model.info.output.layer]);
    return (probs.arraySync() as number[][]).map((row) => row[classIndex]);
  });
}

/** Root-mean-square pixel difference of two images. */
export function rmsDistance(a: Float32Array, b: Float32Array): number {
  let total = 0;
  for (let i = 0; i < a.length; i++) total += (a[i] - b[i]) ** 2;
  return Math.sqrt(total / a.length);
}

/**
 * What a sampler's output must be (the PPGN tests): every sample classified as `className` with
 * p ≥ 0.9, and every two samples more than 0.03 apart (RMS), so the chain does not return one image.
 */
export function assertDistinctSamplesOf(model: LoadedModel, images: Float32Array[], className: string): void {
  const p = classProbabilities(model, images, className);
  for (const [i, value] of p.entries()) assert.ok(value >= 0.9, `sample ${i}: p(${className}) = ${value}`);
  for (let i = 0; i < images.length; i++) {
    for (let j = i + 1; j < images.length; j++) {
      const distance = rmsDistance(images[i], images[j]);
      assert.ok(distance > 0.03, `samples ${i} and ${j} differ by only ${distance} (RMS)`);
    }
  }
}
