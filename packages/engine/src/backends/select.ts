/**
 * Chooses and initialises the TensorFlow.js backend the engine runs on.
 *
 * Every backend package below must share the one hoisted `@tensorflow/tfjs-core` instance: a backend
 * registers itself with the tfjs-core it imports, so a second copy would leave the engine's tfjs-core
 * without it. The optional packages (tfjs-node, tfjs-node-gpu, tfjs-backend-webgpu) are imported
 * dynamically, so the engine builds and runs where they are not installed (they download native
 * binaries at install time, which these machines cannot do; issue 4).
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { installInputOnlyGradients } from './input-only-gradients.ts';
import { installWasmThreadSwitch, prepareWasmThreads, setWasmThreadsMinPixels, wasmThreadSwitchAvailable } from './wasm/node-threads.ts';
import { nativeConvInstructionSet, nativeConvUnavailableReason } from './wasm/native-conv.ts';
import { registerNativeConvKernels, registerWasmGradientKernels } from './wasm/register-gradient-kernels.ts';

export type BackendPreference = 'auto' | 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu' | 'webgpu';

export interface SelectedBackend {
  /** The tfjs backend name (`tf.getBackend()`): 'tensorflow', 'wasm', 'cpu' or 'webgpu'. */
  name: string;
  /** The npm package that provides it. */
  package: string;
  /**
   * WASM only: the threads convolutions run on — the convolution addon's where it is active (`nativeConv`),
   * else XNNPACK's, which then also run matrix products and pooling.
   */
  threads?: number;
  /**
   * WASM with threads only: runs with fewer image pixels a step than this run single-threaded
   * (node-threads.ts `useWasmThreadsFor`); absent where the threads cannot be switched off.
   */
  threadsFromPixels?: number;
  /**
   * WASM only: whether convolutions run in the addon (native-conv.ts) on `threads` threads and on which
   * instruction set, and where not, why (turned off, not built, CPU with neither AVX-512 nor AVX2).
   */
  nativeConv?: { active: true; instructionSet: 'avx512' | 'avx2'; xnnpackThreads: number } | { active: false; reason: string };
}

export interface BackendOptions {
  /**
   * WASM only: threads for XNNPACK (node-threads.ts), 1 for single-threaded; default every core
   * (`os.availableParallelism()`), at most 8 (the pthread pool tfjs-backend-wasm starts). Applies when
   * the WASM backend first initialises in a thread; later calls report the count it started with.
   */
  wasmThreads?: number;
  /**
   * WASM with threads: a run with fewer image pixels a step (batch × height × width) than this runs
   * single-threaded, where waking the threads for each kernel costs more than they save. Default
   * DEFAULT_WASM_THREADS_MIN_PIXELS; 0: always threaded.
   */
  wasmThreadsMinPixels?: number;
  /**
   * WASM only: run convolutions in the convolution addon where it is built and the CPU has AVX-512
   * (native-conv.ts); default true. false keeps XNNPACK's (the benchmark's comparison).
   */
  nativeConv?: boolean;
}

/**
 * Measured on 2 cores (shapes-a engine steps at 32 px, best of 5 runs each): two threads were 5–15 %
 * slower than one at batch 1 and 2, and faster from batch 4 (4,096 pixels a step: 1.2×; batch 8 1.4×,
 * batch 64 1.5–1.6×).
 */
export const DEFAULT_WASM_THREADS_MIN_PIXELS = 4096;

/** The most threads tfjs-backend-wasm's build can run: the pthread pool it starts has 8 workers. */
export const MAX_WASM_THREADS = 8;

