/**
 * Counts the multiply-add FLOPs (2 per multiply-accumulate) of the convolutions and matrix products
 * a forward pass runs, from the kernels tf.profile lists with their input and output shapes, so the
 * count holds for any model (LayersModel or GraphModel) without knowing its layers.
 */
import * as tf from '@tensorflow/tfjs-core';

type ProfiledKernel = { name: string; inputShapes: number[][]; outputShapes: number[][] };

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

function kernelFlops(kernel: ProfiledKernel): number {
  const out = kernel.outputShapes[0];
  const [input, filterOrB] = kernel.inputShapes;
  if (out == null || filterOrB == null) return 0;
  switch (kernel.name) {
    case tf.Conv2D:
    case tf.FusedConv2D:
      // filter [h, w, in, out]: every output value is h·w·in multiply-adds.
      return 2 * size(out) * filterOrB[0] * filterOrB[1] * filterOrB[2];
    case tf.DepthwiseConv2dNative:
    case tf.FusedDepthwiseConv2D:
      return 2 * size(out) * filterOrB[0] * filterOrB[1];
    case tf.BatchMatMul:
    case tf._FusedMatMul: {
      // a is [batch, m, k] or [batch, k, m] (transposeA); the output is [batch, m, n].
      const inner = input[1] === out[1] ? input[2] : input[1];
      return 2 * size(out) * inner;
    }
    default:
      return 0;
  }
}

/** FLOPs of the convolutions and matrix products `run` executes. */
export async function countForwardFlops(run: () => tf.Tensor): Promise<number> {
  const profile = await tf.profile(() => run());
  return profile.kernels.reduce((total, kernel) => total + kernelFlops(kernel as unknown as ProfiledKernel), 0);
}
