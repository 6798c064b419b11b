/**
 * `referenceMax`: the largest value each batch item's objective (without diversity terms) takes on the
 * request's reference image set — what the unit reaches on natural images. Null without `reference`.
 */
import type { Metric } from './metric.ts';
import { referenceMaxima } from './referenceSet.ts';

export const referenceMax: Metric = async ({ reference }) => (reference ? referenceMaxima(reference) : null);
