/**
 * The checks a request's schema cannot make, because they depend on the model or the configuration
 * (unknown layer, channel out of range, steps over MAX_STEPS), and the defaults the server fills in.
 * Everything is checked before anything is queued.
 */
import { randomInt } from 'node:crypto';
import { DEFAULT_BATCH, DEFAULT_METHOD, DEFAULT_STEPS, facetsProblem, MAX_COMPARE_MODELS, REFERENCE_SETS, resolveEngineSettings, type EngineSettingsRequest, type JobRequest, type ModelView, type ReferenceSetView } from '@featurevis/contracts';
import type { Config } from '@featurevis/config';
import type { JobSpec } from '@featurevis/queue';
import { referenceSetsNamed } from '@featurevis/catalog';
import { ApiError } from './problems.ts';

type Limits = Pick<Config, 'maxSteps' | 'maxImageSizePx' | 'maxBatch'>;
type Settings = Pick<JobRequest, 'steps' | 'image' | 'seed' | 'method'> & { facets?: JobRequest['facets'] };

function closest(name: string, options: string[]): string {
  const scored = options.map((o) => [o, levenshtein(name.toLowerCase(), o.toLowerCase())] as const).sort((a, b) => a[1] - b[1]);
  return scored.slice(0, 3).map(([o]) => `"${o}"`).join(', ');
}

function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!; d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length]!;
}

export function checkLayer(model: ModelView, layer: string, field: string) {
  const info = model.layers.find((l) => l.name === layer);
  if (!info) throw new ApiError(422, `${field}: model "${model.id}" has no layer "${layer}"; closest: ${closest(layer, model.layers.map((l) => l.name))} (GET /v1/models/${model.id} lists them)`, field);
  return info;
}

export function checkClass(model: ModelView, ref: number | string, field: string) {
  if (typeof ref === 'number') {
    if (ref >= model.output.classes) throw new ApiError(422, `${field}: class ${ref} is out of range; model "${model.id}" has ${model.output.classes} classes (0–${model.output.classes - 1})`, field);
    return;
  }
  if (!model.labels) throw new ApiError(422, `${field}: model "${model.id}" has no class labels; give a class index`, field);
  if (!model.labels.includes(ref)) throw new ApiError(422, `${field}: model "${model.id}" has no class "${ref}"; labels: ${model.labels.slice(0, 20).join(', ')}`, field);
}

/**
 * Walks an objective (which may nest objectives, or be a list with one per batch item) and checks every
 * layer, channel and class it names against the model.
 */
