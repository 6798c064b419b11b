/**
 * What the engine's optimisation tests share: the WASM backend (the fast one on these CPUs), the
 * untrained fixture classifier of test/helpers/fixture-model.ts loaded in memory, a small default
 * request (16 px, 20 steps, seeded), and readers for the PNGs a run returns.
 *
 * The fixture is random, not trained: the tests that use it check the mechanics (an objective rises, a
 * prior changes the image the way it says), not what a unit means. What a trained model's classes look
 * like is checked on the bundled `shapes-a` (presets.test.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backends/index.ts';
import { loadModel, serializeLayersModel, serializedModelFiles } from '../../src/models/index.ts';
import { decodePng } from '../../src/png.ts';
import type { EncodedImage, LoadedModel, VisualizationOutput, VisualizationSpec } from '../../src/types.ts';
import { visualize } from '../../src/visualize.ts';
import { buildFixtureModel, FIXTURE_LABELS } from '../../../../test/helpers/fixture-model.ts';

export { FIXTURE_LABELS };

/**
 * The fixture's layers: conv1 (8 channels, relu, full size) → pool1 → conv2 (16 channels, relu, half
 * size) → gap → logits (4 classes, softmax; `logits/logits` and '@logits' are its pre-softmax scores).
 */
export const FIXTURE_ID = 'fixture';

/** Initialises the WASM backend (once per process) and loads the fixture classifier on it. */
export async function loadFixtureOnWasm(): Promise<LoadedModel> {
  await initBackend('wasm');
  const built = buildFixtureModel();
  const serialized = await serializeLayersModel(built);
  built.dispose();
  return loadModel(serializedModelFiles(serialized), {
    id: FIXTURE_ID,
    metadata: { labels: FIXTURE_LABELS, input: { range: [0, 1] } },
    defaultSizePx: 16,
  });
}

/** A request for the fixture: 16 px, 20 steps, seed 1, unless `spec` says otherwise. */
export function fixtureRequest(spec: Partial<VisualizationSpec> & Pick<VisualizationSpec, 'objective'>): VisualizationSpec {
  return { model: FIXTURE_ID, steps: 20, seed: 1, ...spec, image: { size: 16, ...spec.image } } as VisualizationSpec;
}

export function run(model: LoadedModel, spec: Partial<VisualizationSpec> & Pick<VisualizationSpec, 'objective'>): Promise<VisualizationOutput> {
  return visualize(model, fixtureRequest(spec));
}

/** The final objective (metric, no transforms) minus its value at the first step. */
export function gain(output: VisualizationOutput): number {
  return (output.metrics.objective as number) - output.trace[0];
}

/** An encoded image's pixels, HWC RGB in [0,1]. */
export function pixels(image: EncodedImage): Float32Array {
  return decodePng(image.png).rgb;
}

/** Mean |x − ½| over an image's pixels and channels: how far from grey it is. */
export function meanDistanceFromGrey(rgb: Float32Array): number {
  let total = 0;
  for (const value of rgb) total += Math.abs(value - 0.5);
  return total / rgb.length;
}

/** The metric's per-image values. */
export function perImage(output: VisualizationOutput, metric: string): Array<number | null> {
  return (output.metrics.perImage as Record<string, Array<number | null>>)[metric];
}

/** Runs `f` and returns how many tensors it left behind. */
export async function tensorsLeftBy(f: () => Promise<unknown>): Promise<number> {
  const before = tf.memory().numTensors;
  await f();
  return tf.memory().numTensors - before;
}
