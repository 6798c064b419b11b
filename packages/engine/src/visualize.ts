/**
 * The optimisation loop: `visualize(model, spec)` synthesises the images that maximise the spec's
 * objective (activation maximisation; Erhan et al. 2009, and the survey in
 * /work/shared/seed/feature-visualization-survey.md). One step:
 *
 *   1. render the parameterisation to RGB images in [0,1];
 *   2. apply the random transforms, run the model, and compute objective − Σ weight·penalty;
 *   3. take the gradient with respect to the images (with Lucid's redirected ReLU gradient during the
 *      first `reluGradientOverrideSteps`; with `priorWeighting: 'relative'` the penalties' gradients are
 *      scaled by the objective gradient's RMS, see relativeLossGradient), optionally normalise it per image;
 *   4. carry it back to the parameterisation's variables (a vector-Jacobian product through `render`)
 *      and let the optimiser (Adam or SGD with momentum) take its step;
 *   5. run the priors' step hooks (blur every k steps, clipping).
 *
 * Taking the gradient at the images first (3) and the variables second (4) costs a second `render`,
 * which is cheap next to the model, and gives the step hooks and the normalisation the gradient in
 * pixel space whatever the parameterisation.
 *
 * Everything random draws from one seeded `Random` in a fixed order, so the same seed on the same
 * backend gives byte-identical PNGs. With `itemSeeds` (a batch of independent jobs) each item draws
 * from its own stream instead (random.ts), so an item's images are those of a batch-1 run with its
 * seed, whatever the batch. Every tensor a run creates is disposed before it returns.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Prior as PriorSpec, ResolvedEngineSettings, Transform as TransformSpec } from '@featurevis/contracts';
import { useWasmThreadsFor } from './backends/index.ts';
import { checkFacets, facetStarts, type FacetsSummary } from './facets.ts';
import { datasetExamples, evaluateReferenceSet, metrics as metricUnits, type ReferenceEvaluation } from './metrics/index.ts';
import { buildObjective, classIndex } from './objectives/index.ts';
import { normalizeGradients, optimizers, withRedirectedReluGradients } from './optimizers/index.ts';
import { isCodeParameterization, parameterizations, type ImageParameterization, type ParameterizationContext } from './parameterizations/index.ts';
import { encodeBatch } from './png.ts';
import { nativeConvActive, nativeConvInstructionSet } from './backends/wasm/native-conv.ts';
import { resolveSettings } from './presets.ts';
import { priors as priorUnits } from './priors/index.ts';
import { checkSamplingSpace } from './priors/latentDae.ts';
import { createRandom, itemRandomsOf } from './random.ts';
import { transforms as transformUnits } from './transforms/index.ts';
import { CanceledError, InvalidSpecError, type EncodedImage, type LoadedModel, type VisualizationOutput, type VisualizationSpec, type VisualizeOptions } from './types.ts';
import type { Activations, Objective, Penalty, Random, StepHook, Transform } from './units.ts';

export const DEFAULT_PROGRESS_EVERY_STEPS = 10;

interface WeightedPenalty { penalty: Penalty; weight: number }

/**
 * Multifaceted AM (facets.ts): clusters the objective's top reference images and writes cluster i's
 * mean image into batch item i, replacing the init. Draws from the run's Random after the
 * parameterisation's noise.
 */
async function startFromFacets(run: Run, model: LoadedModel, spec: VisualizationSpec): Promise<FacetsSummary> {
  const { facets, reference, image } = run.settings;
  const { images, summary } = await facetStarts(model, { objective: spec.objective, reference: reference!, facets: facets!, sizePx: image.size, random: run.random });
  try {
    run.parameterization.setImages!(images);
  } finally {
    images.dispose();
  }
  return summary;
}

/** The units a run is assembled from, built (and checked) before the first step. */
interface Run {
  settings: ResolvedEngineSettings;
  batch: number;
  objective: Objective;
  /** The model's activations of the layers the objective reads, by name. */
  activations(images: tf.Tensor4D): Activations;
  random: Random;
  /** One stream per batch item (random.ts itemRandomsOf); absent for a batch drawn from `random` alone. */
  itemRandoms?: readonly Random[];
  parameterization: ImageParameterization;
  transforms: Transform[];
  penalties: WeightedPenalty[];
  hooks: StepHook[];
  /** What the priors need done before the first step (the dae prior loads its autoencoder). */
  ready: Array<() => Promise<void>>;
  optimizer: tf.Optimizer;
  /** Σ over steps of |∂loss/∂image|, kept when the parameterisation records attributions (maco). */
  attributionSum: tf.Tensor4D | null;
}

