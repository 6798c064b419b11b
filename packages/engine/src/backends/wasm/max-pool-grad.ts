/**
 * `MaxPoolGrad` for the WASM backend: each pooling window's gradient goes to the first
 * largest input of the window (row-major window order, as tfjs's CPU kernel and TensorFlow choose),
 * summed where windows overlap.
 *
 * Why: tfjs-backend-wasm's own MaxPoolGrad measured 30 ms on this machine for a 4×64×64×32 input whose
 * forward max pool takes 0.6 ms; in a VGG-style network's optimisation step it was a fifth of the
 * backward pass (bench/README.md). This is one pass over the windows: O(input · window / stride²),
 * with the usual 2×2/stride-2 case unrolled — and, when the channel count is a multiple of 4, run in
 * WebAssembly SIMD (max-pool-grad-2x2.wat), four channels at a time without branches: the JavaScript
 * loop costs about 4 ns an element on this machine, most of it mispredicted branches (which of four
 * inputs is largest is data-dependent), and was the largest single kernel of a shapes-a step. The SIMD kernel works in tfjs-backend-wasm's
 * own heap where it can (no copies: 64×32×32×16 in about 1 ms against 2.3 ms with copies).
 */
import * as tf from '@tensorflow/tfjs-core';
import { sharedMemoryWasmBase64 as twoByTwoSimdSharedBase64, wasmBase64 as twoByTwoSimdBase64 } from './max-pool-grad-2x2.wasm.ts';
import { SimdKernel } from './simd-kernel.ts';

/** What this needs of a backend: a copy of a tensor's values (every tfjs KernelBackend has it). */
interface ReadableBackend { readSync(dataId: tf.DataId): tf.BackendValues }

/**
 * The common 2×2, stride-2 pooling with every window inside the input: windows do not overlap, so each
 * gradient value is written once, and the first-largest choice is unrolled (2.4× faster than the
 * general loop on 64×32×32×16, mostly fewer mispredicted branches).
 */
function twoByTwoNonOverlapping(x: Float32Array, gradient: Float32Array, dx: Float32Array, info: tf.backend_util.Conv2DInfo): void {
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth } = info;
  const rowSize = inWidth * channels;
  let dyIndex = 0;
  for (let b = 0; b < batchSize; b++) {
    for (let outY = 0; outY < outHeight; outY++) {
      for (let outX = 0; outX < outWidth; outX++, dyIndex += channels) {
        // The window's four taps in row-major order: the first largest wins ties, as in the general loop.
        const topLeft = ((b * inHeight + 2 * outY) * inWidth + 2 * outX) * channels;
        const topRight = topLeft + channels;
        const bottomLeft = topLeft + rowSize;
        const bottomRight = bottomLeft + channels;
        for (let c = 0; c < channels; c++) {
          // Starting from −∞ and "none", as the general loop does (a window of NaNs gets no gradient).
          let best = -Infinity;
          let at = -1;
          const v0 = x[topLeft + c];
          if (v0 > best) { best = v0; at = topLeft + c; }
          const v1 = x[topRight + c];
          if (v1 > best) { best = v1; at = topRight + c; }
          const v2 = x[bottomLeft + c];
          if (v2 > best) { best = v2; at = bottomLeft + c; }
          if (x[bottomRight + c] > best) at = bottomRight + c;
          if (at >= 0) dx[at] = gradient[dyIndex + c];
        }
      }
    }
  }
}

/** The SIMD kernel's export: byte offsets of x, dy and dx in its memory, then the geometry. */
type MaxPoolGrad2x2 = (x: number, dy: number, dx: number, batch: number, inHeight: number, inWidth: number, channels: number, outHeight: number, outWidth: number) => void;

const twoByTwoSimd = new SimdKernel<MaxPoolGrad2x2>(twoByTwoSimdBase64, twoByTwoSimdSharedBase64, 'maxPoolGrad2x2');

/** Positions under no window (a last odd row or column) are not written by the kernel. */
function hasUncoveredInput(info: tf.backend_util.Conv2DInfo): boolean {
  return 2 * info.outHeight < info.inHeight || 2 * info.outWidth < info.inWidth;
}

/**
 * The 2×2 case in WebAssembly SIMD, in place in tfjs-backend-wasm's heap: the kernel reads x and dy
 * where they are and writes dx into the output tensor's memory. Null when the heap cannot be had.
 */
function twoByTwoInHeap(backend: unknown, input: tf.TensorInfo, dy: tf.TensorInfo, info: tf.backend_util.Conv2DInfo): tf.TensorInfo | null {
  const found = twoByTwoSimd.inHeapOf(backend, [input, dy]);
  if (found == null) return null;
  const { heap, kernel } = found;
  const out = heap.makeOutput([...input.shape], 'float32');
  if (hasUncoveredInput(info)) heap.typedArrayFromHeap(out).fill(0);
  kernel(heap.getMemoryOffset(input.dataId), heap.getMemoryOffset(dy.dataId), heap.getMemoryOffset(out.dataId),
    info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth);
  return out;
}

/** A memory of the kernel's own, for the copying path (grown as needed). */
let ownMemory: WebAssembly.Memory | undefined;

