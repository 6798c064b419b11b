/** Backends: choosing one, and making an activation-maximization step cost a forward plus an input gradient. */
export { useWasmThreadsFor } from './wasm/node-threads.ts';
export { derivedFilterBytes } from './wasm/derived-filters.ts';
export { initBackend, autoBackendOrder, DEFAULT_WASM_THREADS_MIN_PIXELS, MAX_WASM_THREADS, type BackendOptions, type BackendPreference, type SelectedBackend } from './select.ts';
export { installInputOnlyGradients, weightGradientKernelNames, withUnfusedActivations } from './input-only-gradients.ts';
export { registerNativeConvKernels, registerWasmGradientKernels, wasmGradientKernelNames } from './wasm/register-gradient-kernels.ts';
export { nativeConvActive, nativeConvInstructionSet, nativeConvUnavailableReason } from './wasm/native-conv.ts';
export { ADAM_KERNEL, fusedAdamRuns, type AdamConstants } from './wasm/adam.ts';
export { REDIRECTED_RELU_GRAD_KERNEL, redirectedReluGradRuns } from './wasm/redirected-relu-grad.ts';
export { ITEM_CHANNEL_CONV_KERNEL, itemChannelConv, itemChannelConvRuns, type ItemChannelConvAttrs } from './wasm/item-channel-conv.ts';