export async function visualize(model: LoadedModel, spec: VisualizationSpec, options: VisualizeOptions = {}): Promise<VisualizationOutput> {
  const startedMs = performance.now();
  const run = assemble(model, spec);
  // A small run is faster on one thread than on WASM's pool (backends/wasm/node-threads.ts).
  const restoreThreads = useWasmThreadsFor(run.batch * run.settings.image.size ** 2);
  try {
    const { settings } = run;
    for (const ready of run.ready) await ready();
    await run.parameterization.ready?.();
    const facets = settings.facets ? await startFromFacets(run, model, spec) : null;
    const progressEverySteps = Math.max(1, options.progressEverySteps ?? DEFAULT_PROGRESS_EVERY_STEPS);
    const snapshotSteps = new Set(settings.snapshots);
    const trace: number[] = [];
    const snapshots: VisualizationOutput['snapshots'] = [];
    const loopStartedMs = performance.now();
    for (let step = 1; step <= settings.steps; step++) {
      if (options.isCanceled?.()) throw new CanceledError(`canceled before step ${step} of ${settings.steps}`);
      const objectiveMean = step <= settings.reluGradientOverrideSteps
        ? withRedirectedReluGradients(() => optimizationStep(run, step))
        : optimizationStep(run, step);
      trace.push(await readScalar(objectiveMean));
      if (snapshotSteps.has(step)) {
        for (const image of await renderPngs(run.parameterization)) snapshots.push({ ...image, step });
      }
      if (step % progressEverySteps === 0 || step === settings.steps) {
        options.onProgress?.({ step, steps: settings.steps, objective: trace[trace.length - 1] });
      }
    }
    const loopMs = performance.now() - loopStartedMs;
    const finalImages = run.parameterization.render();
    try {
      const images = await encodeBatch(finalImages);
      const attributions = run.attributionSum ? await encodeAttributions(run.attributionSum) : undefined;
      const reference = run.settings.reference
        ? await evaluateReferenceSet(model, { objective: spec.objective, reference: run.settings.reference, batch: run.batch, sizePx: run.settings.image.size, finalImages })
        : null;
      const metrics = await computeMetrics(run, model, spec, finalImages, reference);
      if (facets) metrics.facets = facets;
      const examples = run.settings.reference ? (reference ? datasetExamples(reference) : []) : undefined;
      const totalMs = performance.now() - startedMs;
      const meanStepMs = loopMs / settings.steps;
      return {
        images,
        ...(attributions ? { attributions } : {}),
        ...(examples ? { examples } : {}),
        snapshots,
        trace,
        metrics,
        settings: { model: spec.model, objective: spec.objective, ...settings, seed: spec.seed },
        backend: tf.getBackend(),
        ...(tf.getBackend() === 'wasm' ? { convolutions: (nativeConvActive() && nativeConvInstructionSet()) || 'xnnpack' as const } : {}),
        timings: { totalMs, meanStepMs, stepsPerSecond: 1000 / meanStepMs },
      };
    } finally {
      finalImages.dispose();
    }
  } finally {
    restoreThreads();
    run.parameterization.dispose();
    run.optimizer.dispose();
    run.attributionSum?.dispose();
    run.objective.dispose?.();
  }
}

/** Resolves the settings and builds every unit, so an invalid spec fails before any work. */
function assemble(model: LoadedModel, spec: VisualizationSpec): Run {
  const settings = resolveSettings(spec, model);
  checkFacets(spec, settings);
  checkSamplingSpace(settings);
  const { batch, size: sizePx } = settings.image;
  const objective = buildObjective(spec.objective, { model, batchSize: batch, imageSizePx: sizePx });
  try {
    return assembleAround(objective, model, spec, settings);
  } catch (error) {
    // The objective may hold tensors (an inversion's target activations); the run never starts.
    objective.dispose();
    throw error;
  }
}

