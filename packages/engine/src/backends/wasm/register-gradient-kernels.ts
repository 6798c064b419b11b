/**
 * Registers the project's gradient kernels for the WASM backend, by kernel name, as tfjs backends do
 * (issue 4): an input gradient there is computed as a forward convolution, at XNNPACK speed.
 *
 * - `Conv2DBackpropInput` replaces tfjs-backend-wasm's slow loop; it falls back to that loop for
 *   geometries a forward convolution cannot express.
 * - `DepthwiseConv2dNativeBackpropInput` is missing from tfjs-backend-wasm 4.22 altogether (strided
 *   ones scatter in one SIMD pass instead: depthwise-scatter.wat).
 * - `MaxPoolGrad` replaces tfjs-backend-wasm's, which costs 50× its forward max pool (max-pool-grad.ts).
 * - `Tile` (what `tf.broadcastTo` runs) replaces tfjs-backend-wasm's per-element loop (tile.ts); not a
 *   gradient kernel, but the engine's gradient code broadcasts masks with it every step.
 * - `Slice` copies contiguous runs in the WASM heap instead of tfjs-backend-wasm's element loop over
 *   a copy of the input (slice.ts): the total-variation prior and metric slice every image.
 * - `Identity` shares its input's memory instead of copying it (identity.ts): tfjs-core clones every
 *   tensor a kernel saves for the backward pass, so the copies were paid on every step.
 * - `FeaturevisReluGrad`, with a `Relu` gradient that runs it: dy · step(x) in one SIMD pass instead
 *   of tfjs's Step, Cast and Multiply (relu-grad.ts).
 * - Gradients for `Mean` and `Sum` that broadcast dy with `Tile` instead of multiplying it by a
 *   tensor of ones (reduction-gradients.ts).
 * - `FeaturevisAdam`: one Adam step in one SIMD pass (adam.ts), which the engine's Adam optimiser runs.
 * - `FeaturevisRedirectedReluGrad`: Lucid's redirected ReLU gradient in two SIMD passes per item
 *   (redirected-relu-grad.ts), which the engine's first steps run.
 * - `FeaturevisItemChannelConv` and its input gradient `FeaturevisItemChannelConvBackpropInput`: one
 *   channel per batch item of a convolution, from the layer's input, in one SIMD pass each
 *   (item-channel-conv.ts), which the channel objectives run (models/channelsFromInput.ts).
 *
 * The weight-gradient kernels it also lacks (`Conv2DBackpropFilter`,
 * `DepthwiseConv2dNativeBackpropFilter`) are not added: activation maximization never runs them
 * once input-only-gradients.ts is installed.
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadNativeConv } from '@featurevis/native-conv';
import { ADAM_KERNEL, adamKernel } from './adam.ts';
import { conv2dBackpropInputAsForwardConv } from './conv2d-backprop-input.ts';
import { depthwiseConv2dBackpropInputAsForwardConv } from './depthwise-conv2d-backprop-input.ts';
import { identityWithoutCopy } from './identity.ts';
import {
  ITEM_CHANNEL_CONV_BACKPROP_INPUT_KERNEL, ITEM_CHANNEL_CONV_KERNEL, itemChannelConvBackpropInputKernel, itemChannelConvGradient, itemChannelConvKernel,
} from './item-channel-conv.ts';
import { maxPoolGrad } from './max-pool-grad.ts';
import { nativeConv2D, nativeFusedConv2D, nativeItemChannelConv, nativeItemChannelConvBackpropInput, nativeMean, setNativeConvState } from './native-conv.ts';
import { meanGradient, sumGradient } from './reduction-gradients.ts';
import { REDIRECTED_RELU_GRAD_KERNEL, redirectedReluGradKernel } from './redirected-relu-grad.ts';
import { RELU_GRAD_KERNEL, reluGradient, reluGradKernel } from './relu-grad.ts';
import { sliceInHeap } from './slice.ts';
import { tileInJavaScript } from './tile.ts';

type KernelArgs = Parameters<tf.KernelFunc>[0];

/**
 * Who registered each of our kernels (`registerWasmGradientKernels`: 'gradients', `registerNativeConvKernels`:
 * 'native-conv'), with the owners of the kernels it wraps: registering twice does not wrap an owner's own
 * kernel as its fallback, while the addon's item-channel kernels do wrap the WebAssembly ones.
 */
