/**
 * A convolution's input gradient as one strided forward convolution whose output channels hold a
 * block of neighbouring pixels (sub-pixel convolution: Shi et al. 2016, "Is the deconvolution layer
 * the same as a convolutional layer?", arXiv:1609.07009), chosen where it costs XNNPACK less than the
 * zero-dilated formulation of transposed-convolution.ts.
 *
 * Why: XNNPACK's convolution on WASM SIMD computes output channels 8 at a time (measured here on a
 * batch-64 32×32×16 input, 3×3 filter: 1, 3, 4, 6 or 8 output channels cost the same, 9 cost twice as
 * much). The first layer's input gradient has the image's 3 channels (1 for a grey model), so 5 of
 * every 8 lanes did nothing; in a batch-64 shapes-dw-graph step it was the costliest kernel. And a
 * strided convolution's gradient, computed over the stride-dilated dy, multiplies mostly zeros.
 *
 * Along one axis, with forward stride s, padding p before and filter w[0..k): the forward y[o] =
 * Σ_k x[o·s − p + k]·w[k] has the adjoint dx[i] = Σ dy[o]·w[k] over o·s − p + k = i. Write
 * i = B·j + a with a block of B = s·m pixels (a < B): then o = m·j + e with e = (a + p − k) / s,
 * whenever s divides a + p − k. So the B outputs of block j are one correlation, at stride m, of dy
 * (padded by P = −min e before) with a filter of K = max e − min e + 1 taps whose output channel
 * (a, c) takes w[k, c] at tap e + P. Two axes give B_h·B_w·C output channels, which a reshape (B_h = 1)
 * or a transpose turns back into pixels. The block sizes are chosen by a cost model (`planCost`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { callKernel, disposeIntermediate, withShape } from './kernel-call.ts';
import { nativeConvActive, nativeConvInstructionSet } from './native-conv.ts';
import type { ExplicitPadding4D } from './transposed-convolution.ts';

/** XNNPACK's output-channel tile for f32 convolutions on WASM SIMD (see the module comment). */
const OUTPUT_CHANNEL_TILE = 8;
/**
 * What moving one value through a transpose or a pad costs, in multiply-adds of an XNNPACK
 * convolution: measured here, a batch-64 3×3 16→8 channel convolution did 75 M (padded) multiply-adds
 * in 4.3 ms and a transpose of 196 k values took 0.74 ms — about 65 multiply-adds a value.
 */
const COPY_COST_IN_MULTIPLY_ADDS = 64;
/** Pixel blocks tried along the width (times the stride); along the height only the stride is tried. */
const WIDTH_BLOCK_FACTORS = [1, 2, 4, 8];

/** One spatial axis of the sub-pixel plan. */
interface PhaseAxis {
  /** Pixels of dx per output pixel of the convolution (B = stride · step). */
  block: number;
  /** The convolution's stride over dy (m). */
  step: number;
  /** The convolution's filter size along this axis (K). */
  taps: number;
  padding: [number, number];
  /** tapOf[a · kernelSize + k]: the tap where w[k] lands for pixel a of a block, or −1. */
  tapOf: Int32Array;
}

/** One axis: sizes in pixels; `padBefore` as the forward convolution padded. Undefined if not expressible. */
function phaseAxis(inputSize: number, dySize: number, stride: number, kernelSize: number, padBefore: number, block: number): PhaseAxis | undefined {
  if (block % stride !== 0 || inputSize % block !== 0) return undefined;
  const step = block / stride;
  const minShift = Math.ceil((padBefore - (kernelSize - 1)) / stride);
  const maxShift = Math.floor((block - 1 + padBefore) / stride);
  if (minShift > 0) return undefined; // padding wider than the filter: dy would have to be cropped
  const before = -minShift;
  const taps = maxShift - minShift + 1;
  const blocks = inputSize / block;
  // A stride-`step` 'valid' convolution over `length` values yields `blocks` outputs exactly when
  // length is within [step·(blocks − 1) + taps, step·blocks + taps − 1].
  const needed = step * (blocks - 1) + taps;
  if (dySize + before > needed + step - 1) return undefined; // dy reaches past dx's end: would need a crop
  const tapOf = new Int32Array(block * kernelSize).fill(-1);
  for (let a = 0; a < block; a++) {
    for (let k = 0; k < kernelSize; k++) {
      const shift = a + padBefore - k;
      if (shift % stride === 0) tapOf[a * kernelSize + k] = shift / stride + before;
    }
  }
  return { block, step, taps, padding: [before, Math.max(0, needed - dySize - before)], tapOf };
}