/**
 * The 2×2 case in WebAssembly SIMD on copies: x and dy copied into a memory of the kernel's own, dx
 * computed there and returned as a view of it, valid until the next call (the caller copies it into a
 * tensor at once). Null where the runtime has no WebAssembly SIMD.
 */
function twoByTwoOnCopies(x: Float32Array, gradient: Float32Array, info: tf.backend_util.Conv2DInfo): Float32Array | null {
  ownMemory ??= new WebAssembly.Memory({ initial: 1 });
  const kernel = twoByTwoSimd.in(ownMemory);
  if (kernel == null) return null;
  const xOffset = 0;
  const dyOffset = x.byteLength;
  const dxOffset = dyOffset + gradient.byteLength;
  const bytesNeeded = dxOffset + x.byteLength;
  const pageBytes = 65536;
  const pages = Math.ceil(bytesNeeded / pageBytes) - ownMemory.buffer.byteLength / pageBytes;
  if (pages > 0) ownMemory.grow(pages);
  const memory = ownMemory.buffer;
  new Float32Array(memory, xOffset, x.length).set(x);
  new Float32Array(memory, dyOffset, gradient.length).set(gradient);
  const dx = new Float32Array(memory, dxOffset, x.length);
  if (hasUncoveredInput(info)) dx.fill(0);
  kernel(xOffset, dyOffset, dxOffset, info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth);
  return dx;
}

/** Any geometry: every window, clipped to the input, its first largest input per channel. */
function anyGeometry(x: Float32Array, gradient: Float32Array, dx: Float32Array, info: tf.backend_util.Conv2DInfo): void {
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth } = info;
  // Per channel of the current window: the largest value so far and where it is in x (−1: none yet).
  const best = new Float32Array(channels);
  const bestAt = new Int32Array(channels);
  let dyIndex = 0;
  for (let b = 0; b < batchSize; b++) {
    for (let outY = 0; outY < outHeight; outY++) {
      const top = outY * info.strideHeight - info.padInfo.top;
      for (let outX = 0; outX < outWidth; outX++, dyIndex += channels) {
        const left = outX * info.strideWidth - info.padInfo.left;
        best.fill(-Infinity);
        bestAt.fill(-1);
        for (let fy = 0; fy < info.effectiveFilterHeight; fy += info.dilationHeight) {
          const y = top + fy;
          if (y < 0 || y >= inHeight) continue;
          for (let fx = 0; fx < info.effectiveFilterWidth; fx += info.dilationWidth) {
            const xCol = left + fx;
            if (xCol < 0 || xCol >= inWidth) continue;
            const base = ((b * inHeight + y) * inWidth + xCol) * channels;
            for (let c = 0; c < channels; c++) {
              const value = x[base + c];
              if (value > best[c]) { best[c] = value; bestAt[c] = base + c; }
            }
          }
        }
        // Overlapping windows (stride < filter) can share a largest input: their gradients add up.
        for (let c = 0; c < channels; c++) {
          if (bestAt[c] >= 0) dx[bestAt[c]] += gradient[dyIndex + c];
        }
      }
    }
  }
}

/**
 * Which implementation runs: `auto` takes the SIMD kernel in place where it can, else on copies, else
 * the JavaScript loops; the tests force each of the others to check it against the CPU kernel
 * (`simdInPlace` throws where the in-place kernel cannot run, so a test cannot pass on a fallback).
 */
export type MaxPoolGradPath = 'auto' | 'simdInPlace' | 'simdOnCopies' | 'javascript';
let path: MaxPoolGradPath = 'auto';

/** Forces a path (tests); returns the function that puts the previous one back. */
export function useMaxPoolGradPath(next: MaxPoolGradPath): () => void {
  const previous = path;
  path = next;
  return () => { path = previous; };
}

export function maxPoolGrad(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown }): tf.TensorInfo {
  const { dy, input } = args.inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
  const attrs = args.attrs as unknown as tf.MaxPoolGradAttrs;
  const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const twoByTwo = info.filterHeight === 2 && info.filterWidth === 2 && info.strideHeight === 2 && info.strideWidth === 2
    && info.dilationHeight === 1 && info.dilationWidth === 1 && info.padInfo.top === 0 && info.padInfo.left === 0
    && 2 * info.outHeight <= info.inHeight && 2 * info.outWidth <= info.inWidth;
  const simd = twoByTwo && info.inChannels % 4 === 0 && path !== 'javascript';
  if (simd && (path === 'auto' || path === 'simdInPlace')) {
    const inPlace = twoByTwoInHeap(args.backend, input, dy, info);
    if (inPlace) return inPlace;
  }
  if (path === 'simdInPlace') throw new Error('MaxPoolGrad: the in-place SIMD kernel cannot run here');
  const backend = args.backend as ReadableBackend;
  const x = backend.readSync(input.dataId) as Float32Array;
  const gradient = backend.readSync(dy.dataId) as Float32Array;
  let dx = simd ? twoByTwoOnCopies(x, gradient, info) : null;
  if (dx == null) {
    dx = new Float32Array(x.length);
    if (twoByTwo) twoByTwoNonOverlapping(x, gradient, dx, info);
    else anyGeometry(x, gradient, dx, info);
  }
  // tf.tensor4d copies the values into the backend at once, so a view of the SIMD kernel's memory is safe.
  return tf.tensor4d(dx, input.shape as [number, number, number, number], 'float32');
}
