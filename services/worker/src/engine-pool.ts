/**
 * A pool of engine threads (one per job the worker runs at once). `run` hands a job to a free thread and
 * returns a handle whose `cancel()` flips a shared flag the engine reads between optimisation steps —
 * no message has to wait for a busy thread's event loop.
 */
import { Worker } from 'node:worker_threads';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { ModelView } from '@featurevis/contracts';
import type { ImageScore, StepProgress, VisualizationOutput } from '@featurevis/engine';
import type { ReferenceImageSet } from '@featurevis/engine/datasets';
import type { NativeConvStatus, ThreadRequest, ThreadResponse } from './engine-protocol.ts';

export class EngineRunError extends Error {
  constructor(readonly kind: 'canceled' | 'invalid' | 'error', message: string, readonly field?: string) {
    super(message);
    this.name = 'EngineRunError';
  }
}

export interface ModelFilesLoader {
  (modelId: string): Promise<{ modelJson: unknown; weights: Record<string, Uint8Array> }>;
}

interface PendingRun {
  /** A run's output (VisualizationOutput & { leakedTensors }) or a score request's scores (ImageScore[][]). */
  resolve(value: unknown): void;
  reject(err: Error): void;
  onProgress?: (p: StepProgress) => void;
}

interface Slot { thread: Worker; busy: boolean; runs: Map<string, PendingRun> }

const THREAD_ENTRY = new URL('./engine-thread.ts', import.meta.url).href;

/**
 * Worker threads do not inherit `--import tsx`; the thread's entry registers tsx first when it runs
 * from TypeScript sources (always, in this repository).
 */
