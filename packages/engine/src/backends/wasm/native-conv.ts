/**
 * `Conv2D` and `FusedConv2D` for the WASM backend in AVX-512, or AVX2 with FMA on CPUs without it (the
 * @featurevis/native-conv addon, built from C at install time), on the tensors where they live in
 * tfjs-backend-wasm's heap. The input
 * gradients (conv2d-backprop-input.ts) run through `Conv2D`, so they use it too. The addon also runs
 * the layer sweep's item-channel kernels (item-channel-conv.ts), forward and input gradient, and `Mean`
 * over consecutive axes (a global average pool).
 *
 * Why: XNNPACK inside WebAssembly is limited to 128-bit SIMD; on this project's machines (AMD EPYC,
 * AVX-512) the same convolutions in native 512-bit code ran 2–5.5× faster on one thread (batch 64,
 * 3×3, through tfjs: 16 → 32 channels 4.2 → 0.76 ms, 3 → 16 1.7 → 0.81, the first layer's 16 → 3
 * input gradient 4.3 → 1.0 (2.9 with the sub-pixel plan), a 4×64×64 32 → 64 one 15.9 → 3.1;
 * bench/README.md; the AVX2 kernels, for other CPUs, about 2×), and the addon splits large ones over
 * the engine thread's cores. No maintained
 * package offers synchronous native convolutions that tfjs kernels can call: @tensorflow/tfjs-node
 * downloads libtensorflow at install time (impossible here), and onnxruntime-node's API is
 * asynchronous while tfjs kernels must return their output.
 *
 * Falls back to tfjs-backend-wasm's own kernel (XNNPACK) for what the addon does not do: other dtypes,
 * NCHW, a bias that is not one value per output channel, activations other than linear, ReLU and ReLU6,
 * and empty tensors. Where the addon was not built or the CPU has neither AVX-512 nor AVX2 with FMA,
 * nothing is registered.
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadNativeConv, NATIVE_CONV_ACTIVATIONS, NATIVE_CONV_LOOP_ORDERS, type NativeConvAddon } from '@featurevis/native-conv';
import { itemChannelConvGeometry, type ItemChannelConvAttrs } from './item-channel-conv.ts';
import { wasmHeapOf } from './simd-kernel.ts';

type KernelArgs = Parameters<tf.KernelFunc>[0];

/** Threads a large convolution is split over (the addon runs small ones on one). */
let threads = 1;
/** Whether the kernels are registered (the input-gradient planner's cost model follows it). */
let active = false;
let memoryView: Float32Array | undefined;
/** Convolutions the addon has run in this thread (tests and the benchmark tell from it which kernel ran). */
let calls = 0;

export function nativeConvCallCount(): number {
  return calls;
}

/** How many convolutions took each of the addon's loop orders in this thread (the tests check each is exercised). */
const loopOrderCounts = new Map<(typeof NATIVE_CONV_LOOP_ORDERS)[number], number>();

export function nativeConvLoopOrderCounts(): ReadonlyMap<(typeof NATIVE_CONV_LOOP_ORDERS)[number], number> {
  return loopOrderCounts;
}

/** Convolutions the addon split over more than one thread in this thread (the tests check large ones do). */
let splitCalls = 0;

export function nativeConvSplitCount(): number {
  return splitCalls;
}

export function nativeConvActive(): boolean {
  return active;
}

/** The instruction set the addon's kernels run on ('avx512', else 'avx2'); null exactly where it is not available. */
export function nativeConvInstructionSet(): 'avx512' | 'avx2' | null {
  const { addon } = loadNativeConv();
  return addon != null ? addon.isa() || null : null;
}

/** Why the addon is not used, or null where it is available. */
export function nativeConvUnavailableReason(): string | null {
  const load = loadNativeConv();
  return load.addon == null ? load.reason : null;
}

/** A view of the whole memory, renewed when the memory has grown (its buffer is then a new object). */
function viewOf(memory: WebAssembly.Memory): Float32Array {
  if (memoryView?.buffer !== memory.buffer) memoryView = new Float32Array(memory.buffer);
  return memoryView;
}

/**
 * The convolution in the addon, or null where it does not apply (the caller falls back). `bias` and
 * `activation` as FusedConv2D takes them.
 */
function convolveNatively(addon: NativeConvAddon, args: KernelArgs, bias: tf.TensorInfo | undefined, activation: string): tf.TensorInfo | null {
  const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs as unknown as tf.Conv2DAttrs;
  const activationCode = (NATIVE_CONV_ACTIVATIONS as Record<string, number>)[activation];
  if (activationCode == null || x.dtype !== 'float32' || filter.dtype !== 'float32' || (bias != null && bias.dtype !== 'float32')) return null;
  const dataFormat = tf.backend_util.convertConv2DDataFormat(attrs.dataFormat ?? 'NHWC');
  if (dataFormat !== 'channelsLast') return null;
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number],
    attrs.strides, attrs.dilations ?? 1, attrs.pad, attrs.dimRoundingMode, false, dataFormat);
  if (bias != null && tf.util.sizeFromShape(bias.shape) !== info.outChannels) return null;
  if ([info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, info.outChannels].some((size) => size <= 0)) return null;
  const found = wasmHeapOf(args.backend);
  if (found == null) return null;
  const { heap, memory } = found;
  const out = heap.makeOutput([info.batchSize, info.outHeight, info.outWidth, info.outChannels], 'float32');
  const offset = (t: tf.TensorInfo) => heap.getMemoryOffset(t.dataId) / 4;
  calls++;
  const order = addon.conv2d(viewOf(memory), Int32Array.of(
    offset(x), offset(filter), bias != null ? offset(bias) : -1, offset(out),
    info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, info.outChannels,
    info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth,
    info.padInfo.top, info.padInfo.left, activationCode, threads));
  const name = NATIVE_CONV_LOOP_ORDERS[order];
  if (name != null) loopOrderCounts.set(name, (loopOrderCounts.get(name) ?? 0) + 1);
  if (addon.lastCallThreads() > 1) splitCalls++;
  return out;
}

