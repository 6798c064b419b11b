/**
 * Issue 4, targets 1–2: the cost of one activation-maximization step (forward + gradient with respect
 * to the input images) against a forward pass, per backend and model, with the project's gradient
 * machinery on ("after") and off ("before": tfjs's eager fused-op gradients, or tfjs-backend-wasm's
 * own gradient kernels). Each case is timed twice: the bare gradient of the logits' mean (stepMs) and
 * a real engine step (`visualize`, engineStepMs), which adds rendering, the optimiser and clipping.
 */
import * as tf from '@tensorflow/tfjs-core';
import { visualize } from '@featurevis/engine';
import { initBackend, installInputOnlyGradients, registerWasmGradientKernels } from '@featurevis/engine/backends';
import { benchImages, stepCostModels, type BenchModel } from '../models.ts';
import { countForwardFlops } from '../flops.ts';
import { timeInterleaved, type TimingOptions } from '../timing.ts';
import type { BenchGroup, BenchOptions, BenchRow } from './types.ts';

/**
 * Batch 4 for every model; the small bundled models also at batch 64, the size of a sweep batch: at
 * batch 4 their forward pass takes a few milliseconds and tfjs's per-kernel dispatch (a step runs
 * several times as many kernels as a forward) weighs more than the arithmetic.
 */
function batchesFor(model: BenchModel, backend: string, options: BenchOptions): number[] {
  return model.heavy || (backend === 'cpu' && options.quick) ? [4] : [4, 64];
}

interface Variant {
  name: string;
  /** Switches the variant on; returns what switches it off again. */
  apply(): () => void;
  /** Too slow for --quick (tfjs's eager weight gradients on the pure-JS backend). */
  slow?: boolean;
}

const afterVariant: Variant = { name: 'after: input-only gradients + project kernels', apply: () => () => {} };
const eagerVariant: Variant = { name: 'before: tfjs eager fused-op gradients', apply: () => { installInputOnlyGradients()(); return () => installInputOnlyGradients(); } };

/** Before/after variants per backend: what the project's changes are measured against. */
const variantsByBackend: Record<string, Variant[]> = {
  cpu: [afterVariant, { ...eagerVariant, slow: true }],
  wasm: [
    afterVariant,
    { name: "before: input-only gradients + tfjs-backend-wasm's own kernels", apply: () => { registerWasmGradientKernels()(); return () => registerWasmGradientKernels(); } },
    eagerVariant,
  ],
};

function timingFor(backend: string, options: BenchOptions): TimingOptions {
  if (backend === 'cpu') return options.quick ? { warmupRuns: 1, measuredRuns: 2 } : { warmupRuns: 1, measuredRuns: 3 };
  // Small cases (a 32-px batch of 4: a forward pass of 0.2 ms) take more samples, up to 500 a round,
  // for about the time a larger case spends on its 5 or 9: with 60 their fastest runs moved by a third
  // between runs of the benchmark.
  return options.quick ? { warmupRuns: 2, measuredRuns: 5, minTotalMs: 100, maxRuns: 500 } : { warmupRuns: 3, measuredRuns: 9, minTotalMs: 200, maxRuns: 500 };
}

function forwardOnce(model: BenchModel, images: tf.Tensor4D): void {
  const objective = tf.tidy(() => tf.mean(model.model.activations(images, [model.objectiveLayer])[0]));
  objective.dataSync();
  objective.dispose();
}

function gradientStep(model: BenchModel, images: tf.Tensor4D): tf.Tensor {
  return tf.tidy(() => tf.grad((x) => tf.mean(model.model.activations(x as tf.Tensor4D, [model.objectiveLayer])[0]))(images));
}

function stepOnce(model: BenchModel, images: tf.Tensor4D): void {
  const gradient = gradientStep(model, images);
  gradient.dataSync();
  gradient.dispose();
}

/** The kernels that took longest in one profiled step (op wrappers, which nest kernels, left out). */
async function topKernels(model: BenchModel, images: tf.Tensor4D, count = 4): Promise<string> {
  const profile = await tf.profile(() => gradientStep(model, images));
  const byName = new Map<string, number>();
  for (const kernel of profile.kernels) {
    if (kernel.name.endsWith('__op')) continue;
    byName.set(kernel.name, (byName.get(kernel.name) ?? 0) + (kernel.kernelTimeMs as number));
  }
  return [...byName].sort((a, b) => b[1] - a[1]).slice(0, count).map(([name, ms]) => `${name} ${ms.toFixed(1)}`).join(', ');
}

