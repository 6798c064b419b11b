/**
 * Metrics by name (packages/contracts engine-spec `METRIC_NAMES`): computed on every result and stored
 * in its metadata and the job's `result.metrics`.
 */
import type { MetricName } from '@featurevis/contracts';
import { classProbability } from './classProbability.ts';
import { highFrequencyEnergy } from './highFrequencyEnergy.ts';
import type { Metric } from './metric.ts';
import { objective } from './objective.ts';
import { referenceMax } from './referenceMax.ts';
import { referenceRatio } from './referenceRatio.ts';
import { totalVariation } from './totalVariation.ts';

export const metrics: Record<MetricName, Metric> = { objective, classProbability, totalVariation, highFrequencyEnergy, referenceMax, referenceRatio };

export { highFrequencyEnergyOf, HIGH_PASS_SIGMA_PX } from './highFrequencyEnergy.ts';
export type { Metric } from './metric.ts';
export { evaluateReferenceSet, datasetExamples, unitObjective, type ReferenceEvaluation } from './referenceSet.ts';
