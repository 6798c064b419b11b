/**
 * `scoreImages(model, spec, pngs)`: what a model says of finished images — the spec's objective and,
 * for a class objective, the target class's probability — without optimising anything. This is the
 * "transferability" of the survey's comparing-networks application: a visualisation made on one model,
 * scored by another (issue 5). `visualize` cannot do it (it always takes at least one step); this runs
 * the metrics room's `objective` and `classProbability` units on the decoded images instead.
 */
import * as tf from '@tensorflow/tfjs-core';
import { metrics } from './metrics/index.ts';
import { buildObjective, classIndex } from './objectives/index.ts';
import { decodePng } from './png.ts';
import { InvalidSpecError, type LoadedModel, type VisualizationSpec } from './types.ts';

export interface ImageScore {
  /** The objective's value on the image under this model (no transforms). */
  objective: number;
  /** The probability of the targeted class, for an image whose objective is a `class`; else null. */
  classProbability: number | null;
}

/**
 * Scores a batch of PNGs (all the same size; item i is scored with objective i when the objective is a
 * list, so pass a run's whole batch). Throws InvalidSpecError when the objective does not fit the model.
 */
export async function scoreImages(model: LoadedModel, spec: Pick<VisualizationSpec, 'objective'>, pngs: Uint8Array[]): Promise<ImageScore[]> {
  if (pngs.length === 0) return [];
  const decoded = pngs.map((png) => decodePng(png));
  const { width, height } = decoded[0]!;
  if (decoded.some((image) => image.width !== width || image.height !== height)) throw new InvalidSpecError('the images to score differ in size', 'images');
  const objective = buildObjective(spec.objective, { model, batchSize: pngs.length, imageSizePx: width });
  let images: tf.Tensor4D;
  try {
    images = tf.tidy(() => tf.stack(decoded.map((image) => tf.tensor3d(image.rgb, [height, width, 3]))) as tf.Tensor4D);
  } catch (error) {
    objective.dispose();
    throw error;
  }
  try {
    // A RunSummary of a run that never stepped: the final images are the given ones.
    const summary = { images, model, objective, classIndices: targetClasses(model, spec.objective, pngs.length), reference: null };
    const objectives = (await metrics.objective(summary)) ?? [];
    const probabilities = await metrics.classProbability(summary);
    return pngs.map((_, item) => ({ objective: objectives[item] ?? Number.NaN, classProbability: probabilities?.[item] ?? null }));
  } finally {
    images.dispose();
    objective.dispose();
  }
}

/** Per item, the class a top-level `class` objective targets (as visualize's classProbability metric reads it). */
function targetClasses(model: LoadedModel, objective: VisualizationSpec['objective'], batch: number): Array<number | null> {
  const classOf = (node: unknown, field: string): number | null =>
    node !== null && typeof node === 'object' && !Array.isArray(node) && (node as { type?: unknown }).type === 'class'
      ? classIndex(model, (node as { class: number | string }).class, field)
      : null;
  if (Array.isArray(objective)) return objective.map((node, i) => classOf(node, `objective[${i}]`));
  return Array.from({ length: batch }, () => classOf(objective, 'objective'));
}