type Owner = 'gradients' | 'native-conv';
const ourKernelOwners = new WeakMap<tf.KernelFunc, ReadonlySet<Owner>>();

/** How to put back each original kernel we replaced, by `${owner}/${backendName}/${kernelName}`. */
const restoreOriginal = new Map<string, () => void>();

/** Replaces one kernel; returns a function that puts the original back. */
function replaceKernel(owner: Owner, kernelName: string, backendName: string, make: (original: tf.KernelConfig | undefined) => tf.KernelFunc): () => void {
  const key = `${owner}/${backendName}/${kernelName}`;
  const original = tf.getKernel(kernelName, backendName);
  const originalOwners = original != null ? ourKernelOwners.get(original.kernelFunc) : undefined;
  if (originalOwners?.has(owner)) return restoreOriginal.get(key) ?? (() => {});
  const kernelFunc = make(original);
  ourKernelOwners.set(kernelFunc, new Set([owner, ...(originalOwners ?? [])]));
  if (original != null) tf.unregisterKernel(kernelName, backendName);
  // Keep the original's setup/dispose: the fallback path still calls its cwrapped WASM function.
  tf.registerKernel({ kernelName, backendName, kernelFunc, setupFunc: original?.setupFunc, disposeFunc: original?.disposeFunc });
  const restore = () => {
    restoreOriginal.delete(key);
    if (tf.getKernel(kernelName, backendName)?.kernelFunc !== kernelFunc) return;
    tf.unregisterKernel(kernelName, backendName);
    if (original != null) tf.registerKernel(original);
  };
  restoreOriginal.set(key, restore);
  return restore;
}

/** `replaceKernel` for one of ours that falls back to the original kernel, which must exist then. */
function replaceKernelFallingBack(owner: Owner, kernelName: string, backendName: string, run: (args: KernelArgs, fallback: tf.KernelFunc) => tf.TensorInfo): () => void {
  return replaceKernel(owner, kernelName, backendName, (original) => (args: KernelArgs) => {
    if (original == null) throw new Error(`no ${kernelName} kernel to fall back to on ${backendName}`);
    return run(args, original.kernelFunc);
  });
}

/** The kernels this module registers, by name (the tests check each against the CPU backend). */
export const wasmGradientKernelNames: readonly string[] = [tf.Conv2DBackpropInput, tf.DepthwiseConv2dNativeBackpropInput, tf.MaxPoolGrad, tf.Tile, tf.Slice, tf.Identity, RELU_GRAD_KERNEL, REDIRECTED_RELU_GRAD_KERNEL, ADAM_KERNEL, ITEM_CHANNEL_CONV_KERNEL, ITEM_CHANNEL_CONV_BACKPROP_INPUT_KERNEL];

/** How to put back each tfjs gradient we replaced, by kernel name. */
const restoreGradient = new Map<string, () => void>();

/** Registers one of our gradients (the registry is global); returns the function that puts tfjs's back. */
function replaceGradient(ours: tf.GradConfig): () => void {
  const original = tf.getGradient(ours.kernelName);
  if (original === ours) return restoreGradient.get(ours.kernelName) ?? (() => {});
  tf.registerGradient(ours);
  const restore = () => {
    restoreGradient.delete(ours.kernelName);
    if (tf.getGradient(ours.kernelName) === ours && original) tf.registerGradient(original);
  };
  restoreGradient.set(ours.kernelName, restore);
  return restore;
}

