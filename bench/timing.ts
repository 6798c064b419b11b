/**
 * Wall-clock timing with Node's own timer: warm-up runs, then N measured runs, reporting the fastest
 * (the figure the tables use: other processes on a shared machine only ever add time) and the median.
 */
import { performance } from 'node:perf_hooks';

export interface TimingOptions {
  warmupRuns: number;
  measuredRuns: number;
  /**
   * Keep measuring past `measuredRuns` until the samples add up to this many milliseconds (at most
   * `maxRuns`): a 0.4 ms forward pass gets dozens of samples for the price of one slow step, so its
   * fastest run — the divisor of step/fastest-forward — is not one unlucky handful.
   */
  minTotalMs?: number;
  maxRuns?: number;
}

export interface Timing { minMs: number; medianMs: number; runs: number }

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export async function timeRuns(run: () => unknown | Promise<unknown>, options: TimingOptions): Promise<Timing> {
  for (let i = 0; i < options.warmupRuns; i++) await run();
  const samples: number[] = [];
  let totalMs = 0;
  const maxRuns = options.maxRuns ?? options.measuredRuns;
  while (samples.length < options.measuredRuns || (totalMs < (options.minTotalMs ?? 0) && samples.length < maxRuns)) {
    const start = performance.now();
    await run();
    const elapsed = performance.now() - start;
    samples.push(elapsed);
    totalMs += elapsed;
  }
  return { minMs: Math.min(...samples), medianMs: median(samples), runs: samples.length };
}
