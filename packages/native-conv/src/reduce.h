/*
 * Means over a run of consecutive axes, compiled per instruction set as kernels.h (conv2d.c includes
 * it): x viewed as [outer, reduce, inner], out[o, i] = (Σ_r x[o, r, i]) / reduce, each sum taken in r
 * order, four vectors of the inner axis at a time (or, for at most one vector, four partial sums over
 * r mod 4, added at the end). A global average pool (NHWC over H and W: inner =
 * channels) is one pass over x; tfjs-backend-wasm's Mean transposes x first to make the reduced axes
 * innermost (0.39 ms for 64 × 8 × 8 × 64, a quarter of a batch-4 shapes-a forward pass at batch 4).
 */
TARGET static void FN(mean_middle)(const float *x, float *out, long outer, long reduce, long inner) {
  const V count = VSET1((float)reduce);
  if (inner <= NL) {
    /* One vector of the inner axis: four accumulators over r mod 4 instead (an addition's latency), summed at the end. */
    const M m = LANES((int)inner);
    for (long o = 0; o < outer; o++) {
      const float *item = x + (size_t)o * reduce * inner;
      V a0 = VZERO(), a1 = VZERO(), a2 = VZERO(), a3 = VZERO();
      long r = 0;
      for (; r + 4 <= reduce; r += 4) {
        a0 = VADD(a0, VLOADM(m, item + (size_t)r * inner));
        a1 = VADD(a1, VLOADM(m, item + (size_t)(r + 1) * inner));
        a2 = VADD(a2, VLOADM(m, item + (size_t)(r + 2) * inner));
        a3 = VADD(a3, VLOADM(m, item + (size_t)(r + 3) * inner));
      }
      for (; r < reduce; r++) a0 = VADD(a0, VLOADM(m, item + (size_t)r * inner));
      VSTOREM(out + (size_t)o * inner, m, VDIV(VADD(VADD(a0, a1), VADD(a2, a3)), count));
    }
    return;
  }
  for (long o = 0; o < outer; o++) {
    const float *item = x + (size_t)o * reduce * inner;
    float *dst = out + (size_t)o * inner;
    for (long i0 = 0; i0 < inner; i0 += 4 * NL) {
      /* Lanes of vector k inside the inner axis (LANES clamps: all from NL on, none from 0 down). */
#define TAIL(k) LANES((int)(inner - i0 - (k) * NL > NL ? NL : inner - i0 - (k) * NL))
      const M m0 = TAIL(0), m1 = TAIL(1), m2 = TAIL(2), m3 = TAIL(3);
#undef TAIL
      V a0 = VZERO(), a1 = VZERO(), a2 = VZERO(), a3 = VZERO();
      for (long r = 0; r < reduce; r++) {
        const float *v = item + (size_t)r * inner + i0;
        a0 = VADD(a0, VLOADM(m0, v));
        a1 = VADD(a1, VLOADM(m1, v + NL));
        a2 = VADD(a2, VLOADM(m2, v + 2 * NL));
        a3 = VADD(a3, VLOADM(m3, v + 3 * NL));
      }
      VSTOREM(dst + i0, m0, VDIV(a0, count));
      VSTOREM(dst + i0 + NL, m1, VDIV(a1, count));
      VSTOREM(dst + i0 + 2 * NL, m2, VDIV(a2, count));
      VSTOREM(dst + i0 + 3 * NL, m3, VDIV(a3, count));
    }
  }
}
