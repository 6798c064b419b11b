/**
 * Multifaceted AM's conditions (request field `facets`; Nguyen, Yosinski & Clune 2016), as one pure
 * rule set: the API checks them before queueing (a 422 naming the field) and the engine before any work
 * (an InvalidSpecError naming the field), so a request the engine would refuse is never queued.
 */
import type { EngineSettingsRequest, Objective, Parameterization, ResolvedEngineSettings } from './engine-spec.ts';

/** What is wrong with a request, and the request field to blame. */
export interface SpecProblem {
  field: string;
  message: string;
}

/**
 * The parameterisations with an inverse (an image can be written into their variables): a facet's
 * start image, an image init and the step-hook priors need one. cppn, maco and generator have none.
 */
export const INVERTIBLE_PARAMETERIZATIONS = ['pixel', 'fourier', 'laplacian'] as const satisfies ReadonlyArray<Parameterization['type']>;

/** Whether item i's objective depends on i (a per-item list or an interpolation somewhere inside). */
export function dependsOnPosition(objective: Objective): boolean {
  if (Array.isArray(objective)) return true;
  switch (objective.type) {
    case 'interpolate': return true;
    case 'sum': return objective.terms.some((term) => dependsOnPosition(term.objective));
    case 'negate': return dependsOnPosition(objective.objective);
    default: return false;
  }
}

/**
 * The first reason a facets request cannot run, or null (also when it asks for no facets). `request`
 * is what the client sent (an explicit image.batch, the objective, whether it named a parameterisation);
 * `settings` is it resolved (the preset's parameterisation, the defaults of facets.top and reference.count).
 */
export function facetsProblem(request: EngineSettingsRequest, settings: ResolvedEngineSettings): SpecProblem | null {
  const { facets, reference } = settings;
  if (!facets) return null;
  if (!reference) return { field: 'facets', message: 'facets cluster the top images of a reference set; give `reference` too (e.g. { "set": "shapes" })' };
  if (request.objective !== undefined && dependsOnPosition(request.objective)) {
    return { field: 'facets', message: 'facets need one objective for the whole batch (not a per-item list or an interpolation)' };
  }
  const batch = request.image?.batch;
  if (batch !== undefined && batch !== facets.k) return { field: 'image.batch', message: `is ${batch} but facets.k is ${facets.k}; the batch is one image per facet` };
  if (facets.top < facets.k) return { field: 'facets.top', message: `${facets.top} must be at least facets.k (${facets.k})` };
  if (reference.count < facets.k) return { field: 'facets.k', message: `${facets.k} is more than reference.count (${reference.count}); each facet needs at least one reference image` };
  const { type } = settings.parameterization;
  if (!(INVERTIBLE_PARAMETERIZATIONS as readonly string[]).includes(type)) {
    return {
      // The field the client can change: its own parameterisation, or (a preset's) the facets.
      field: request.parameterization ? 'parameterization.type' : 'facets',
      message: `facets start each image from a mean of reference images and need an invertible parameterisation (${INVERTIBLE_PARAMETERIZATIONS.join(', ')}); "${type}" has none`,
    };
  }
  return null;
}