/** What `auto` tries, fastest first. WebGPU is not in it: it is opt-in until measured per machine. */
export const autoBackendOrder: readonly Exclude<BackendPreference, 'auto'>[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

const require = createRequire(import.meta.url);

/** `import()` of a package that may be absent; the specifier is a variable so TypeScript does not resolve it. */
async function importOptional(packageName: string): Promise<Record<string, unknown>> {
  return (await import(packageName)) as Record<string, unknown>;
}

/** Activates a backend that its package has registered; false when it fails to initialise. */
async function activate(name: string): Promise<boolean> {
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

type Initialiser = (options: BackendOptions) => Promise<SelectedBackend>;

/** Puts XNNPACK's convolutions back where a later initialisation turns the addon off. */
let restoreXnnpackConvolutions: (() => void) | undefined;

const initialisers: Record<Exclude<BackendPreference, 'auto'>, Initialiser> = {
  'tensorflow-gpu': async () => {
    await importOptional('@tensorflow/tfjs-node-gpu');
    if (!(await activate('tensorflow'))) throw new Error('@tensorflow/tfjs-node-gpu did not initialise');
    return { name: 'tensorflow', package: '@tensorflow/tfjs-node-gpu' };
  },
  tensorflow: async () => {
    await importOptional('@tensorflow/tfjs-node');
    if (!(await activate('tensorflow'))) throw new Error('@tensorflow/tfjs-node did not initialise');
    return { name: 'tensorflow', package: '@tensorflow/tfjs-node' };
  },
  wasm: async (options) => {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // The .wasm binaries sit next to the package's JS in dist/; in Node they must be given as a path.
    const distFolder = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
    wasm.setWasmPaths(distFolder);
    const alreadyInitialised = tf.findBackend('wasm') != null;
    const threads = Math.min(MAX_WASM_THREADS, Math.max(1, Math.floor(options.wasmThreads ?? os.availableParallelism())));
    // With the convolution addon the convolutions, nearly all of a step's parallel work, run on its own
    // threads, and XNNPACK starts single-threaded: its pthreadpool's workers spin for a while after
    // each operator, and on 2 cores they took the core the addon's second thread needed (measured: a
    // batch-64 step slower on 2 threads than on 1 with both pools running).
    const unavailable = options.nativeConv === false ? 'turned off' : nativeConvUnavailableReason();
    const xnnpackThreads = unavailable == null ? 1 : threads;
    // tfjs-backend-wasm runs single-threaded under Node (tfjs issue 3830); node-threads.ts starts its
    // threaded build there. Where that cannot be prepared, or the threaded build fails to load (tfjs
    // reports the abort), WASM starts single-threaded as before (tested). A pthread that fails after it
    // started ends the process instead: Emscripten rethrows a worker's error (WASM_THREADS=1 avoids it).
    const restore = alreadyInitialised ? null : prepareWasmThreads(xnnpackThreads, wasm.setThreadsCount);
    let activated: boolean;
    try {
      activated = await activate('wasm');
    } finally {
      restore?.();
    }
    if (!activated && restore) {
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      wasm.setThreadsCount(1);
      activated = await activate('wasm');
    }
    if (!activated) throw new Error('@tensorflow/tfjs-backend-wasm did not initialise');
    registerWasmGradientKernels();
    const started = Math.max(1, wasm.getThreadsCount());
    if (unavailable == null) restoreXnnpackConvolutions = registerNativeConvKernels(threads);
    else restoreXnnpackConvolutions?.();
    const minPixels = options.wasmThreadsMinPixels ?? DEFAULT_WASM_THREADS_MIN_PIXELS;
    setWasmThreadsMinPixels(minPixels);
    const switchable = started > 1 && (alreadyInitialised ? wasmThreadSwitchAvailable() : installWasmThreadSwitch((tf.backend() as unknown as { wasm: unknown }).wasm, started));
    return {
      name: 'wasm', package: '@tensorflow/tfjs-backend-wasm', threads: unavailable == null ? threads : started,
      ...(switchable ? { threadsFromPixels: minPixels } : {}),
      nativeConv: unavailable == null ? { active: true, instructionSet: nativeConvInstructionSet()!, xnnpackThreads: started } : { active: false, reason: unavailable },
    };
  },
  cpu: async () => {
    await import('@tensorflow/tfjs-backend-cpu');
    if (!(await activate('cpu'))) throw new Error('@tensorflow/tfjs-backend-cpu did not initialise');
    return { name: 'cpu', package: '@tensorflow/tfjs-backend-cpu' };
  },
  webgpu: async () => {
    // Dawn's Node bindings (the `webgpu` package) provide navigator.gpu for tfjs-backend-webgpu.
    const dawn = await importOptional('webgpu');
    const create = dawn.create as ((flags: string[]) => unknown) | undefined;
    if (create == null) throw new Error('the webgpu package has no create()');
    Object.assign(globalThis, dawn.globals as object);
    const gpu = create([]);
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
    await importOptional('@tensorflow/tfjs-backend-webgpu');
    if (!(await activate('webgpu'))) throw new Error('@tensorflow/tfjs-backend-webgpu did not initialise');
    return { name: 'webgpu', package: '@tensorflow/tfjs-backend-webgpu' };
  },
};

/**
 * Initialises the preferred backend (with `auto`: tfjs-node-gpu, tfjs-node, WASM, then pure-JS CPU,
 * the first that loads) and installs the engine's gradient improvements: per-input gradients for
 * fused ops on every backend, and the project's fast gradient kernels on WASM. Logs nothing; the
 * caller logs what it returns. Throws when an explicitly requested backend is unavailable.
 */
export async function initBackend(preference: BackendPreference = 'auto', options: BackendOptions = {}): Promise<SelectedBackend> {
  installInputOnlyGradients();
  if (preference !== 'auto') return initialisers[preference](options);
  const failures: string[] = [];
  for (const candidate of autoBackendOrder) {
    try {
      return await initialisers[candidate](options);
    } catch (error) {
      failures.push(`${candidate}: ${(error as Error).message}`);
    }
  }
  throw new Error(`no TensorFlow.js backend could be initialised (${failures.join('; ')})`);
}
