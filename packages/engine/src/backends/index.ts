/** Backends: choosing one, and making an activation-maximization step cost a forward plus an input gradient. */
export { initBackend, autoBackendOrder, type BackendPreference, type SelectedBackend } from './select.ts';
export { installInputOnlyGradients, weightGradientKernelNames } from './input-only-gradients.ts';
export { registerWasmGradientKernels, wasmGradientKernelNames } from './wasm/register-gradient-kernels.ts';