function assembleAround(objective: Objective & { dispose(): void }, model: LoadedModel, spec: VisualizationSpec, settings: ResolvedEngineSettings): Run {
  const { batch, size: sizePx } = settings.image;
  const random = createRandom(spec.seed);
  const itemRandoms = itemRandomsFor(spec, batch, random);
  if (itemRandoms && itemRandoms.length > 1) {
    const scaleAt = settings.transforms.findIndex((transform) => transform.type === 'scale');
    if (scaleAt >= 0) throw new InvalidSpecError(`transforms[${scaleAt}]: the scale transform resizes the whole batch by one factor per step, so batch items cannot draw theirs apart; run items with a scale transform without itemSeeds`, 'itemSeeds');
  }
  const { penalties, hooks, hookFields, codeHookFields, ready } = buildPriors(settings.priors, { batch, sizePx, steps: settings.steps, random, ...(itemRandoms ? { itemRandoms } : {}) });
  const transforms = settings.transforms.map((transform, i) => buildTransform(transform, `transforms[${i}]`));
  const createParameterization = parameterizations[settings.parameterization.type] as ((options: unknown, context: ParameterizationContext) => ImageParameterization) | undefined;
  if (!createParameterization) throw new InvalidSpecError(`unknown parameterization "${settings.parameterization.type}"`, 'parameterization.type');
  const createOptimizer = optimizers[settings.optimizer.type];
  if (!createOptimizer) throw new InvalidSpecError(`unknown optimizer "${settings.optimizer.type}"`, 'optimizer.type');
  // The parameterisation draws its initial noise from `random` (or each item's stream) first, then the
  // transforms draw theirs step by step: the order is fixed, so a seed reproduces the run.
  const parameterization = createParameterization(settings.parameterization, {
    batch, sizePx, random, init: settings.init, ...(itemRandoms ? { itemRandoms } : {}),
    ...(model.info.input.mean ? { meanRgb: model.info.input.mean } : {}),
  });
  // A step hook (blur, clipping, L2 decay) writes the edited image back through the parameterisation's
  // inverse; refuse one without an inverse (cppn) now rather than at the hook's first step.
  if (hookFields.length > 0 && !parameterization.setImages) {
    parameterization.dispose();
    const field = hookFields[0];
    const type = settings.priors[Number(field.slice('priors['.length, -1))].type;
    throw new InvalidSpecError(`the ${type} prior edits the image between steps and needs an invertible parameterisation (pixel, fourier, laplacian); "${settings.parameterization.type}" has none`, field);
  }
  // A code hook (latentDae) writes the generator's latent back through `setCode`.
  if (codeHookFields.length > 0 && !isCodeParameterization(parameterization)) {
    parameterization.dispose();
    const field = codeHookFields[0];
    const type = settings.priors[Number(field.slice('priors['.length, -1))].type;
    throw new InvalidSpecError(`the ${type} prior edits the generator's code between steps and needs the generator parameterisation; "${settings.parameterization.type}" has no code`, field);
  }
  const optimizer = createOptimizer(settings.optimizer);
  const layers = [...objective.layers];
  const activations = (images: tf.Tensor4D): Activations => {
    const outputs = model.activations(images, layers);
    return new Map(layers.map((layer, i) => [layer, outputs[i]]));
  };
  const attributionSum = parameterization.recordsAttributions ? tf.zeros([batch, sizePx, sizePx, 3]) as tf.Tensor4D : null;
  return { settings, batch, objective, activations, random, ...(itemRandoms ? { itemRandoms } : {}), parameterization, transforms, penalties, hooks, ready, optimizer, attributionSum };
}

/** The priors' penalties and step hooks; `hookFields` names the request field of each hook's prior. */
/** The run's per-item streams; `itemSeeds` must give one valid seed per batch item. */
function itemRandomsFor(spec: VisualizationSpec, batch: number, random: Random): Random[] | undefined {
  try {
    return itemRandomsOf(random, spec.seed, batch, spec.itemSeeds);
  } catch (error) {
    if (error instanceof RangeError) throw new InvalidSpecError(error.message, 'itemSeeds');
    throw error;
  }
}

function buildPriors(specs: PriorSpec[], context: { batch: number; sizePx: number; steps: number; random: Random; itemRandoms?: readonly Random[] }): { penalties: WeightedPenalty[]; hooks: StepHook[]; hookFields: string[]; codeHookFields: string[]; ready: Array<() => Promise<void>> } {
  const penalties: WeightedPenalty[] = [];
  const ready: Array<() => Promise<void>> = [];
  const hooks: StepHook[] = [];
  const hookFields: string[] = [];
  const codeHookFields: string[] = [];
  specs.forEach((spec, i) => {
    const create = (priorUnits as Record<string, ((options: unknown, context: unknown) => { penalty?: Penalty; hook?: StepHook; acts?: 'image' | 'code'; ready?: () => Promise<void> }) | undefined>)[spec.type];
    if (!create) throw new InvalidSpecError(`unknown prior "${spec.type}"`, `priors[${i}].type`);
    const prior = create(spec, { ...context, field: `priors[${i}]` });
    if (prior.ready) ready.push(prior.ready);
    if (prior.penalty) penalties.push({ penalty: prior.penalty, weight: 'weight' in spec ? spec.weight ?? 1 : 1 });
    if (prior.hook) {
      hooks.push(prior.hook);
      (prior.acts === 'code' ? codeHookFields : hookFields).push(`priors[${i}]`);
    }
  });
  return { penalties, hooks, hookFields, codeHookFields, ready };
}

