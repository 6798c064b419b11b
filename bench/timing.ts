/**
 * Wall-clock timing with Node's own timer: warm-up runs, then N measured runs, reporting the fastest
 * (the figure the tables use: other processes on a shared machine only ever add time) and the median.
 */
import { performance } from 'node:perf_hooks';

export interface TimingOptions { warmupRuns: number; measuredRuns: number }

export interface Timing { minMs: number; medianMs: number; runs: number }

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export async function timeRuns(run: () => unknown | Promise<unknown>, options: TimingOptions): Promise<Timing> {
  for (let i = 0; i < options.warmupRuns; i++) await run();
  const samples: number[] = [];
  for (let i = 0; i < options.measuredRuns; i++) {
    const start = performance.now();
    await run();
    samples.push(performance.now() - start);
  }
  return { minMs: Math.min(...samples), medianMs: median(samples), runs: samples.length };
}
