/**
 * Issue 4, target 3: a layer sweep optimised in batches against the same units one run each. The
 * batched runs give `visualize` a per-item objective list (item i maximises channel i: one forward and
 * one backward pass serve every unit of the batch); the sequential runs are `visualize` with one
 * channel objective and a batch of one. Same model, image size, steps and method; wall time of each,
 * model loading excluded, one warm-up run of each shape first.
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
      const { threads } = await initBackend(backend as 'cpu' | 'wasm', { wasmThreads: options.wasmThreads });
      const model = await smallModel();
      const batchSizes = options.quick ? [UNITS] : [UNITS, 16];
      try {
        await batchedRuns(model, 0, 2, 2, 1); // warm-up: kernels, WASM memory growth
        await batchedRuns(model, 0, 1, 1, 1);
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
            note: `layer ${model.sweepLayer.name} (${model.sweepLayer.channels} channels${model.sweepLayer.channels < UNITS ? `; unit i is channel i mod ${model.sweepLayer.channels}` : ''})`
              + (sequentialRunsTimed < UNITS ? `; sequential: ${sequentialRunsTimed} of the ${UNITS} runs timed, × ${UNITS / sequentialRunsTimed}` : '')
              + (samples.length > 1 ? `; batched: mean of ${samples.length} sweeps, interleaved with the one-unit runs` : ''),
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
