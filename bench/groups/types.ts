/** One line of the benchmark's table and of bench/results/latest.json. Fields a group does not measure stay absent. */
export interface BenchRow {
  group: string;
  backend: string;
  /** WASM: the threads convolutions ran on (the engine's `initBackend` report; the service group: the worker's). */
  threads?: number;
  /** WASM: what ran the convolutions: 'AVX-512' or 'AVX2' (the packages/native-conv addon) or 'XNNPACK'. */
  convolutions?: string;
  /** What was switched on, e.g. the project's WASM gradient kernels versus tfjs-backend-wasm's own. */
  variant: string;
  model?: string;
  imageSizePx?: number;
  batch?: number;
  steps?: number;

  // ---- step-cost ----
  /** The fastest of N forward passes (model to its logits, the mean read back). */
  forwardMs?: number;
  forwardMedianMs?: number;
  /** The fastest of N gradient steps: forward plus the gradient of the logits' mean with respect to the images. */
  stepMs?: number;
  stepMedianMs?: number;
  stepToForwardRatio?: number;
  /** stepMs over the fastest forward of the same model and batch on any backend in this run (issue 4's target: ≤ 3). */
  stepToFastestForwardRatio?: number;
  /** A real engine step: `visualize` (class objective, naive method: render, Adam, clipping) timings.meanStepMs. */
  engineStepMs?: number;
  forwardGflop?: number;
  forwardGflopPerS?: number;
  /** Nominal step FLOPs (2 × forward: an input gradient of a conv or matmul costs what its forward does) per second of stepMs. */
  stepGflopPerS?: number;
  /** The kernels that took longest in one profiled gradient step (tf.profile), "name ms" each. */
  topStepKernels?: string;

  // ---- sweep ----
  /** Units (channels) optimised. */
  units?: number;
  /** Wall time of the units as batched runs (per-item objective list). */
  sweepBatchedMs?: number;
  /** Wall time of the units as separate one-unit runs, one after another. */
  sweepSequentialMs?: number;
  /** sweepBatchedMs / sweepSequentialMs (issue 4's target: ≤ 0.25). */
  sweepVsSequentialRatio?: number;
  /**
   * The warm-up: the first batched run of the process (cold: kernels run ≈ 20 % slower for the first
   * second or two of batched work), not part of sweepBatchedMs.
   */
  sweepColdFirstRunMs?: number;

  // ---- service ----
  /** POST /v1/jobs answered per second (autocannon), against a real redis-server. */
  apiRequestsPerSecond?: number;
  apiLatencyP50Ms?: number;
  apiLatencyP99Ms?: number;
  /** Time for POST /v1/sweeps to answer 202 for `units` units. */
  sweepAcceptMs?: number;
  /** Median, over one-step jobs, of POST-to-observed-success time. */
  endToEndMs?: number;
  /** Median engine time of those jobs (visualize's totalMs, from the job's metadata.json). */
  computeMs?: number;
  /** Median of endToEndMs − computeMs per job (issue 4's target: ≤ 50 ms). */
  queueOverheadMs?: number;
  /** POST /v1/sweeps for `units` channels until the sweep reads succeeded, with one worker running. */
  serviceSweepMs?: number;
  /** The same `units` channels as separate one-channel POST /v1/jobs until all read succeeded. */
  serviceJobsMs?: number;
  /** serviceSweepMs / serviceJobsMs (issue 4's target 3, as a pipeline user sees it: ≤ 0.25). */
  serviceSweepVsJobsRatio?: number;
  /** The same jobs without a chosen seed, so that the worker groups those already waiting into batched runs. */
  serviceGroupedJobsMs?: number;
  /** serviceGroupedJobsMs / serviceJobsMs. */
  serviceGroupedVsJobsRatio?: number;
  /** Several sweeps posted at once: the engine time of their batched runs (each leader's visualize totalMs), summed. */
  serviceEngineMs?: number;
  /** serviceEngineMs / serviceSweepMs: the share of the wall time the worker's engine was computing. */
  serviceEngineShare?: number;

  // ---- storage ----
  /** Presigned URLs made, one after another. */
  urls?: number;
  /** Time for all of them. */
  urlsMs?: number;
  /** urlsMs per URL, in microseconds. */
  usPerUrl?: number;

  note?: string;
  error?: string;
}

export interface BenchOptions {
  /** About a minute in all: fewer repetitions, fewer units and steps, no pure-JS runs of the 64-px nets. */
  quick: boolean;
  backends: readonly string[];
  /** WASM threads (`initBackend`'s wasmThreads, the worker's WASM_THREADS); absent: every core. */
  wasmThreads?: number;
  /** WASM: convolutions in the convolution addon where it is available (`initBackend`'s nativeConv, the worker's NATIVE_CONV). */
  nativeConv: boolean;
}

/**
 * A group of benchmark cases. To add one, write a file in bench/groups/ exporting a BenchGroup and list
 * it in bench/groups/index.ts.
 */
export interface BenchGroup {
  name: string;
  run(options: BenchOptions, report: (row: BenchRow) => void): Promise<void>;
}
