/**
 * The reference image set (request field `reference`, issue 3 "how far beyond natural images" and
 * issue 5 "dataset examples"): each batch item's objective evaluated on every image of a set of natural
 * images — the bundled procedural `shapes` set (the bundled models' training distribution) or a set
 * uploaded through the API (datasets/referenceSets.ts). The metrics `referenceMax` and `referenceRatio` and the top-k / bottom-k dataset examples are read from
 * this one evaluation.
 *
 * What is evaluated is the unit, not the batch: `diversity` terms compare the batch items with each
 * other and have no value on one reference image, so they are dropped (`unitObjective`) — and the
 * final images are scored with the same diversity-free objective, so the ratio compares like with like.
 *
 * Item i of a per-item list or of an `interpolate` walk has its own objective, chosen by its position in
 * the batch. To read item i's objective on reference image r, r's activations are repeated at every
 * batch position and the run's objective reads position i: one model pass per reference image (in
 * chunks), one cheap objective evaluation per image. An objective the same for every item is evaluated
 * on the chunk directly.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Objective as ObjectiveSpec, ResolvedReference } from '@featurevis/contracts';
import { referenceImageSource, type ReferenceImageSource } from '../datasets/index.ts';
import { buildObjective, dependsOnPosition } from '../objectives/index.ts';
import { encodePng } from '../png.ts';
import type { DatasetExample, LoadedModel } from '../types.ts';
import type { Activations, Objective } from '../units.ts';

/** Reference images per model pass: bounds memory at large image sizes. */
export const REFERENCE_CHUNK_IMAGES = 64;

export interface ReferenceEvaluation {
  reference: ResolvedReference;
  sizePx: number;
  /** Where the images come from; `source.count` of them were evaluated. */
  source: ReferenceImageSource;
  /** values[item][image]: batch item's objective on each reference image. */
  values: Float32Array[];
  /** The same (diversity-free) objective on the run's final images, one per item. */
  finalValues: number[];
}

/**
 * The request's objective without its batch-relative `diversity` terms, or null when nothing else is
 * left (a diversity term alone has no reference value).
 */
export function unitObjective(spec: ObjectiveSpec): ObjectiveSpec | null {
  if (Array.isArray(spec)) {
    const items = spec.map(unitObjective);
    return items.every((item) => item !== null) ? items as ObjectiveSpec[] : null;
  }
  switch (spec.type) {
    case 'diversity': return null;
    case 'sum': {
      const terms = spec.terms.flatMap((term) => {
        const objective = unitObjective(term.objective);
        return objective === null ? [] : [{ ...term, objective }];
      });
      return terms.length > 0 ? { ...spec, terms } : null;
    }
    case 'negate': {
      const objective = unitObjective(spec.objective);
      return objective === null ? null : { ...spec, objective };
    }
    case 'interpolate': {
      const from = unitObjective(spec.from);
      const to = unitObjective(spec.to);
      return from === null || to === null ? null : { ...spec, from, to };
    }
    default: return spec;
  }
}

function layerActivations(model: LoadedModel, objective: Objective, images: tf.Tensor4D): Activations {
  const layers = [...objective.layers];
  const outputs = model.activations(images, layers);
  return new Map(layers.map((layer, i) => [layer, outputs[i]]));
}

/** Image `j` of every layer's activations, repeated `batch` times. */
function repeatImage(activations: Activations, j: number, batch: number): Activations {
  return new Map([...activations].map(([layer, tensor]) => {
    const one = tf.slice(tensor, [j, ...tensor.shape.slice(1).map(() => 0)], [1, ...tensor.shape.slice(1)]);
    return [layer, tf.tile(one, [batch, ...tensor.shape.slice(1).map(() => 1)])];
  }));
}

/**
 * Evaluates each batch item's objective on every reference image and on the final images. Null when
 * the objective has no unit part (only diversity). Every tensor it creates is disposed.
 */