export interface SubPixelPlan {
  rows: PhaseAxis;
  cols: PhaseAxis;
}

/** Multiply-adds XNNPACK pays for a convolution producing `pixels` outputs, output channels rounded up to its tile. */
function convolutionCost(pixels: number, taps: number, inChannels: number, outChannels: number, outWidth: number): number {
  if (nativeConvActive()) return pixels * taps * nativeConvLanes(inChannels, outChannels, outWidth, nativeConvInstructionSet() === 'avx2' ? 8 : 16);
  return pixels * taps * inChannels * Math.ceil(outChannels / OUTPUT_CHANNEL_TILE) * OUTPUT_CHANNEL_TILE;
}

/**
 * The addon's (native-conv.ts) vector lanes per output pixel and tap, idle ones included, as conv2d.c
 * chooses its loop order for these stride-1 convolutions: `lanes` (16 with AVX-512, 8 with AVX2) output
 * channels a vector; for at most 8 output channels `lanes` input channels a vector (plus the sums across
 * it, left out here); or, for at most `lanes` output channels, `lanes` output pixels of a row a vector
 * (the row's last vector counted whole) where that idles no more lanes. It has no 8-channel tile, so the
 * plain formulation usually wins there (a first layer's 16 → 3 input gradient: 432 against the sub-pixel
 * plan's 576 lanes a pixel).
 */
function nativeConvLanes(inChannels: number, outChannels: number, outWidth: number, lanes: number): number {
  const overOutputs = inChannels * Math.ceil(outChannels / lanes) * lanes;
  const overInputs = outChannels * Math.ceil(inChannels / lanes) * lanes;
  const other = outChannels <= 8 ? Math.min(overOutputs, overInputs) : overOutputs;
  const overPixels = (inChannels * outChannels * Math.ceil(outWidth / lanes) * lanes) / outWidth;
  return outChannels <= lanes && overPixels <= other ? overPixels : other;
}

/** The cost of the zero-dilated formulation (transposed-convolution.ts): every dx pixel, every tap, plus dilating dy. */
function dilatedCost(convInfo: tf.backend_util.Conv2DInfo): number {
  const { batchSize, inHeight, inWidth, inChannels, outChannels, filterHeight, filterWidth, outHeight, outWidth, strideHeight, strideWidth } = convInfo;
  const dilation = strideHeight > 1 || strideWidth > 1 ? batchSize * outHeight * strideHeight * outWidth * strideWidth * outChannels * COPY_COST_IN_MULTIPLY_ADDS : 0;
  return convolutionCost(batchSize * inHeight * inWidth, filterHeight * filterWidth, outChannels, inChannels, inWidth) + dilation;
}

function planCost(plan: SubPixelPlan, convInfo: tf.backend_util.Conv2DInfo): number {
  const { batchSize, inHeight, inWidth, inChannels, outChannels } = convInfo;
  const blockPixels = plan.rows.block * plan.cols.block;
  const conv = convolutionCost(batchSize * (inHeight / plan.rows.block) * (inWidth / plan.cols.block), plan.rows.taps * plan.cols.taps, outChannels, blockPixels * inChannels, inWidth / plan.cols.block);
  // Blocks along the height need a transpose to become pixels again; along the width only a reshape.
  const shuffle = plan.rows.block > 1 ? batchSize * inHeight * inWidth * inChannels * COPY_COST_IN_MULTIPLY_ADDS : 0;
  return conv + shuffle;
}

/**
 * The cheapest sub-pixel plan for this convolution's input gradient, or undefined where the
 * zero-dilated formulation costs no more (or the geometry is not covered: dilated filters, paddings
 * wider than the filter, sizes not divisible by the block).
 */
