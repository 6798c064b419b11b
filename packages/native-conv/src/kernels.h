/*
 * The convolution kernels of conv2d.c, written once against a few vector macros and compiled twice
 * (conv2d.c includes this file for AVX-512 and for AVX2 with FMA; the CPU picks at run time):
 *
 *   TARGET          the function attribute enabling the instruction set
 *   FN(name)        the name with the instruction set's suffix
 *   V, M, NL        vector type, lane-mask type, lanes (16 or 8)
 *   VZERO() VSET1(x) VADD(a, b) VMAX(a, b) VMIN(a, b) VFMA(a, b, c) (a · b + c)
 *   VLOAD(p)        load NL values; VLOADM(m, p) load with lanes outside m zero (and not read); VSTOREM(p, m, v) store the lanes in m
 *   LANES(n)        the mask of the first n lanes (all from NL on)
 *   SUM4(a, b, c, d) {Σa, Σb, Σc, Σd} as an __m128
 *   MAX_VECS        output-channel vectors a block of the first loop order carries (2 · 8 accumulators
 *                   fit AVX-512's 32 registers; AVX2 has 16)
 *   ACCUMULATORS    accumulators a block of the second loop order keeps (16, or 8 on AVX2)
 *
 * Loop orders, chosen per call by how many vector lanes each leaves idle (conv2d.c `use_in_vec`):
 *  - over output channels (`conv_out_vec`): NL output channels a vector, 8 output pixels of a row at a
 *    time (up to MAX_VECS vectors each); each input value is broadcast and multiplied into them. Good
 *    when the output has NL or more channels.
 *  - over input channels (`conv_in_vec`): up to 8 output pixels at a time, one accumulator per pixel
 *    and output channel (at most 8 channels, at most ACCUMULATORS accumulators) holding NL input
 *    channels' products, summed across the vectors four at a time at the end. Good for few output
 *    channels from many input channels (a first layer's input gradient: 16 → 3).
 * At width dilation 1 a pixel's row of taps and channels is read as one run of kw · ci values where the
 * input rows are zero-padded copies (conv2d.c `input_rows` says when) or the block's taps lie inside
 * the input; taps outside the input read a row of zeros instead of being branched around.
 */

TARGET INLINE V FN(activate)(V v, int activation) {
  if (activation == ACT_RELU) return VMAX(v, VZERO());
  if (activation == ACT_RELU6) return VMIN(VMAX(v, VZERO()), VSET1(6.0f));
  return v;
}

/*
 * One block: PIXELS output pixels of row (n, oy) from column ox0, output channels co0 .. co0 + NL·VECS.
 * The accumulators are named variables (the FOR_PIXELS macro), not an array: with an array GCC 12 kept
 * them in registers but also stored all 16 to the stack on every iteration (store-bound: 70 against
 * 207 GFLOP/s on a batch-64 16 → 32 channel convolution, AVX-512). Blocks of 16 pixels for a single
 * output vector were tried and were slower (0.77 → 0.98 ms on a 3 → 16 one: the pointers spill).
 */
