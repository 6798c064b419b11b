/**
 * Plumbing shared by the project's hand-written WebAssembly SIMD kernels (the `.wat` files here,
 * compiled by scripts/build-wasm-kernels.ts): compiling a kernel's module once, instantiating it in a
 * given memory, and reaching tfjs-backend-wasm's own heap so that a kernel reads its inputs and
 * writes its output where the tensors live, without copies.
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * One kernel: its module for an unshared memory and for a shared one (tfjs-backend-wasm's heap when it
 * runs multi-threaded, node-threads.ts; WebAssembly links a shared memory only to a module that
 * declares its import shared), compiled on first use, and an instance per memory it works in.
 */
export class SimdKernel<F extends (...args: number[]) => void> {
  private readonly modules = new Map<boolean, WebAssembly.Module | null>();
  private readonly instances = new WeakMap<WebAssembly.Memory, F | null>();

  constructor(private readonly base64: string, private readonly sharedBase64: string, private readonly exportName: string) {}

  private module(shared: boolean): WebAssembly.Module | null {
    if (!this.modules.has(shared)) {
      try {
        this.modules.set(shared, new WebAssembly.Module(Buffer.from(shared ? this.sharedBase64 : this.base64, 'base64')));
      } catch {
        this.modules.set(shared, null); // no WebAssembly SIMD (or threads) in this runtime
      }
    }
    return this.modules.get(shared) ?? null;
  }

  /** The kernel's export working in `memory`; null where it cannot be had. */
  in(memory: WebAssembly.Memory): F | null {
    if (!this.instances.has(memory)) {
      const module = this.module((memory.buffer as unknown) instanceof SharedArrayBuffer);
      try {
        const instance = module && new WebAssembly.Instance(module, { env: { memory } });
        this.instances.set(memory, instance ? instance.exports[this.exportName] as F : null);
      } catch {
        this.instances.set(memory, null);
      }
    }
    return this.instances.get(memory) ?? null;
  }

  /**
   * The kernel in `backend`'s heap, for float32 `tensors`: with the heap's helpers and memory; null
   * where it cannot run there (another backend, another dtype, no WebAssembly SIMD).
   */
  inHeapOf(backend: unknown, tensors: readonly tf.TensorInfo[]): { heap: WasmHeapBackend; memory: WebAssembly.Memory; kernel: F } | null {
    const found = tensors.every((t) => t.dtype === 'float32') ? wasmHeapOf(backend) : null;
    const kernel = found ? this.in(found.memory) : null;
    return found && kernel ? { ...found, kernel } : null;
  }

  /** `inHeapOf` for a kernel registered as `kernelName`, which cannot run anywhere else: throws where it cannot. */
  requireHeapOf(kernelName: string, backend: unknown, tensors: readonly tf.TensorInfo[]): { heap: WasmHeapBackend; memory: WebAssembly.Memory; kernel: F } {
    const found = this.inHeapOf(backend, tensors);
    if (found == null) throw new Error(`${kernelName}: needs float32 tensors in tfjs-backend-wasm's heap and WebAssembly SIMD`);
    return found;
  }

  /** Whether the kernel registered as `kernelName` can run for `tensors` on the active backend. */
  runsFor(kernelName: string, tensors: readonly tf.TensorInfo[]): boolean {
    return tf.getKernel(kernelName, tf.getBackend()) != null && this.inHeapOf(tf.backend(), tensors) != null;
  }
}

/**
 * What the in-place paths use of tfjs-backend-wasm: its kernels' own helpers (`getMemoryOffset`,
 * `makeOutput`, `typedArrayFromHeap` on BackendWasm) and the Emscripten module's memory: exported as
 * `Module.asm.memory` by the single-threaded build, imported and kept as `Module.wasmMemory` by the
 * threaded one (tfjs-backend-wasm 4.x). Checked at run time; without them the callers fall back.
 */
export interface WasmHeapBackend {
  wasm: { asm?: { memory?: unknown }; wasmMemory?: unknown };
  getMemoryOffset(dataId: tf.DataId): number;
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

/** Typed views of tfjs-backend-wasm's heap for any numeric dtype (Tile and Slice move int32 and bool too). */
export type NumericArray = Float32Array | Int32Array | Uint8Array;
export interface HeapViews {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): NumericArray;
}

export function wasmHeapOf(backend: unknown): { heap: WasmHeapBackend; memory: WebAssembly.Memory } | null {
  const candidate = backend as Partial<WasmHeapBackend>;
  const memory = candidate?.wasm?.asm?.memory ?? candidate?.wasm?.wasmMemory;
  return memory instanceof WebAssembly.Memory && typeof candidate.getMemoryOffset === 'function'
    && typeof candidate.makeOutput === 'function' && typeof candidate.typedArrayFromHeap === 'function'
    ? { heap: candidate as WasmHeapBackend, memory } : null;
}

/**
 * A 2-D convolution's geometry as the convolution kernels here take it (item-channel-conv.wat,
 * depthwise-scatter.wat), after their byte offsets: from tfjs's computeConv2DInfo.
 */
export type ConvolutionGeometryArgs = [batch: number, inHeight: number, inWidth: number, channels: number, outHeight: number, outWidth: number,
  kernelHeight: number, kernelWidth: number, strideHeight: number, strideWidth: number, dilationHeight: number, dilationWidth: number,
  padTop: number, padLeft: number];

export function convolutionGeometryArgs(info: tf.backend_util.Conv2DInfo): ConvolutionGeometryArgs {
  return [info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, info.filterHeight, info.filterWidth,
    info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth, info.padInfo.top, info.padInfo.left];
}
