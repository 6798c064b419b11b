/** `sum`: a weighted sum of objectives, which is how a request adds, subtracts and scales them. */
import type { ObjectiveTerm } from '@featurevis/contracts';
import type { ObjectiveFactory } from './context.ts';
import { weightedSum } from './objective.ts';

export type SumSpec = Extract<ObjectiveTerm, { type: 'sum' }>;

export const sum: ObjectiveFactory<SumSpec> = (spec, { field, build }) =>
  weightedSum(spec.terms.map((term, i) => ({
    objective: build(term.objective, `${field}.terms[${i}].objective`),
    weight: term.weight ?? 1,
  })));