export function checkObjective(model: ModelView, objective: unknown, field: string): void {
  if (Array.isArray(objective)) { objective.forEach((o, i) => checkObjective(model, o, `${field}[${i}]`)); return; }
  if (!objective || typeof objective !== 'object') return;
  const node = objective as Record<string, unknown>;
  if (typeof node.layer === 'string') {
    const info = checkLayer(model, node.layer, `${field}.layer`);
    for (const key of ['channel', 'channels'] as const) {
      const value = node[key];
      const list = Array.isArray(value) ? value : typeof value === 'number' ? [value] : [];
      for (const c of list) {
        if (typeof c === 'number' && c >= info.channels) {
          throw new ApiError(422, `${field}.${key}: channel ${c} is out of range; layer "${info.name}" has ${info.channels} channels (0–${info.channels - 1})`, `${field}.${key}`);
        }
      }
    }
    if (Array.isArray(node.vector) && node.vector.length !== info.channels) {
      throw new ApiError(422, `${field}.vector: has ${node.vector.length} entries; layer "${info.name}" has ${info.channels} channels`, `${field}.vector`);
    }
  }
  if (node.type === 'class' && (typeof node.class === 'number' || typeof node.class === 'string')) checkClass(model, node.class, `${field}.class`);
  // An inversion's target: only the PNG signature here (cheap); the engine decodes it and names the field too.
  if (node.type === 'inversion' && typeof node.image === 'string' && !startsWithPngSignature(node.image)) {
    throw new ApiError(422, `${field}.image: not a base64 PNG (no PNG signature)`, `${field}.image`);
  }
  for (const [key, value] of Object.entries(node)) {
    if (value && typeof value === 'object' && key !== 'vector' && key !== 'region' && key !== 'position') checkObjective(model, value, `${field}.${key}`);
  }
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Whether a base64 string starts with the 8 bytes every PNG starts with (12 characters decode to 9 bytes). */
function startsWithPngSignature(base64: string): boolean {
  return Buffer.from(base64.slice(0, 12), 'base64').subarray(0, 8).equals(PNG_SIGNATURE);
}

/** Checks limits that depend on the configuration and fills the defaults; returns what the worker runs. */
export function resolveSettings<T extends Settings>(request: T, model: ModelView, limits: Limits): T & Required<Pick<JobSpec, 'steps' | 'seed' | 'method'>> & { image: { size: number; batch: number } } {
  const steps = request.steps ?? DEFAULT_STEPS;
  if (steps > limits.maxSteps) throw new ApiError(422, `steps: ${steps} is over the limit of ${limits.maxSteps} (MAX_STEPS)`, 'steps');
  const fixedSize = model.input.shape[0];
  const size = request.image?.size ?? model.input.defaultSizePx;
  if (size > limits.maxImageSizePx) throw new ApiError(422, `image.size: ${size} is over the limit of ${limits.maxImageSizePx} (MAX_IMAGE_SIZE_PX)`, 'image.size');
  if (fixedSize != null && size !== fixedSize) throw new ApiError(422, `image.size: model "${model.id}" takes ${fixedSize}×${fixedSize} inputs only`, 'image.size');
  // Multifaceted AM's batch is one image per facet.
  const batch = request.image?.batch ?? request.facets?.k ?? DEFAULT_BATCH;
  if (batch > limits.maxBatch) throw new ApiError(422, `image.batch: ${batch} is over the limit of ${limits.maxBatch} (MAX_BATCH)`, 'image.batch');
  return {
    ...request,
    method: request.method ?? DEFAULT_METHOD,
    steps,
    image: { ...request.image, size, batch },
    seed: request.seed ?? randomInt(0, 2 ** 32 - 1),
  };
}

/**
 * The models of a `compare` request, each with the request field that named it: `compare.models` in
 * order, with the job's `model` put first where the list does not name it (the primary model's field is
 * then `model`). A model the catalog does not know is the body's fault: 422 naming `compare.models[k]`.
 */
export async function compareModels(request: JobRequest, primary: ModelView, lookup: (id: string) => Promise<ModelView | null>): Promise<Array<{ view: ModelView; field: string }>> {
  if (!request.compare) return [];
  const listed = await Promise.all(request.compare.models.map(async (id, k) => {
    const field = `compare.models[${k}]`;
    if (id === primary.id) return { view: primary, field };
    const view = await lookup(id);
    if (!view) throw new ApiError(422, `${field}: no model with id "${id}" (GET /v1/models lists them)`, field);
    return { view, field };
  }));
  const models = request.compare.models.includes(primary.id) ? listed : [{ view: primary, field: 'model' }, ...listed];
  if (models.length < 2) throw new ApiError(422, `compare.models: names only the job's model "${primary.id}"; a comparison needs a second model`, 'compare.models');
  if (models.length > MAX_COMPARE_MODELS) throw new ApiError(422, `compare.models: with the job's model "${primary.id}" put first that makes ${models.length} models; at most ${MAX_COMPARE_MODELS}`, 'compare.models');
  return models;
}

/**
 * Checks the request against its model (and, with `compare`, against every compared model: the
 * objective's layers, channels and classes, and a fixed input size) and fills the defaults.
 */
export function resolveJobSpec(request: JobRequest, model: ModelView, limits: Limits, compared: Array<{ view: ModelView; field: string }> = []): JobSpec {
  const spec = resolveSettings(request, model, limits);
  checkObjective(model, request.objective, 'objective');
  checkFacets(request, model);
  if (Array.isArray(request.objective) && request.objective.length !== spec.image.batch) {
    throw new ApiError(422, `objective: a list of ${request.objective.length} objectives needs image.batch ${request.objective.length}, got ${spec.image.batch}`, 'objective');
  }
  if (request.filmstrip && !request.compare) throw new ApiError(422, 'filmstrip: a filmstrip shows the models of a comparison side by side; give compare.models too', 'filmstrip');
  for (const { view, field } of compared) {
    if (view === model) continue;
    try {
      checkObjective(view, request.objective, 'objective');
    } catch (err) {
      if (err instanceof ApiError) throw new ApiError(422, `${field}: the objective does not fit model "${view.id}": ${err.message}`, field, err);
      throw err;
    }
    const fixedSize = view.input.shape[0];
    if (fixedSize != null && fixedSize !== spec.image.size) throw new ApiError(422, `${field}: model "${view.id}" takes ${fixedSize}×${fixedSize} inputs only; image.size is ${spec.image.size}`, field);
  }
  if (request.compare) return { ...spec, compare: { models: compared.map(({ view }) => view.id) }, filmstrip: request.filmstrip ?? false } as JobSpec;
  return spec as JobSpec;
}

/**
 * Multifaceted AM's conditions (contracts' facetsProblem, which the engine checks too), before queueing,
 * so a request that can never run is a 422 naming the field, not a failed job. The parameterisation is
 * the resolved one (the method's preset's unless the request gives one).
 */
export function checkFacets(request: JobRequest, model: ModelView): void {
  if (!request.facets) return;
  const settings = resolveEngineSettings(request as EngineSettingsRequest, { defaultSizePx: model.input.defaultSizePx });
  const problem = facetsProblem(request as EngineSettingsRequest, settings);
  if (problem) throw new ApiError(422, `${problem.field}: ${problem.message}`, problem.field);
}

/**
 * The reference sets a request names must exist (bundled `shapes` or uploaded), and an inversion's
 * target image must be one of its set's: a 422 naming the field otherwise, before anything is queued.
 * A set uploaded later does not rescue a queued job. `find` gives an uploaded set's view, or null.
 */
export async function checkReferenceSets(request: EngineSettingsRequest, find: (id: string) => Promise<Pick<ReferenceSetView, 'count'> | null>): Promise<void> {
  for (const { id, field, index } of referenceSetsNamed(request)) {
    // The bundled set is procedural: any index is an image of it.
    if ((REFERENCE_SETS as readonly string[]).includes(id)) continue;
    const set = await find(id);
    if (!set) throw new ApiError(422, `${field}: no reference set with id "${id}" (GET /v1/reference-sets lists them; upload one with POST /v1/reference-sets)`, field);
    if (index && set.count !== null && index.value >= set.count) {
      throw new ApiError(422, `${index.field}: reference set "${id}" has ${set.count} images (0–${set.count - 1}); there is no image ${index.value}`, index.field);
    }
  }
}
