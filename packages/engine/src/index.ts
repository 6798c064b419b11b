/**
 * @featurevis/engine: activation maximisation with TensorFlow.js. The engine knows nothing of HTTP,
 * Redis or S3: load a model (`@featurevis/engine/models`), choose a backend
 * (`@featurevis/engine/backends`), and call `visualize(model, spec, options)`; `scoreImages(model, spec,
 * pngs)` scores finished images (another model's, say) by the same objective.
 *
 * The rooms, each a registry of small units under their request names (engine-spec in
 * @featurevis/contracts lists the same names): objectives, parameterizations, priors, transforms,
 * metrics, optimizers.
 */
export { visualize, DEFAULT_PROGRESS_EVERY_STEPS, type RunSummary } from './visualize.ts';
export { scoreImages, type ImageScore } from './score.ts';
export { resolveSettings, METHODS, PRESETS, type Method, type Preset, type ResolvedEngineSettings } from './presets.ts';
export { objectives, buildObjective, ComposableObjective, objective, weightedSum, classIndex, LOGITS, type ObjectiveContext, type ObjectiveFactory } from './objectives/index.ts';
export { optimizers, normalizeGradients, withRedirectedReluGradients, type OptimizerFactory } from './optimizers/index.ts';
export { transforms, type TransformName, type TransformFactory } from './transforms/index.ts';
export { metrics, highFrequencyEnergyOf, type Metric } from './metrics/index.ts';
export { parameterizations } from './parameterizations/index.ts';
export { priors } from './priors/index.ts';
export { createRandom } from './random.ts';
export { encodePng, encodeBatch, decodePng } from './png.ts';
export * from './types.ts';
export type * from './units.ts';
