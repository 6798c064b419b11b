/**
 * Issue 4, target 3: a layer sweep optimised in batches against the same units one run each. The
 * batched runs give `visualize` a per-item objective list (item i maximises channel i: one forward and
 * one backward pass serve every unit of the batch); the sequential runs are `visualize` with one
 * channel objective and a batch of one. Same model, image size, steps and method; wall time of each,
 * model loading excluded. Warm-up first: one full run of each batched shape and four one-unit runs,
 * because the first second or two of work in a process runs ≈ 20 % slower, whichever side comes
 * first (measured; not CPU frequency, not WASM tier-up; cause not found), and a steady worker runs
 * many batches. The cold first run is reported beside the figures.
 */
import { performance } from 'node:perf_hooks';
import { visualize, type VisualizationSpec } from '@featurevis/engine';
import { initBackend } from '@featurevis/engine/backends';
import { smallModel, type BenchModel } from '../models.ts';
import type { BenchGroup, BenchRow } from './types.ts';

const UNITS = 64;

function channelObjective(model: BenchModel, unit: number) {
  return { type: 'channel' as const, layer: model.sweepLayer.name, channel: unit % model.sweepLayer.channels };
}

/** Units [from, to) in batches of `batch` (the last may be smaller); returns the wall time in ms. */
async function batchedRuns(model: BenchModel, from: number, to: number, batch: number, steps: number): Promise<number> {
  const started = performance.now();
  for (let first = from; first < to; first += batch) {
    const items = Array.from({ length: Math.min(batch, to - first) }, (_, i) => channelObjective(model, first + i));
    const spec = { model: model.model.id, objective: items, steps, image: { size: model.imageSizePx, batch: items.length }, seed: 1 } as VisualizationSpec;
    await visualize(model.model, spec);
  }
  return performance.now() - started;
}

export const sweepGroup: BenchGroup = {
  name: 'sweep',
  async run(options, report) {
    // The engine's fixed cost per run (metrics, PNG encoding: ~0.2 s for 64 images) and its costlier
    // first 16 steps (the redirected ReLU gradient) weigh less with more steps: the full run uses the
    // service's default of 128. --quick runs 32 steps and times 16 of the 64 one-unit runs, scaled × 4.
    const steps = options.quick ? 32 : 128;
    // Other processes' load drifts over minutes, so the one-unit runs are timed in blocks with a batched
    // sweep after each block: both sides see the same mix of quiet and busy moments.
    const blocks = options.quick ? [[0, 16]] : [[0, 32], [32, 64]];
    const sequentialRunsTimed = blocks.reduce((total, [from, to]) => total + to - from, 0);
    // The pure-JS backend takes minutes for 64 separate runs; measured without --quick only.
    const backends = options.backends.filter((backend) => !(options.quick && backend === 'cpu'));
    for (const backend of backends) {
      const { threads } = await initBackend(backend as 'cpu' | 'wasm', { wasmThreads: options.wasmThreads, nativeConv: options.nativeConv });
      const model = await smallModel();
      const batchSizes = options.quick ? [UNITS] : [UNITS, 16];
      try {
        // Warm-up (kernels, WASM memory growth, the process's cold first second), both sides.
        const coldFirstRunMs = await batchedRuns(model, 0, batchSizes[0]!, batchSizes[0]!, steps);
        for (const batch of batchSizes.slice(1)) await batchedRuns(model, 0, batch, batch, steps);
        await batchedRuns(model, 0, 4, 1, steps);
        let sequentialTimedMs = 0;
        const batchedMs = new Map<number, number[]>(batchSizes.map((batch) => [batch, []]));
        for (const [from, to] of blocks) {
          sequentialTimedMs += await batchedRuns(model, from, to, 1, steps);
          for (const batch of batchSizes) batchedMs.get(batch)!.push(await batchedRuns(model, 0, UNITS, batch, steps));
        }
        const sequentialMs = sequentialTimedMs * (UNITS / sequentialRunsTimed);
        for (const batch of batchSizes) {
          const samples = batchedMs.get(batch)!;
          const meanBatchedMs = samples.reduce((a, b) => a + b, 0) / samples.length;
          const row: BenchRow = {
            group: 'sweep', backend, ...(threads ? { threads } : {}), variant: `${UNITS} channels as ${UNITS / batch} run(s) of batch ${batch} vs ${UNITS} runs of batch 1`,
            model: model.name, imageSizePx: model.imageSizePx, batch, steps, units: UNITS,
            sweepBatchedMs: meanBatchedMs, sweepSequentialMs: sequentialMs, sweepVsSequentialRatio: meanBatchedMs / sequentialMs,
            ...(batch === batchSizes[0] ? { sweepColdFirstRunMs: coldFirstRunMs } : {}),
            note: `layer ${model.sweepLayer.name} (${model.sweepLayer.channels} channels${model.sweepLayer.channels < UNITS ? `; unit i is channel i mod ${model.sweepLayer.channels}` : ''})`
              + (sequentialRunsTimed < UNITS ? `; sequential: ${sequentialRunsTimed} of the ${UNITS} runs timed, × ${UNITS / sequentialRunsTimed}` : '')
              + (samples.length > 1 ? `; batched: mean of ${samples.length} sweeps, interleaved with the one-unit runs` : '')
              + (batch === batchSizes[0] ? `; warm-up: the process's first batched run (batch ${batch}, cold) took ${coldFirstRunMs.toFixed(0)} ms` : ''),
          };
          console.error(`  ${backend} · ${model.name} · batch ${batch}: batched ${meanBatchedMs.toFixed(0)} ms, sequential ${sequentialMs.toFixed(0)} ms`);
          report(row);
        }
      } catch (error) {
        report({ group: 'sweep', backend, variant: `${UNITS} channels batched vs sequential`, model: model.name, error: (error as Error).message });
      } finally {
        model.model.dispose();
      }
    }
  },
};
