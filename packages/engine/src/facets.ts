/**
 * Multifaceted activation maximisation (Nguyen, Yosinski & Clune 2016; request field `facets`). A unit
 * often responds to several different things (a class "cross" drawn as a red + or as a blue ×); one
 * optimisation from noise finds one of them, or a blend. The paper's recipe, as here:
 *
 *   1. evaluate the objective on every image of the reference set and keep the `top` highest (for a
 *      class objective: the `top` most probable images of the class, see `classOf`);
 *   2. describe each of those by its activations and cluster them into k groups (k-means);
 *   3. start batch item i from the mean image of cluster i, and optimise as usual.
 *
 * Features (step 2): a class objective reads the logits, which say little more than "this class", so
 * its images are described at the layer feeding the logits (the paper clusters fc7, the penultimate
 * layer; on the bundled models that is `global_pool`). Any other objective is described at the layers
 * it reads. Each layer's activations are averaged over space per channel (a [c] vector per image), so
 * the same thing at two positions is one facet, and the vectors of several layers are concatenated.
 *
 * The clusters are ordered by size (largest first; ties by their best-ranked member), so facet 0 is the
 * unit's most common facet. k-means draws its k-means++ seeds from the run's `Random` (after the
 * parameterisation's noise and before the transforms'), so a seed reproduces the facets.
 */
import * as tf from '@tensorflow/tfjs-core';
import { facetsProblem, type Objective as ObjectiveSpec, type ResolvedEngineSettings, type ResolvedFacets, type ResolvedReference } from '@featurevis/contracts';
import { referenceImageSource, type ReferenceImageSource } from './datasets/index.ts';
import { unitObjective } from './metrics/referenceSet.ts';
import { buildObjective, classIndex, LOGITS } from './objectives/index.ts';
import { InvalidSpecError, type LoadedModel, type VisualizationSpec } from './types.ts';
import type { Objective, Random } from './units.ts';

/** Reference images per model pass (bounds memory at large image sizes). */
const CHUNK_IMAGES = 64;
const MAX_KMEANS_ITERATIONS = 100;

/** What `metrics.facets` reports about the clustering. */
export interface FacetsSummary {
  k: number;
  /** How many top reference images were clustered. */
  top: number;
  /** The layers whose per-channel spatial means were clustered. */
  layers: string[];
  /** One per facet, in batch order. */
  clusters: Array<{
    /** Top reference images in the cluster. */
    size: number;
    /** Which images of the reference set, best first. */
    referenceIndices: number[];
    /** The objective's mean on the cluster's images. */
    meanValue: number;
    /** The objective on the cluster's mean image: where the optimisation of this facet starts. */
    startValue: number;
  }>;
}

/**
 * Checks a facets request before any work (contracts' facetsProblem, which the API checks before
 * queueing): an InvalidSpecError naming the field otherwise.
 */
export function checkFacets(spec: VisualizationSpec, settings: ResolvedEngineSettings): void {
  const problem = facetsProblem(spec, settings);
  if (problem) throw new InvalidSpecError(`${problem.field}: ${problem.message}`, problem.field);
}

/**
 * The k facets' mean images [k, size, size, 3] in [0,1] (the caller disposes them) and their summary.
 * Every other tensor it creates is disposed.
 */
export async function facetStarts(
  model: LoadedModel,
  options: { objective: ObjectiveSpec; reference: ResolvedReference; facets: ResolvedFacets; sizePx: number; random: Random },
): Promise<{ images: tf.Tensor4D; summary: FacetsSummary }> {
  const { reference, facets, sizePx } = options;
  const source = referenceImageSource(reference.set, { seed: reference.seed, count: reference.count, sizePx, field: 'reference.set' });
  if (source.count < facets.k) throw new InvalidSpecError(`reference set "${reference.set}" has ${source.count} images; facets.k (${facets.k}) needs at least as many`, 'facets.k');
  const unit = unitObjective(options.objective);
  if (unit === null) throw new InvalidSpecError('facets need an objective besides diversity terms', 'facets');
  const objective = buildObjective(unit, { model, batchSize: 1, imageSizePx: sizePx });
  try {
    const layers = featureLayers(model, objective);
    // 1. The objective on every reference image; the `top` best by rank value (ties to the lower index).
    const ranked = classOf(model, unit);
    const values = new Float32Array(source.count);
    const rankValues = new Float32Array(source.count);
    for (let start = 0; start < source.count; start += CHUNK_IMAGES) {
      const count = Math.min(CHUNK_IMAGES, source.count - start);
      const [chunk, rankChunk] = tf.tidy(() => {
        const images = referenceTensor(source, range(start, count), sizePx);
        const outputs = model.activations(images, [...objective.layers]);
        const value = objective.value(new Map(objective.layers.map((layer, i) => [layer, outputs[i]])), count);
        if (ranked === null) return [value, value.clone()];
        const logProbabilities = tf.logSoftmax(model.activations(images, [LOGITS])[0] as tf.Tensor2D);
        return [value, tf.reshape(tf.slice(logProbabilities, [0, ranked], [count, 1]), [count])];
      });
      values.set(await chunk.data(), start);
      rankValues.set(await rankChunk.data(), start);
      chunk.dispose();
      rankChunk.dispose();
    }
    const order = Array.from(rankValues.keys()).sort((a, b) => rankValues[b] - rankValues[a] || a - b);
    const top = order.slice(0, Math.min(facets.top, source.count));

    // 2. Features of the top images, clustered.
    const featureTensor = tf.tidy(() => {
      const outputs = model.activations(referenceTensor(source, top, sizePx), layers);
      return tf.concat(outputs.map((output) => (output.rank === 4 ? tf.mean(output, [1, 2]) : tf.reshape(output, [top.length, -1]))), 1) as tf.Tensor2D;
    });
    const [n, dims] = featureTensor.shape;
    const flat = await featureTensor.data();
    featureTensor.dispose();
    const features = Array.from({ length: n }, (_, i) => flat.subarray(i * dims, (i + 1) * dims));
    const assignment = kMeans(features, facets.k, options.random);
    const members = Array.from({ length: facets.k }, (_, c) => top.filter((_, i) => assignment[i] === c));
    // Largest first; ties by the best-ranked member (members keep `top`'s order).
    members.sort((a, b) => b.length - a.length || top.indexOf(a[0]) - top.indexOf(b[0]));

    // 3. Each cluster's mean image, and the objective there.
    const images = tf.tidy(() => tf.stack(members.map((indices) => tf.mean(referenceTensor(source, indices, sizePx), 0))) as tf.Tensor4D);
    const startTensor = tf.tidy(() => {
      const outputs = model.activations(images, [...objective.layers]);
      return objective.value(new Map(objective.layers.map((layer, i) => [layer, outputs[i]])), facets.k);
    });
    const startValues = await startTensor.data();
    startTensor.dispose();
    const summary: FacetsSummary = {
      k: facets.k, top: top.length, layers,
      clusters: members.map((indices, c) => ({
        size: indices.length,
        referenceIndices: indices,
        meanValue: indices.reduce((sum, index) => sum + values[index], 0) / indices.length,
        startValue: startValues[c],
      })),
    };
    return { images, summary };
  } finally {
    objective.dispose();
  }
}