export async function evaluateReferenceSet(
  model: LoadedModel,
  spec: { objective: ObjectiveSpec; reference: ResolvedReference; batch: number; sizePx: number; finalImages: tf.Tensor4D },
): Promise<ReferenceEvaluation | null> {
  const { reference, batch, sizePx } = spec;
  const unit = unitObjective(spec.objective);
  if (unit === null) return null;
  const objective = buildObjective(unit, { model, batchSize: batch, imageSizePx: sizePx });
  try {
    return await evaluateObjective(model, objective, unit, spec);
  } finally {
    objective.dispose();
  }
}

async function evaluateObjective(
  model: LoadedModel,
  objective: Objective,
  unit: ObjectiveSpec,
  spec: { reference: ResolvedReference; batch: number; sizePx: number; finalImages: tf.Tensor4D },
): Promise<ReferenceEvaluation> {
  const { reference, batch, sizePx } = spec;
  const source = referenceImageSource(reference.set, { seed: reference.seed, count: reference.count, sizePx, field: 'reference.set' });
  const perPosition = dependsOnPosition(unit);
  const values = Array.from({ length: batch }, () => new Float32Array(source.count));
  for (let start = 0; start < source.count; start += REFERENCE_CHUNK_IMAGES) {
    const count = Math.min(REFERENCE_CHUNK_IMAGES, source.count - start);
    const pixels = source.pixels(Array.from({ length: count }, (_, k) => start + k));
    // [batch, count]: row i is item i's objective on the chunk's images.
    const chunkValues = tf.tidy(() => {
      const activations = layerActivations(model, objective, tf.tensor4d(pixels, [count, sizePx, sizePx, 3]));
      if (!perPosition) return tf.tile(tf.reshape(objective.value(activations, count), [1, count]), [batch, 1]);
      const columns = Array.from({ length: count }, (_, j) => objective.value(repeatImage(activations, j, batch), batch));
      return tf.stack(columns, 1);
    });
    const read = await chunkValues.data();
    chunkValues.dispose();
    for (let item = 0; item < batch; item++) values[item].set(read.subarray(item * count, (item + 1) * count), start);
  }
  const finalTensor = tf.tidy(() => objective.value(layerActivations(model, objective, spec.finalImages), batch));
  const finalValues = Array.from(await finalTensor.data());
  finalTensor.dispose();
  return { reference, sizePx, source, values, finalValues };
}

/** Each item's largest objective value on the reference set. */
export function referenceMaxima(evaluation: ReferenceEvaluation): number[] {
  return evaluation.values.map((row) => row.reduce((max, value) => Math.max(max, value), -Infinity));
}

/**
 * Dataset examples: per batch item, the `reference.examples` reference images with the highest
 * objective (kind 'top', rank 0 the highest) and those with the lowest ('bottom', rank 0 the lowest),
 * read again from the set and encoded as PNGs. Ties go to the lower reference index.
 */
export function datasetExamples(evaluation: ReferenceEvaluation): DatasetExample[] {
  const { reference, sizePx, source } = evaluation;
  const k = Math.min(reference.examples, source.count);
  const examples: DatasetExample[] = [];
  evaluation.values.forEach((row, item) => {
    const order = Array.from(row.keys()).sort((a, b) => row[b] - row[a] || a - b);
    const bottomOrder = Array.from(row.keys()).sort((a, b) => row[a] - row[b] || a - b);
    const picks: Array<[DatasetExample['kind'], number[]]> = [['top', order.slice(0, k)], ['bottom', bottomOrder.slice(0, k)]];
    for (const [kind, indices] of picks) {
      indices.forEach((referenceIndex, rank) => {
        const pixels = source.pixels([referenceIndex]);
        examples.push({
          index: item, kind, rank, value: row[referenceIndex], referenceIndex, label: source.label(referenceIndex),
          width: sizePx, height: sizePx, png: encodePng(pixels, sizePx, sizePx),
        });
      });
    }
  });
  return examples;
}