TARGET INLINE void FN(out_vec_block)(const float *const *rows, const float *w, const float *bias, float *y, const geometry *g, const float *zeros,
                                     int n, int oy, int ox0, int co0, const int VECS, const int PADDED) {
  const int pixels = g->ow - ox0 < PIXELS ? g->ow - ox0 : PIXELS;
  const M m0 = LANES(g->co - co0), m1 = LANES(VECS > 1 ? g->co - co0 - NL : 0);
#define DECLARE(p) V a##p = VZERO(), b##p = VZERO();
  FOR_PIXELS(DECLARE)
#undef DECLARE
  const tap_runs t = tap_runs_of(g, PADDED, ox0, pixels);
  for (int ky = 0; ky < g->kh; ky++) {
    const float *row = rows[ky];
    if (row == NULL) continue;
    for (int kx = 0; kx < t.runs; kx++) {
#define POINTER(p) const float *in##p = tap_run(row, g, PADDED, zeros, ox0 + p, p < pixels, kx);
      FOR_PIXELS(POINTER)
#undef POINTER
      const float *taps = w + ((size_t)(ky * g->kw + kx) * g->ci) * g->filter_co + co0;
      for (int c = 0; c < t.length; c++) {
        const V w0 = VLOAD(taps + (size_t)c * g->filter_co);
        const V w1 = VECS > 1 ? VLOAD(taps + (size_t)c * g->filter_co + NL) : VZERO();
#define MULTIPLY_ADD(p) { const V v = VSET1(in##p[c]); a##p = VFMA(v, w0, a##p); if (VECS > 1) b##p = VFMA(v, w1, b##p); }
        FOR_PIXELS(MULTIPLY_ADD)
#undef MULTIPLY_ADD
      }
    }
  }
  const V bias0 = bias ? VLOADM(m0, bias + co0) : VZERO();
  const V bias1 = bias && VECS > 1 ? VLOADM(m1, bias + co0 + NL) : VZERO();
  float *out = y + (((size_t)n * g->oh + oy) * g->ow + ox0) * g->co + co0;
#define STORE(p) if (p < pixels) { VSTOREM(out + (size_t)p * g->co, m0, FN(activate)(VADD(a##p, bias0), g->activation)); \
    if (VECS > 1) VSTOREM(out + (size_t)p * g->co + NL, m1, FN(activate)(VADD(b##p, bias1), g->activation)); }
  FOR_PIXELS(STORE)
#undef STORE
}

TARGET static void FN(conv_out_vec)(const float *x, const float *w, const float *bias, float *y, const geometry *g, const float *zeros,
                                    row_scratch s, long rows_from, long rows_to) {
  for (long r = rows_from; r < rows_to; r++) {
    const int n = (int)(r / g->oh), oy = (int)(r % g->oh);
    input_rows(x, g, n, oy, s);
    for (int ox0 = 0; ox0 < g->ow; ox0 += PIXELS) {
      int co0 = 0;
      /* Each block function is compiled for its VECS and PADDED. */
      if (s.padded) {
        if (MAX_VECS > 1) for (; g->co - co0 > NL; co0 += 2 * NL) FN(out_vec_block)(s.rows, w, bias, y, g, zeros, n, oy, ox0, co0, 2, 1);
        for (; co0 < g->co; co0 += NL) FN(out_vec_block)(s.rows, w, bias, y, g, zeros, n, oy, ox0, co0, 1, 1);
      } else {
        if (MAX_VECS > 1) for (; g->co - co0 > NL; co0 += 2 * NL) FN(out_vec_block)(s.rows, w, bias, y, g, zeros, n, oy, ox0, co0, 2, 0);
        for (; co0 < g->co; co0 += NL) FN(out_vec_block)(s.rows, w, bias, y, g, zeros, n, oy, ox0, co0, 1, 0);
      }
    }
  }
}

/*
 * PIXELS_IN output pixels of row (n, oy) from column ox0, output channels co0 .. co0 + OUTS (OUTS ·
 * PIXELS_IN ≤ ACCUMULATORS), from a filter laid out [kh, co, kw, ci].
 */
TARGET INLINE void FN(in_vec_block)(const row_scratch *s, const float *wt, const float *bias, float *y, const geometry *g, const float *zeros,
                                    int n, int oy, int ox0, int co0, const int OUTS, const int PIXELS_IN) {
  const int pixels = g->ow - ox0 < PIXELS_IN ? g->ow - ox0 : PIXELS_IN;
  V acc[16];
  for (int a = 0; a < 16; a++) acc[a] = VZERO();
  const tap_runs t = tap_runs_of(g, s->padded, ox0, pixels);
  for (int ky = 0; ky < g->kh; ky++) {
    const float *row = s->rows[ky];
    if (row == NULL) continue;
    for (int kx = 0; kx < t.runs; kx++) {
      const float *in[8];
      for (int p = 0; p < PIXELS_IN; p++) in[p] = tap_run(row, g, s->padded, zeros, ox0 + p, p < pixels, kx);
      /* wt is laid out [kh, co, kw, ci]: output o's taps of this row, from kx on. */
      const float *taps = wt + ((size_t)(ky * g->co + co0) * g->kw + kx) * g->ci;
      const size_t out_stride = (size_t)g->kw * g->ci;
      for (int c0 = 0; c0 < t.length; c0 += NL) {
        const M m = LANES(t.length - c0);
        V wv[8];
        for (int o = 0; o < OUTS; o++) wv[o] = VLOADM(m, taps + o * out_stride + c0);
        for (int p = 0; p < PIXELS_IN; p++) {
          const V v = VLOADM(m, in[p] + c0);
          for (int o = 0; o < OUTS; o++) acc[p * OUTS + o] = VFMA(v, wv[o], acc[p * OUTS + o]);
        }
      }
    }
  }
  float sums[16];
  for (int a = 0; a < OUTS * PIXELS_IN; a += 4) _mm_storeu_ps(sums + a, SUM4(acc[a], acc[a + 1], acc[a + 2], acc[a + 3]));
  for (int p = 0; p < pixels; p++) {
    float *out = y + (((size_t)n * g->oh + oy) * g->ow + ox0 + p) * g->co + co0;
    for (int o = 0; o < OUTS; o++) out[o] = activate_scalar(sums[p * OUTS + o] + (bias ? bias[co0 + o] : 0.0f), g->activation);
  }
}

/* Pixels a block for OUTS output channels: as many as keep ACCUMULATORS accumulators (at least 1, at most 8). */
#define IN_VEC_PIXELS(outs) ((ACCUMULATORS / (outs)) > 8 ? 8 : (ACCUMULATORS / (outs)) < 1 ? 1 : (ACCUMULATORS / (outs)))
#define IN_VEC_CASE(k) case k: FN(in_vec_block)(&s, wt, bias, y, g, zeros, n, oy, ox0, co0, k, IN_VEC_PIXELS(k)); break;

TARGET static void FN(conv_in_vec)(const float *x, const float *wt, const float *bias, float *y, const geometry *g, const float *zeros,
                                   row_scratch s, long rows_from, long rows_to) {
  for (long r = rows_from; r < rows_to; r++) {
    const int n = (int)(r / g->oh), oy = (int)(r % g->oh);
    input_rows(x, g, n, oy, s);
    for (int co0 = 0; co0 < g->co; co0 += 8) {
      const int outs = g->co - co0 < 8 ? g->co - co0 : 8;
      for (int ox0 = 0; ox0 < g->ow; ox0 += IN_VEC_PIXELS(outs)) {
        switch (outs) {
          IN_VEC_CASE(1) IN_VEC_CASE(2) IN_VEC_CASE(3) IN_VEC_CASE(4) IN_VEC_CASE(5) IN_VEC_CASE(6) IN_VEC_CASE(7) IN_VEC_CASE(8)
        }
      }
    }
  }
}
#undef IN_VEC_PIXELS
#undef IN_VEC_CASE