/** Kernel functions over the fallbacks (tfjs-backend-wasm's own kernels). */
export function nativeConv2D(addon: NativeConvAddon) {
  return (args: KernelArgs, fallback: tf.KernelFunc): tf.TensorInfo =>
    convolveNatively(addon, args, undefined, 'linear') ?? (fallback(args) as tf.TensorInfo);
}

export function nativeFusedConv2D(addon: NativeConvAddon) {
  return (args: KernelArgs, fallback: tf.KernelFunc): tf.TensorInfo => {
    const { bias, preluActivationWeights } = args.inputs as { bias?: tf.TensorInfo; preluActivationWeights?: tf.TensorInfo };
    const activation = (args.attrs as unknown as tf.FusedConv2DAttrs).activation ?? 'linear';
    const result = preluActivationWeights == null ? convolveNatively(addon, args, bias ?? undefined, activation) : null;
    return result ?? (fallback(args) as tf.TensorInfo);
  };
}

/**
 * An item-channel kernel (item-channel-conv.ts) in the addon: `forward` computes out from x, filter and
 * bias, else dx from dy and filter. Null where it does not apply (not float32, not in the WASM heap): the
 * caller falls back to the WebAssembly kernel.
 */
function itemChannelNatively(addon: NativeConvAddon, args: KernelArgs, forward: boolean): tf.TensorInfo | null {
  const { x, dy, filter, bias } = args.inputs as { x?: tf.TensorInfo; dy?: tf.TensorInfo; filter: tf.TensorInfo; bias?: tf.TensorInfo };
  const input = forward ? x : dy;
  if (input == null || [input, filter, ...(bias != null ? [bias] : [])].some((t) => t.dtype !== 'float32')) return null;
  const { inputShape, ...attrs } = args.attrs as unknown as ItemChannelConvAttrs & { inputShape: number[] };
  const { info } = itemChannelConvGeometry(forward ? input.shape : inputShape, filter.shape, attrs);
  if (bias != null && tf.util.sizeFromShape(bias.shape) !== info.batchSize) return null;
  const found = wasmHeapOf(args.backend);
  if (found == null) return null;
  const { heap, memory } = found;
  const out = heap.makeOutput(forward ? [info.batchSize, info.outHeight, info.outWidth, 1] : [...inputShape], 'float32');
  const offset = (t: tf.TensorInfo) => heap.getMemoryOffset(t.dataId) / 4;
  calls++;
  const params = Int32Array.of(
    offset(input), offset(filter), forward && bias != null ? offset(bias) : -1, offset(out),
    info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth, 1,
    info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth,
    info.padInfo.top, info.padInfo.left, NATIVE_CONV_ACTIVATIONS.linear, threads);
  if (forward) addon.itemChannelConv(viewOf(memory), params);
  else addon.itemChannelConvBackpropInput(viewOf(memory), params);
  return out;
}

export function nativeItemChannelConv(addon: NativeConvAddon) {
  return (args: KernelArgs, fallback: tf.KernelFunc): tf.TensorInfo => itemChannelNatively(addon, args, true) ?? (fallback(args) as tf.TensorInfo);
}

export function nativeItemChannelConvBackpropInput(addon: NativeConvAddon) {
  return (args: KernelArgs, fallback: tf.KernelFunc): tf.TensorInfo => itemChannelNatively(addon, args, false) ?? (fallback(args) as tf.TensorInfo);
}

/**
 * `Mean` over a run of consecutive axes with at least 4 values inside it (a global average pool: NHWC
 * over H and W), as x [outer, reduce, inner] → [outer, inner] in one pass (reduce.h), where
 * tfjs-backend-wasm transposes x first: 64 × 8 × 8 × 64 over H and W 395 → 72 µs through tfjs (11 µs of
 * it the kernel). Other means fall back.
 */
export function nativeMean(addon: NativeConvAddon) {
  return (args: KernelArgs, fallback: tf.KernelFunc): tf.TensorInfo => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as tf.MeanAttrs;
    const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
    const found = x.dtype === 'float32' && axes.length > 0 && axes.every((a, i) => a === axes[0]! + i) ? wasmHeapOf(args.backend) : null;
    const size = (from: number, to: number) => x.shape.slice(from, to).reduce((product, n) => product * n, 1);
    const outer = size(0, axes[0] ?? 0), reduce = size(axes[0] ?? 0, (axes.at(-1) ?? 0) + 1), inner = size((axes.at(-1) ?? 0) + 1, x.shape.length);
    if (found == null || inner < 4 || outer * reduce * inner === 0) return fallback(args) as tf.TensorInfo;
    const { heap, memory } = found;
    const outShape = keepDims ? x.shape.map((n, i) => (axes.includes(i) ? 1 : n)) : x.shape.filter((_, i) => !axes.includes(i));
    const out = heap.makeOutput(outShape, 'float32');
    calls++;
    addon.mean(viewOf(memory), Int32Array.of(heap.getMemoryOffset(x.dataId) / 4, heap.getMemoryOffset(out.dataId) / 4, outer, reduce, inner));
    return out;
  };
}

/** Sets the threads and the flag the planner reads; called by registerNativeConvKernels. */
export function setNativeConvState(next: { active: boolean; threads?: number }): void {
  active = next.active;
  if (next.threads != null) threads = Math.max(1, Math.floor(next.threads));
}