/**
 * The class of a `class` objective, whose reference images are ranked by the class's probability
 * rather than its logit; null for any other objective (ranked by its own value). A logit is not
 * comparable across images: on shapes-a the cross logit is higher on checkerboards and red images,
 * which the model calls checkerboard and red, than on any cross. The paper clusters the training
 * images of the class; the most probable images of the class are the label-free equivalent.
 */
function classOf(model: LoadedModel, unit: ObjectiveSpec): number | null {
  return !Array.isArray(unit) && unit.type === 'class' ? classIndex(model, unit.class, 'objective') : null;
}

/**
 * The layers that describe an image for clustering: the objective's layers, with the logits replaced
 * by the layer feeding them (the one listed just before the logits layer; the logits themselves when
 * none is known).
 */
function featureLayers(model: LoadedModel, objective: Objective): string[] {
  const layers = objective.layers.map((layer) => {
    if (layer !== LOGITS) return layer;
    const index = model.info.layers.findIndex((info) => info.name === model.info.output.logitsLayer);
    return index > 0 ? model.info.layers[index - 1].name : LOGITS;
  });
  return [...new Set(layers)];
}

function range(start: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start + i);
}

/** Images `indices` of the reference set, NHWC in [0,1]. */
function referenceTensor(source: ReferenceImageSource, indices: number[], sizePx: number): tf.Tensor4D {
  return tf.tensor4d(source.pixels(indices), [indices.length, sizePx, sizePx, 3]);
}

/**
 * k-means (Lloyd's iterations from k-means++ seeds; Arthur & Vassilvitskii 2007) on a few dozen
 * vectors: the cluster index of each. Hand-written rather than ml-kmeans because it is thirty lines,
 * because its seeds must come from the run's Random for a run to be reproducible from its seed, and
 * because a dependency would be a package change beyond this unit. An emptied cluster takes the point
 * farthest from its centre, so every facet has at least one image.
 */
export function kMeans(points: ArrayLike<number>[], k: number, random: Random): Int32Array {
  const distance = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
    let sum = 0;
    for (let d = 0; d < a.length; d++) sum += (a[d] - b[d]) ** 2;
    return sum;
  };
  const centres: Float64Array[] = [Float64Array.from(points[Math.floor(random.next() * points.length)])];
  while (centres.length < k) {
    const weights = points.map((p) => Math.min(...centres.map((c) => distance(p, c))));
    const total = weights.reduce((a, b) => a + b, 0);
    let pick = 0;
    if (total > 0) {
      let r = random.next() * total;
      while (pick < points.length - 1 && (r -= weights[pick]) >= 0) pick++;
    } else {
      pick = centres.length; // every point sits on a centre: any other point will do
    }
    centres.push(Float64Array.from(points[pick]));
  }
  const assignment = new Int32Array(points.length).fill(-1);
  for (let iteration = 0; iteration < MAX_KMEANS_ITERATIONS; iteration++) {
    let changed = false;
    points.forEach((p, i) => {
      let best = 0;
      for (let c = 1; c < k; c++) if (distance(p, centres[c]) < distance(p, centres[best])) best = c;
      if (assignment[i] !== best) { assignment[i] = best; changed = true; }
    });
    for (let c = 0; c < k; c++) {
      if (!assignment.includes(c)) {
        // The point farthest from its centre among clusters that can spare one.
        const sizes = Array.from({ length: k }, (_, j) => assignment.filter((a) => a === j).length);
        let farthest = -1;
        let farthestDistance = -1;
        points.forEach((p, i) => {
          const d = distance(p, centres[assignment[i]]);
          if (sizes[assignment[i]] > 1 && d > farthestDistance) { farthest = i; farthestDistance = d; }
        });
        assignment[farthest] = c;
        changed = true;
      }
    }
    if (!changed) break;
    for (let c = 0; c < k; c++) {
      const mine = points.filter((_, i) => assignment[i] === c);
      centres[c] = Float64Array.from({ length: points[0].length }, (_, d) => mine.reduce((sum, p) => sum + p[d], 0) / mine.length);
    }
  }
  return assignment;
}
