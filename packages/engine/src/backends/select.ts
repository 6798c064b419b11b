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
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { installInputOnlyGradients } from './input-only-gradients.ts';
import { registerWasmGradientKernels } from './wasm/register-gradient-kernels.ts';

export type BackendPreference = 'auto' | 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu' | 'webgpu';

export interface SelectedBackend {
  /** The tfjs backend name (`tf.getBackend()`): 'tensorflow', 'wasm', 'cpu' or 'webgpu'. */
  name: string;
  /** The npm package that provides it. */
  package: string;
}

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

type Initialiser = () => Promise<SelectedBackend>;

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
  wasm: async () => {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // The .wasm binaries sit next to the package's JS in dist/; in Node they must be given as a path.
    const distFolder = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
    wasm.setWasmPaths(distFolder);
    // tfjs-backend-wasm runs single-threaded under Node (its WASM_HAS_MULTITHREAD_SUPPORT flag is false
    // there, tfjs issue 3830); where threads are supported, use every core.
    if (await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) {
      const os = await import('node:os');
      wasm.setThreadsCount(os.availableParallelism());
    }
    if (!(await activate('wasm'))) throw new Error('@tensorflow/tfjs-backend-wasm did not initialise');
    registerWasmGradientKernels();
    return { name: 'wasm', package: '@tensorflow/tfjs-backend-wasm' };
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
export async function initBackend(preference: BackendPreference = 'auto'): Promise<SelectedBackend> {
  installInputOnlyGradients();
  if (preference !== 'auto') return initialisers[preference]();
  const failures: string[] = [];
  for (const candidate of autoBackendOrder) {
    try {
      return await initialisers[candidate]();
    } catch (error) {
      failures.push(`${candidate}: ${(error as Error).message}`);
    }
  }
  throw new Error(`no TensorFlow.js backend could be initialised (${failures.join('; ')})`);
}
