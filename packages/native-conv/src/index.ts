/**
 * The addon built from conv2d.c at install time, if it was built and this CPU runs it: 2-D
 * convolutions in AVX-512 (or AVX2 with FMA) on tensors in tfjs-backend-wasm's heap (README.md). `loadNativeConv`
 * says why not where it is not available.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface NativeConvAddon {
  /**
   * Convolves in place in `memory` (a view of the whole WebAssembly memory). `params`, in this order:
   * the float offsets in `memory` of x, filter, bias (−1: none) and y; batch, inHeight, inWidth,
   * inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth, strideHeight, strideWidth,
   * dilationHeight, dilationWidth, padTop, padLeft; the activation (`NATIVE_CONV_ACTIVATIONS`); the
   * threads to split a large convolution over. Returns the loop order it took (0: a vector
   * of output channels, 1: of input channels, 2: of output pixels; `NATIVE_CONV_LOOP_ORDERS`). Throws
   * on a geometry or offset outside the memory.
   */
  conv2d(memory: Float32Array, params: Int32Array): number;
  /**
   * One output channel per batch item: item i of x [n, h, w, ci] convolved with item i's filter (the
   * filter laid out [n, kh, kw, ci]) plus bias[i], into y [n, oh, ow]. `params` as conv2d's with
   * outChannels 1 (the activation is not applied); the items are shared out over the threads.
   */
  itemChannelConv(memory: Float32Array, params: Int32Array): void;
  /** itemChannelConv's input gradient: params' x offset is dy [n, oh, ow], its y offset dx [n, h, w, ci]; no bias. */
  itemChannelConvBackpropInput(memory: Float32Array, params: Int32Array): void;
  /**
   * The mean of x [outer, reduce, inner] over its middle axis, into out [outer, inner]; `params`: the
   * float offsets of x and out, then outer, reduce, inner. Each sum is taken in order along the axis.
   */
  mean(memory: Float32Array, params: Int32Array): void;
  /** The threads the calling thread's last call ran on (1: not split; 0 before any call). */
  lastCallThreads(): number;
  /** Whether this CPU runs the kernels (AVX-512F, or AVX2 with FMA). */
  supported(): boolean;
  /**
   * The instruction set the kernels run on: 'avx512' where the CPU has it, else 'avx2' ('' where
   * neither). With a name, runs that one from now on (the tests check the AVX2 kernels on an AVX-512
   * CPU); throws where the CPU cannot.
   */
  isa(set?: 'avx512' | 'avx2'): 'avx512' | 'avx2' | '';
}

/** conv2d's return values: which loop order ran (README.md). */
export const NATIVE_CONV_LOOP_ORDERS = ['output channels', 'input channels', 'output pixels'] as const;

/** `activation` values: what the kernel applies after the bias. */
export const NATIVE_CONV_ACTIVATIONS = { linear: 0, relu: 1, relu6: 2 } as const;

export const addonPath = fileURLToPath(new URL('../build/Release/featurevis_conv.node', import.meta.url));

export type NativeConvLoad = { addon: NativeConvAddon } | { addon: null; reason: string };

let loaded: NativeConvLoad | undefined;

export function loadNativeConv(): NativeConvLoad {
  if (loaded != null) return loaded;
  if (!existsSync(addonPath)) {
    loaded = { addon: null, reason: 'not built (npm install builds it where a C compiler and Node\'s headers are present)' };
    return loaded;
  }
  try {
    const addon = createRequire(import.meta.url)(addonPath) as NativeConvAddon;
    loaded = addon.supported() ? { addon } : { addon: null, reason: 'this CPU has neither AVX-512 nor AVX2 with FMA' };
  } catch (error) {
    loaded = { addon: null, reason: `failed to load: ${(error as Error).message}` };
  }
  return loaded;
}