function spawnThread(workerData: unknown): Worker {
  const bootstrap = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(THREAD_ENTRY)}); })`;
  return new Worker(bootstrap, { eval: true, workerData });
}

export class EnginePool {
  private readonly slots: Slot[] = [];
  private readonly waiting: Array<(slot: Slot) => void> = [];
  private closed = false;

  constructor(private readonly options: {
    size: number; backendPreference: string; modelCacheBytes: number; loadModelFiles: ModelFilesLoader;
    /** Threads of each engine thread's WASM backend; 0 or absent: the machine's cores divided among the `size` engine threads. */
    wasmThreads?: number;
    /** Runs with fewer image pixels a step than this use one WASM thread (the engine's default when absent). */
    wasmThreadsMinPixels?: number;
    /** WASM: convolutions in the convolution addon where available (the engine's default, true, when absent). */
    nativeConv?: boolean;
    /** The uploaded reference sets a spec names, at its image size (reference-sets.ts); none without. */
    loadReferenceSets?: (spec: unknown, sizePx: number) => Promise<ReferenceImageSet[]>;
  }) {
    for (let i = 0; i < options.size; i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot {
    const thread = spawnThread({ backendPreference: this.options.backendPreference, modelCacheBytes: this.options.modelCacheBytes, wasmThreads: this.wasmThreads(), wasmThreadsMinPixels: this.options.wasmThreadsMinPixels, nativeConv: this.options.nativeConv });
    const slot: Slot = { thread, busy: false, runs: new Map() };
    thread.on('message', (m: ThreadResponse) => this.onMessage(slot, m));
    const fail = (err: Error) => {
      for (const run of slot.runs.values()) run.reject(new EngineRunError('error', `engine thread died: ${err.message}`));
      slot.runs.clear();
      if (!this.closed) {
        const index = this.slots.indexOf(slot);
        if (index >= 0) { this.slots[index] = this.spawn(); this.release(this.slots[index]!); }
      }
    };
    thread.on('error', fail);
    thread.on('exit', (code) => { if (!this.closed) fail(new Error(`exit code ${code}`)); });
    return slot;
  }

  private onMessage(slot: Slot, m: ThreadResponse) {
    if (m.type === 'backend') return;
    const run = slot.runs.get(m.runId);
    if (!run) return;
    switch (m.type) {
      case 'progress': run.onProgress?.({ step: m.step, steps: m.steps, objective: m.objective }); break;
      case 'need-model':
        this.options.loadModelFiles(m.modelId).then(
          (files) => slot.thread.postMessage({ type: 'model-files', runId: m.runId, ...files } satisfies ThreadRequest),
          (err: Error) => { slot.runs.delete(m.runId); run.reject(err); slot.thread.postMessage({ type: 'model-files', runId: m.runId, modelJson: null, weights: {} } satisfies ThreadRequest); },
        );
        break;
      case 'done': slot.runs.delete(m.runId); run.resolve({ ...m.output, leakedTensors: m.leakedTensors }); break;
      case 'scored': slot.runs.delete(m.runId); run.resolve(m.scores); break;
      case 'failed': slot.runs.delete(m.runId); run.reject(new EngineRunError(m.kind, m.message, m.field)); break;
    }
  }

  private acquire(): Promise<Slot> {
    const free = this.slots.find((s) => !s.busy);
    if (free) { free.busy = true; return Promise.resolve(free); }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(slot: Slot) {
    if (!this.slots.includes(slot)) return; // a dead thread's slot; its replacement is already in the pool
    const next = this.waiting.shift();
    if (next) { slot.busy = true; next(slot); } else slot.busy = false;
  }

  /** WASM threads per engine thread: as configured, else the cores shared among the engine threads (at least 1). */
  wasmThreads(): number {
    return this.options.wasmThreads || Math.max(1, Math.floor(os.availableParallelism() / this.options.size));
  }

  /** Which backend the threads run (they all choose the same way), and on WASM its thread count. */
  backend(): Promise<{ name: string; package: string; threads?: number; nativeConv?: NativeConvStatus }> {
    const thread = this.slots[0]!.thread;
    return new Promise((resolve) => {
      const onMessage = (m: ThreadResponse) => { if (m.type === 'backend') { thread.off('message', onMessage); resolve(m); } };
      thread.on('message', onMessage);
      thread.postMessage({ type: 'backend' } satisfies ThreadRequest);
    });
  }

  run(view: ModelView, spec: unknown, options: { progressEverySteps: number; onProgress?: (p: StepProgress) => void }) {
    const cancelFlag = new SharedArrayBuffer(4);
    // Loaded before a thread is taken, so a slow storage read holds no thread.
    const sizePx = (spec as { image?: { size?: number } }).image?.size ?? view.input.defaultSizePx;
    const referenceSets = this.options.loadReferenceSets?.(spec, sizePx) ?? Promise.resolve([]);
    const promise = referenceSets.then((sets) => this.acquire().then((slot) => new Promise<VisualizationOutput & { leakedTensors: number }>((resolve, reject) => {
      const runId = randomUUID();
      slot.runs.set(runId, { resolve, reject, onProgress: options.onProgress });
      slot.thread.postMessage({ type: 'run', runId, view, spec, cancelFlag, progressEverySteps: options.progressEverySteps, referenceSets: sets } satisfies ThreadRequest);
    }).finally(() => this.release(slot))));
    return { promise, cancel: () => Atomics.store(new Int32Array(cancelFlag), 0, 1) };
  }

  /**
   * Scores each image set (PNGs, one batch each) by the spec's objective on `view`'s model, on a free
   * thread: per set and image, the objective and (for a class objective) the class probability.
   */
  score(view: ModelView, spec: unknown, imageSets: Uint8Array[][]): Promise<ImageScore[][]> {
    return this.acquire().then((slot) => new Promise<ImageScore[][]>((resolve, reject) => {
      const runId = randomUUID();
      slot.runs.set(runId, { resolve, reject });
      slot.thread.postMessage({ type: 'score', runId, view, spec, imageSets } satisfies ThreadRequest);
    }).finally(() => this.release(slot)));
  }

  async close() {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.thread.terminate()));
  }
}