function buildTransform(spec: TransformSpec, field: string): Transform {
  const create = (transformUnits as Record<string, ((options: unknown, context: unknown) => Transform) | undefined>)[spec.type];
  if (!create) throw new InvalidSpecError(`unknown transform "${spec.type}"`, `${field}.type`);
  return create(spec, { field });
}

/**
 * One step of gradient ascent on objective − Σ weight·penalty. Returns the objective's batch mean at
 * this step's images (kept: the caller reads and disposes it).
 */
function optimizationStep(run: Run, step: number): tf.Scalar {
  let objectiveMean: tf.Scalar | undefined;
  try {
    tf.tidy(() => {
      const images = run.parameterization.render();
      // The optimiser minimises, so the loss gradient is minus the objective's. Sums (not means) over the
      // batch, so each image's gradient is that of its own objective whatever the batch size.
      const objectiveSum = (x: tf.Tensor): tf.Scalar => {
        let transformed = x as tf.Tensor4D;
        for (const transform of run.transforms) transformed = transform(transformed, run.random, run.itemRandoms);
        const values = run.objective.value(run.activations(transformed), run.batch);
        objectiveMean = tf.keep(tf.mean(values)) as tf.Scalar;
        return tf.sum(values) as tf.Scalar;
      };
      const penaltySum = (x: tf.Tensor): tf.Scalar => {
        let total: tf.Tensor = tf.scalar(0);
        for (const { penalty, weight } of run.penalties) total = tf.add(total, tf.mul(tf.sum(penalty(x as tf.Tensor4D)), weight));
        return total as tf.Scalar;
      };
      const lossGradient = run.penalties.length > 0 && run.settings.priorWeighting === 'relative'
        ? relativeLossGradient(images, objectiveSum, penaltySum)
        : tf.grad((x: tf.Tensor) => tf.neg(tf.sub(objectiveSum(x), penaltySum(x))) as tf.Scalar)(images) as tf.Tensor4D;
      if (run.attributionSum) {
        // Fel et al. 2023: the transparency map accumulates |∂loss/∂image| (before normalisation).
        const previous = run.attributionSum;
        run.attributionSum = tf.keep(tf.add(previous, tf.abs(lossGradient))) as tf.Tensor4D;
        previous.dispose();
      }
      const stepGradient = run.settings.optimizer.normalizeGradients ? normalizeGradients(lossGradient) : lossGradient;
      // The pixel gradient carried back to the parameterisation's variables, Jᵀg: render's
      // vector-Jacobian product at g (tf.grads with dy = g), one backward pass through render. The same
      // values as the gradient of Σ render(θ)·g, without its Multiply, Sum and their gradients (Tile,
      // two Casts, a Multiply): measured on WASM 0.67 → 0.25 ms a step at batch 64, 0.13 → 0.05 at 1.
      const { variables } = run.parameterization;
      const variableGradients = run.parameterization.variableGradients?.(stepGradient)
        ?? tf.grads(() => run.parameterization.render())(variables, stepGradient);
      run.optimizer.applyGradients(Object.fromEntries(variables.map((variable, i) => [variable.name, variableGradients[i]!])));
      if (run.hooks.length > 0) {
        const objectiveGradient = tf.neg(lossGradient) as tf.Tensor4D;
        for (const hook of run.hooks) hook({ step, parameterization: run.parameterization, images: () => run.parameterization.render(), gradients: objectiveGradient });
      }
    });
  } catch (error) {
    // The kept mean outlives the tidy scope: a step that fails after computing it must free it.
    (objectiveMean as tf.Scalar | undefined)?.dispose();
    throw error;
  }
  return objectiveMean!;
}

/**
 * `priorWeighting: 'relative'` (engine-spec PriorWeighting): −(g − s·N·Σ w·∂penalty/∂x) per batch item,
 * where g is the objective's pixel gradient, s its root mean square over the item's pixels and colours
 * and N the item's number of values (height·width·3).
 *
 * Why this scale: the penalties are means over the image, so N·∂penalty/∂x is the slope of one pixel's
 * own term (l2: 2(x − ½)); g/s is the objective's gradient at unit RMS per pixel, whatever the
 * objective's units — the survey's point that a regulariser weight is only meaningful next to a
 * normalised objective (Simonyan et al. 2014 fix it per class model; Mahendran & Vedaldi 2015 divide the
 * inversion loss by ||Φ0||² for the same reason). Unit RMS rather than unit L2 norm so the balance does
 * not change with the image size. The sum is multiplied back by s, so the step has the objective's
 * own scale: with SGD the learning rate keeps its meaning, and `normalizeGradients` still divides the
 * combined gradient by its RMS afterwards.
 */