export function planSubPixelConvolution(convInfo: tf.backend_util.Conv2DInfo): SubPixelPlan | undefined {
  if (convInfo.dataFormat !== 'channelsLast' || convInfo.dilationHeight !== 1 || convInfo.dilationWidth !== 1) return undefined;
  const rows = phaseAxis(convInfo.inHeight, convInfo.outHeight, convInfo.strideHeight, convInfo.filterHeight, convInfo.padInfo.top, convInfo.strideHeight);
  if (rows == null) return undefined;
  let best: { plan: SubPixelPlan; cost: number } | undefined;
  for (const factor of WIDTH_BLOCK_FACTORS) {
    const cols = phaseAxis(convInfo.inWidth, convInfo.outWidth, convInfo.strideWidth, convInfo.filterWidth, convInfo.padInfo.left, convInfo.strideWidth * factor);
    if (cols == null) continue;
    const plan = { rows, cols };
    const cost = planCost(plan, convInfo);
    if (best == null || cost < best.cost) best = { plan, cost };
  }
  return best != null && best.cost < dilatedCost(convInfo) ? best.plan : undefined;
}

/** A key for the plan's filter (derived-filters.ts keeps one per weight and variant). */
export function subPixelVariant(plan: SubPixelPlan): string {
  const axis = (a: PhaseAxis) => `${a.block}/${a.step}/${a.taps}/${Array.from(a.tapOf).join(',')}`;
  return `sub-pixel ${axis(plan.rows)} ${axis(plan.cols)}`;
}

/**
 * The sub-pixel filter [K_h, K_w, outChannels, B_h·B_w·inChannels] from the forward filter's values
 * [k_h, k_w, inChannels, outChannels]: output channel (a_h·B_w + a_w)·inChannels + c at tap
 * (tapOf_h[a_h, k_h], tapOf_w[a_w, k_w]) takes w[k_h, k_w, c, ·]. Built in JavaScript (a filter is small).
 */
export function subPixelFilter(source: Float32Array, filterShape: number[], plan: SubPixelPlan): { values: Float32Array; shape: number[] } {
  const [kernelHeight, kernelWidth, inChannels, outChannels] = filterShape;
  const { rows, cols } = plan;
  const blockChannels = rows.block * cols.block * inChannels;
  const result = new Float32Array(rows.taps * cols.taps * outChannels * blockChannels);
  for (let ah = 0; ah < rows.block; ah++) {
    for (let kh = 0; kh < kernelHeight; kh++) {
      const th = rows.tapOf[ah * kernelHeight + kh];
      if (th < 0) continue;
      for (let aw = 0; aw < cols.block; aw++) {
        for (let kw = 0; kw < kernelWidth; kw++) {
          const tw = cols.tapOf[aw * kernelWidth + kw];
          if (tw < 0) continue;
          const channelBase = (ah * cols.block + aw) * inChannels;
          const to = (th * cols.taps + tw) * outChannels * blockChannels + channelBase;
          const from = (kh * kernelWidth + kw) * inChannels * outChannels;
          for (let c = 0; c < inChannels; c++) {
            for (let f = 0; f < outChannels; f++) result[to + f * blockChannels + c] = source[from + c * outChannels + f];
          }
        }
      }
    }
  }
  return { values: result, shape: [rows.taps, cols.taps, outChannels, blockChannels] };
}

/**
 * dx by the plan: one convolution of dy with the sub-pixel filter, then its channel blocks back into
 * pixels — a reshape, or a transpose for blocks along the height. Kernel outputs in and out (kernel-call.ts).
 */
export function subPixelConvolution(dy: tf.TensorInfo, filter: tf.TensorInfo, backend: unknown, plan: SubPixelPlan, inputShape: [number, number, number, number]): tf.TensorInfo {
  const { rows, cols } = plan;
  const pad: ExplicitPadding4D = [[0, 0], rows.padding, cols.padding, [0, 0]];
  const blocks = callKernel(tf.Conv2D, { x: dy, filter }, { strides: [rows.step, cols.step], pad, dataFormat: 'NHWC', dilations: 1 }, backend);
  if (rows.block === 1) return withShape(blocks, inputShape);
  const [batch, blockRows, blockCols] = blocks.shape;
  const split = withShape(blocks, [batch, blockRows, blockCols, rows.block, cols.block, inputShape[3]]);
  const pixels = callKernel(tf.Transpose, { x: split }, { perm: [0, 1, 3, 2, 4, 5] }, backend);
  disposeIntermediate(blocks, backend);
  return withShape(pixels, inputShape);
}
