/**
 * Wall-clock timing with Node's own timer: warm-up runs, then N measured runs, reporting the fastest
 * (the figure the tables use: other processes on a shared machine only ever add time) and the median;
 * several runs timed in alternating rounds (`timeInterleaved`).
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

/** Warm-up, then the samples (ms) `options` asks for. */
async function sampleRuns(run: () => unknown | Promise<unknown>, options: TimingOptions): Promise<number[]> {
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
  return samples;
}

const timingOf = (samples: number[]): Timing => ({ minMs: Math.min(...samples), medianMs: median(samples), runs: samples.length });

/**
 * Times several runs in alternating rounds (a, b, a, b, …; warm-up in the first round only), pooling
 * each one's samples, so that a load that comes and goes during the measurement (other tenants of a
 * shared machine) falls on all of them alike rather than on whichever ran then: the step-cost group's
 * forward pass and step, whose ratio is the figure.
 */
export async function timeInterleaved(runs: ReadonlyArray<() => unknown | Promise<unknown>>, options: TimingOptions, rounds: number): Promise<Timing[]> {
  const pooled = runs.map(() => [] as number[]);
  for (let round = 0; round < rounds; round++) {
    for (const [i, run] of runs.entries()) pooled[i]!.push(...(await sampleRuns(run, round === 0 ? options : { ...options, warmupRuns: 0 })));
  }
  return pooled.map(timingOf);
}