/** A real engine step: `visualize` with a class objective at this batch and size, its mean step time. */
async function engineStep(model: BenchModel, batch: number, steps: number): Promise<number> {
  const run = (n: number) => visualize(model.model, {
    model: model.model.id, objective: { type: 'class', class: 0 }, steps: n, image: { size: model.imageSizePx, batch }, seed: 1,
  });
  await run(1); // warm-up
  return (await run(steps)).timings.meanStepMs;
}

async function measure(model: BenchModel, batch: number, backend: string, variant: Variant, options: BenchOptions): Promise<BenchRow> {
  const row: BenchRow = { group: 'step-cost', backend, variant: variant.name, model: model.name, imageSizePx: model.imageSizePx, batch };
  const images = benchImages(batch, model.imageSizePx);
  const restore = variant.apply();
  try {
    const timing = timingFor(backend, options);
    const flops = await countForwardFlops(() => tf.tidy(() => tf.mean(model.model.activations(images, [model.objectiveLayer])[0])));
    // Forward and step in three alternating rounds (one on the slow pure-JS backend), so a passing load
    // falls on both alike.
    const [forward, step] = await timeInterleaved([() => forwardOnce(model, images), () => stepOnce(model, images)], timing, backend === 'cpu' ? 1 : 3);
    row.forwardMs = forward.minMs;
    row.forwardMedianMs = forward.medianMs;
    row.stepMs = step.minMs;
    row.stepMedianMs = step.medianMs;
    row.stepToForwardRatio = step.minMs / forward.minMs;
    row.forwardGflop = flops / 1e9;
    row.forwardGflopPerS = flops / 1e6 / forward.minMs;
    row.stepGflopPerS = (2 * flops) / 1e6 / step.minMs;
    // --quick: the engine step of the engine as shipped only.
    if (!options.quick || variant === afterVariant) {
      row.steps = backend === 'cpu' || options.quick ? 3 : 8;
      row.engineStepMs = await engineStep(model, batch, row.steps);
    }
    if (backend === 'wasm') row.topStepKernels = await topKernels(model, images);
  } catch (error) {
    row.error = (error as Error).message;
  } finally {
    restore();
    images.dispose();
  }
  return row;
}

export const stepCostGroup: BenchGroup = {
  name: 'step-cost',
  async run(options, report) {
    const rows: BenchRow[] = [];
    for (const backend of options.backends) {
      const { threads } = await initBackend(backend as 'cpu' | 'wasm', { wasmThreads: options.wasmThreads, nativeConv: options.nativeConv });
      // Loaded per backend: a model's weights live on the backend that was active when it loaded.
      const models = await stepCostModels();
      for (const model of models) {
        for (const batch of batchesFor(model, backend, options)) {
          for (const variant of variantsByBackend[backend] ?? [afterVariant]) {
            if (options.quick && (variant.slow || (backend === 'cpu' && model.heavy))) continue;
            // --quick: the eager variant once per model (at batch 4); on WASM it differs from "after"
            // only where a conv has a linear activation, and there it cannot run at all.
            if (options.quick && variant === eagerVariant && batch !== 4) continue;
            const row = { ...await measure(model, batch, backend, variant, options), ...(threads ? { threads } : {}) };
            console.error(`  ${backend} · ${model.name} · batch ${batch} · ${variant.name}: ${row.error ?? `forward ${row.forwardMs?.toFixed(1)} ms, step ${row.stepMs?.toFixed(1)} ms, engine step ${row.engineStepMs?.toFixed(1)} ms`}`);
            rows.push(row);
          }
        }
      }
      models.forEach((model) => model.model.dispose());
    }
    // Issue 4's target compares a step with the fastest forward of the same model and batch here.
    for (const row of rows) {
      const forwards = rows.filter((r) => r.model === row.model && r.batch === row.batch && r.forwardMs != null).map((r) => r.forwardMs!);
      if (row.stepMs != null && forwards.length > 0) row.stepToFastestForwardRatio = row.stepMs / Math.min(...forwards);
      report(row);
    }
  },
};
