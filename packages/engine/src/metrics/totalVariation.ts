/**
 * `totalVariation`: the mean squared difference between neighbouring pixels (Mahendran & Vedaldi's
 * TV with β = 2, the same measure as the totalVariation prior). Natural images score low, the noise
 * of unregularised activation maximisation high.
 */
import { totalVariationPenalty } from '../priors/totalVariation.ts';
import { readValues, type Metric } from './metric.ts';

export const totalVariation: Metric = async ({ images }) => readValues(totalVariationPenalty(images, 2));