/**
 * Registers the addon's (AVX-512 or AVX2) `Conv2D` and `FusedConv2D` of native-conv.ts over tfjs-backend-wasm's (which
 * stay as their fallbacks), its item-channel kernels over ours (call registerWasmGradientKernels first) and its
 * `Mean` over tfjs-backend-wasm's, splitting large convolutions over `threads` threads. Does nothing where the
 * addon is not built or this CPU cannot run it (`nativeConvUnavailableReason` says why). Idempotent;
 * returns the function that puts XNNPACK's kernels back (the benchmark's comparison).
 */
export function registerNativeConvKernels(threads: number, backendName = 'wasm'): () => void {
  const { addon } = loadNativeConv();
  if (addon == null) return () => {};
  const restores = [
    replaceKernelFallingBack('native-conv', tf.Conv2D, backendName, nativeConv2D(addon)),
    replaceKernelFallingBack('native-conv', tf.FusedConv2D, backendName, nativeFusedConv2D(addon)),
    // Over the WebAssembly item-channel kernels, which registerWasmGradientKernels registers first.
    replaceKernelFallingBack('native-conv', ITEM_CHANNEL_CONV_KERNEL, backendName, nativeItemChannelConv(addon)),
    replaceKernelFallingBack('native-conv', ITEM_CHANNEL_CONV_BACKPROP_INPUT_KERNEL, backendName, nativeItemChannelConvBackpropInput(addon)),
    replaceKernelFallingBack('native-conv', tf.Mean, backendName, nativeMean(addon)),
  ];
  setNativeConvState({ active: true, threads });
  return () => {
    restores.forEach((restore) => restore());
    setNativeConvState({ active: false });
  };
}

/**
 * Idempotent. `initBackend('wasm')` calls it; call it yourself only when activating WASM some other
 * way. Returns a function that restores tfjs-backend-wasm's own kernels (the benchmark's "before").
 */
export function registerWasmGradientKernels(backendName = 'wasm'): () => void {
  const restores = [
    replaceKernelFallingBack('gradients', tf.Conv2DBackpropInput, backendName, conv2dBackpropInputAsForwardConv),
    replaceKernel('gradients', tf.DepthwiseConv2dNativeBackpropInput, backendName, (original) => (args: KernelArgs) =>
      depthwiseConv2dBackpropInputAsForwardConv(args, original?.kernelFunc)),
    replaceKernel('gradients', tf.MaxPoolGrad, backendName, () => (args: KernelArgs) => maxPoolGrad(args)),
    replaceKernelFallingBack('gradients', tf.Tile, backendName, tileInJavaScript),
    replaceKernelFallingBack('gradients', tf.Slice, backendName, sliceInHeap),
    replaceKernelFallingBack('gradients', tf.Identity, backendName, identityWithoutCopy),
    replaceKernel('gradients', RELU_GRAD_KERNEL, backendName, () => (args: KernelArgs) => reluGradKernel(args)),
    replaceKernel('gradients', REDIRECTED_RELU_GRAD_KERNEL, backendName, () => (args: KernelArgs) => redirectedReluGradKernel(args)),
    replaceKernel('gradients', ADAM_KERNEL, backendName, () => (args: KernelArgs) => adamKernel(args)),
    replaceKernel('gradients', ITEM_CHANNEL_CONV_KERNEL, backendName, () => (args: KernelArgs) => itemChannelConvKernel(args)),
    replaceKernel('gradients', ITEM_CHANNEL_CONV_BACKPROP_INPUT_KERNEL, backendName, () => (args: KernelArgs) => itemChannelConvBackpropInputKernel(args)),
    replaceGradient(reluGradient),
    replaceGradient(meanGradient),
    replaceGradient(sumGradient),
    replaceGradient(itemChannelConvGradient),
  ];
  return () => restores.forEach((restore) => restore());
}
