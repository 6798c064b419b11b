/**
 * `negate`: minus an objective. For a unit, the image that drives it most negative: what it most
 * dislikes (Olah et al. 2017 show these "negative" images next to the positive ones).
 */
import type { ObjectiveTerm } from '@featurevis/contracts';
import type { ObjectiveFactory } from './context.ts';

export type NegateSpec = Extract<ObjectiveTerm, { type: 'negate' }>;

export const negate: ObjectiveFactory<NegateSpec> = (spec, { field, build }) => build(spec.objective, `${field}.objective`).neg();
