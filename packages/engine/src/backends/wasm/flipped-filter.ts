/**
 * The spatially flipped filter that turns a convolution's input gradient into a forward convolution
 * (see transposed-convolution.ts), built with one JavaScript loop over the filter's values, once per
 * model weight (derived-filters.ts keeps it).
 *
 * Why not `tf.reverse` (and `tf.transpose`): tfjs-backend-wasm's Reverse computes an index per element
 * and measured 12 ms for one 3×3×128×128 filter on this machine, as long as the 16×16 convolution the
 * filter is flipped for (bench/README.md). A filter is small (h·w·in·out values), so copying it out of
 * the WASM heap, permuting it here and copying it back costs well under a millisecond.
 */
/**
 * Flips a [h, w, a, b] filter's values in h and w. With `swapLastTwoAxes` the result is [h, w, b, a]
 * (a dense convolution's input gradient reads output channels as input channels); otherwise
 * [h, w, a, b] (a depthwise filter).
 */
export function flipFilter(source: Float32Array, shape: number[], swapLastTwoAxes: boolean): { values: Float32Array; shape: number[] } {
  const [height, width, a, b] = shape;
  const flipped = new Float32Array(source.length);
  const taps = height * width;
  const tapSize = a * b;
  // Flipping both spatial axes of a row-major [h, w] grid reverses its flattened tap index.
  for (let tap = 0; tap < taps; tap++) {
    const from = (taps - 1 - tap) * tapSize;
    const to = tap * tapSize;
    if (!swapLastTwoAxes) {
      flipped.set(source.subarray(from, from + tapSize), to);
      continue;
    }
    for (let i = 0; i < a; i++) {
      for (let j = 0; j < b; j++) flipped[to + j * a + i] = source[from + i * b + j];
    }
  }
  return { values: flipped, shape: swapLastTwoAxes ? [height, width, b, a] : [height, width, a, b] };
}
