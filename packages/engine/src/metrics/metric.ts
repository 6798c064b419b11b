/**
 * What a metric is: a number per batch image computed on a finished run's final images (or null where
 * it does not apply, such as a class probability for a channel objective). The run's `metrics` holds
 * each one's batch mean and `metrics.perImage` the values.
 */
import type { RunSummary } from '../visualize.ts';

export type Metric = (summary: RunSummary) => Promise<Array<number | null> | null>;

/** Reads a 1-D tensor (disposing it) as numbers. */
export async function readValues(values: { data(): Promise<ArrayLike<number>>; dispose(): void }): Promise<number[]> {
  try {
    return Array.from(await values.data());
  } finally {
    values.dispose();
  }
}