function relativeLossGradient(images: tf.Tensor4D, objectiveSum: (x: tf.Tensor) => tf.Scalar, penaltySum: (x: tf.Tensor) => tf.Scalar): tf.Tensor4D {
  // The gradient of minus the objective, as the optimiser's loss: the redirected ReLU gradient reads the
  // sign of its incoming gradient in that convention (optimizers/redirected-relu-gradient.ts).
  const objectiveLossGradient = tf.grad((x: tf.Tensor) => tf.neg(objectiveSum(x)) as tf.Scalar)(images) as tf.Tensor4D;
  const penaltyGradient = tf.grad(penaltySum)(images) as tf.Tensor4D;
  const [, height, width, channels] = images.shape;
  // A floor on s keeps the penalties acting (weakly) where the objective's gradient vanishes.
  const rms = tf.maximum(tf.sqrt(tf.mean(tf.square(objectiveLossGradient), [1, 2, 3], true)), 1e-12);
  return tf.add(objectiveLossGradient, tf.mul(penaltyGradient, tf.mul(rms, height * width * channels))) as tf.Tensor4D;
}

/** Attribution sums → grey PNGs: mean over colour, each image scaled so its largest value is 1. */
async function encodeAttributions(sum: tf.Tensor4D): Promise<EncodedImage[]> {
  const maps = tf.tidy(() => {
    const grey = tf.mean(sum, 3, true);
    const scaled = tf.div(grey, tf.maximum(tf.max(grey, [1, 2, 3], true), 1e-12));
    return tf.tile(scaled, [1, 1, 1, 3]) as tf.Tensor4D;
  });
  try {
    return await encodeBatch(maps);
  } finally {
    maps.dispose();
  }
}

async function readScalar(scalar: tf.Scalar): Promise<number> {
  try {
    return (await scalar.data())[0];
  } finally {
    scalar.dispose();
  }
}

async function renderPngs(parameterization: ImageParameterization): Promise<EncodedImage[]> {
  const images = parameterization.render();
  try {
    return await encodeBatch(images);
  } finally {
    images.dispose();
  }
}

/**
 * What a metric unit (src/metrics) is given about a finished run. Each returns one value per batch
 * image, or null where it does not apply (no class probability without a class objective).
 */
export interface RunSummary {
  /** The final images, NHWC RGB in [0,1], as encoded (no transforms). */
  images: tf.Tensor4D;
  model: LoadedModel;
  /** The objective that was maximised; evaluate it with `model.activations(images, objective.layers)`. */
  objective: Objective;
  /** Per batch image, the class its objective targets (a `class` objective), else null. */
  classIndices: Array<number | null>;
  /** Each item's objective on the request's reference image set; null without `reference`. */
  reference: ReferenceEvaluation | null;
}

/** The class each batch image's objective targets, for the class-probability metric. */
function targetClasses(spec: VisualizationSpec, model: LoadedModel, batch: number): Array<number | null> {
  const classOf = (node: unknown, field: string): number | null =>
    node !== null && typeof node === 'object' && !Array.isArray(node) && (node as { type?: unknown }).type === 'class'
      ? classIndex(model, (node as { class: number | string }).class, field)
      : null;
  if (Array.isArray(spec.objective)) return spec.objective.map((node, i) => classOf(node, `objective[${i}]`));
  return Array.from({ length: batch }, () => classOf(spec.objective, 'objective'));
}

/**
 * Every metric of the metrics room on the final images: `metrics[name]` is the batch mean and
 * `metrics.perImage[name]` the values per image (null where the metric does not apply).
 */
async function computeMetrics(run: Run, model: LoadedModel, spec: VisualizationSpec, images: tf.Tensor4D, reference: ReferenceEvaluation | null): Promise<Record<string, unknown>> {
  const summary: RunSummary = { images, model, objective: run.objective, classIndices: targetClasses(spec, model, run.batch), reference };
  const result: Record<string, unknown> = {};
  const perImage: Record<string, Array<number | null> | null> = {};
  for (const [name, metric] of Object.entries(metricUnits as Record<string, (summary: RunSummary) => Promise<Array<number | null> | null> | Array<number | null> | null>)) {
    const values = await metric(summary);
    perImage[name] = values;
    const present = (values ?? []).filter((value): value is number => value !== null);
    result[name] = present.length > 0 ? present.reduce((a, b) => a + b, 0) / present.length : null;
  }
  result.perImage = perImage;
  return result;
}
