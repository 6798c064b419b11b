/**
 * `referenceRatio`: the final image's objective over `referenceMax`, "how far beyond natural images"
 * the synthetic image drives the unit (issue 3): above 1, it excites the unit more than any reference
 * image. Both sides use the same diversity-free objective. Null without `reference`, and for an item
 * whose reference maximum is not positive (a ratio to zero or a negative number says nothing).
 */
import type { Metric } from './metric.ts';
import { referenceMaxima } from './referenceSet.ts';

export const referenceRatio: Metric = async ({ reference }) => {
  if (!reference) return null;
  const maxima = referenceMaxima(reference);
  return reference.finalValues.map((value, item) => (maxima[item] > 0 ? value / maxima[item] : null));
};
