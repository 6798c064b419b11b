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
 *   SUM4(a, b, c, d) {Σa, Σb, Σc, Σd} as an __m128; TRANSPOSE(r) transposes NL vectors r[0 .. NL) of NL
 *   MAX_VECS        output-channel vectors a block of the first loop order carries (2 · 8 accumulators
 *                   fit AVX-512's 32 registers; AVX2 has 16)
 *   ACCUMULATORS    accumulators a block of the second loop order keeps (16, or 8 on AVX2)
 *
 * Loop orders, chosen per call by how many vector lanes each leaves idle (conv2d.c `use_in_vec`):
 *  - over output channels (`conv_out_vec`): NL output channels a vector, 8 output pixels of a row at a
 *    time (up to MAX_VECS vectors each); each input value is broadcast and multiplied into them. Good
 *    when the output has NL or more channels.
 *  - over output pixels (`conv_pix_vec`, below): NL pixels of a row a vector from planar copies of the
 *    input rows, for at most NL outputs at width stride 1 where it idles no more lanes than the others.
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
  /* This order always reads padded rows (conv2d.c). */
  const tap_runs t = tap_runs_of(g, 1, ox0, pixels);
  for (int ky = 0; ky < g->kh; ky++) {
    const float *row = s->rows[ky];
    if (row == NULL) continue;
    for (int kx = 0; kx < t.runs; kx++) {
      const float *in[8];
      for (int p = 0; p < PIXELS_IN; p++) in[p] = tap_run(row, g, 1, zeros, ox0 + p, p < pixels, kx);
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

/*
 * The pixel-vector loop order's input rows: s.rows[ky] as conv2d.c's input_rows, but each a planar
 * copy — ci planes of planar_width values, plane c's column j being channel c of input column
 * j − pad_left — in the same tagged slots (one copy an input row and thread). NL × NL blocks of pixels
 * and channels are transposed in registers, the rest value by value. The slots start zeroed and only the
 * columns inside the input are written (the same ones for every row), so the padding stays zero.
 */
TARGET static void FN(planar_rows)(const float *x, const geometry *g, int n, int oy, row_scratch s) {
  const tap_span inside = columns_inside(g, s.planar_width);
  const int first = inside.first, end = inside.end;
  const size_t plane = (size_t)s.planar_width;
  for (int ky = 0; ky < g->kh; ky++) {
    const int iy = oy * g->sh - g->pad_top + ky * g->dh;
    if (iy < 0 || iy >= g->h) { s.rows[ky] = NULL; continue; }
    int fill;
    float *row = slot_for(s, g, n, iy, plane * g->ci, &fill);
    s.rows[ky] = row;
    if (!fill) continue;
    /* Planar column j ≥ first is input column j − pad_left ≥ 0. */
    const float *in = x + ((size_t)n * g->h + iy) * g->w * g->ci;
#define PIXEL(j) (in + (size_t)((j) - g->pad_left) * g->ci)
    int j = first;
    for (; j + NL <= end; j += NL) {
      int c = 0;
      for (; c + NL <= g->ci; c += NL) {
        V r[NL];
        for (int p = 0; p < NL; p++) r[p] = VLOAD(PIXEL(j + p) + c);
        TRANSPOSE(r);
        for (int q = 0; q < NL; q++) VSTORE(row + (c + q) * plane + j, r[q]);
      }
      for (; c < g->ci; c++)
        for (int p = 0; p < NL; p++) row[c * plane + j + p] = PIXEL(j + p)[c];
    }
    for (; j < end; j++)
      for (int c = 0; c < g->ci; c++) row[c * plane + j] = PIXEL(j)[c];
#undef PIXEL
  }
}

/*
 * The third loop order (`conv_pix_vec`), for at most NL output channels at width stride 1 (conv2d.c
 * `use_pix_vec` says when): NL output pixels of a row a vector, one accumulator per output channel and
 * vector, from the input rows transposed to planar (`planar_rows`: a channel's values along the row
 * are consecutive), so each tap and input channel is one load of NL pixels and a broadcast weight an
 * output, with no sums across lanes. A block: VECS vectors of pixels from column ox0 (1 for more than
 * 4 outputs), OUTS outputs.
 * Measured against the other orders on one thread (AVX-512, batch 64): 16 → 3 at 32 × 32 0.73 → 0.52 ms,
 * 32 → 8 at 16 × 16 0.60 → 0.51, 3 → 16 at 32 × 32 0.63 → 0.57; at batch 4, 16 → 6 at 32 × 32 0.11 → 0.054.
 */
TARGET INLINE void FN(pix_vec_block)(const row_scratch *s, const float *w, const float *bias, float *y, const geometry *g, int n, int oy,
                                     int ox0, const int OUTS, const int VECS, const int CI) {
  /*
   * Up to 4 outputs: two sets of accumulators, for even and odd input channels (twice the independent
   * sums an FMA's latency needs). More outputs (VECS 1): one set is enough, and the sums are transposed
   * to NHWC in registers and stored a pixel a vector.
   */
  const int SETS = OUTS <= 4 ? 2 : 1;
  V acc[16], odd[16];
  for (int a = 0; a < 16; a++) acc[a] = odd[a] = VZERO();
  const size_t plane = (size_t)s->planar_width;
  /* CI: the input channels where known at compile time (a first layer's 3: the loop unrolled), else 0. */
  const int ci = CI > 0 ? CI : g->ci;
  for (int ky = 0; ky < g->kh; ky++) {
    const float *row = s->rows[ky];
    if (row == NULL) continue;
    for (int kx = 0; kx < g->kw; kx++) {
      const float *taps = w + (size_t)(ky * g->kw + kx) * g->ci * g->co;
      const float *in = row + ox0 + kx * g->dw; /* planar column ox0 + kx · dw: input column ox0 − pad_left + kx · dw */
      int c = 0;
      if (SETS == 2) {
        for (; c + 2 <= ci; c += 2, in += 2 * plane, taps += 2 * g->co) {
          /* Loaded once into registers (KEEP): folded into each FMA, the loads outnumbered the FMAs. */
          V v[4], u[4];
          for (int k = 0; k < VECS; k++) { v[k] = VLOAD(in + k * NL); KEEP(v[k]); u[k] = VLOAD(in + plane + k * NL); KEEP(u[k]); }
          for (int o = 0; o < OUTS; o++) {
            const V wv = VSET1(taps[o]), wu = VSET1(taps[g->co + o]);
            for (int k = 0; k < VECS; k++) { acc[k * OUTS + o] = VFMA(v[k], wv, acc[k * OUTS + o]); odd[k * OUTS + o] = VFMA(u[k], wu, odd[k * OUTS + o]); }
          }
        }
      }
      for (; c < ci; c++, in += plane, taps += g->co) {
        V v[4];
        for (int k = 0; k < VECS; k++) { v[k] = VLOAD(in + k * NL); KEEP(v[k]); }
        for (int o = 0; o < OUTS; o++) {
          const V wv = VSET1(taps[o]);
          for (int k = 0; k < VECS; k++) acc[k * OUTS + o] = VFMA(v[k], wv, acc[k * OUTS + o]);
        }
      }
    }
  }
  float *out = y + (((size_t)n * g->oh + oy) * g->ow + ox0) * g->co;
  if (SETS == 1) {
    TRANSPOSE(acc); /* acc[p]: pixel p's outputs */
    const M m = LANES(g->co);
    const V b = bias ? VLOADM(m, bias) : VZERO();
    const int pixels = g->ow - ox0 < NL ? g->ow - ox0 : NL;
    for (int p = 0; p < pixels; p++) VSTOREM(out + (size_t)p * g->co, m, FN(activate)(VADD(acc[p], b), g->activation));
    return;
  }
  float lanes[4][NL];
  for (int k = 0; k < VECS; k++) {
    const int pixels = g->ow - ox0 - k * NL < NL ? g->ow - ox0 - k * NL : NL;
    for (int o = 0; o < OUTS; o++) VSTORE(lanes[o], VADD(acc[k * OUTS + o], odd[k * OUTS + o]));
    for (int p = 0; p < pixels; p++)
      for (int o = 0; o < OUTS; o++) out[(size_t)(k * NL + p) * g->co + o] = activate_scalar(lanes[o][p] + (bias ? bias[o] : 0.0f), g->activation);
  }
}

#define PIX_VEC_CASE(outs, vecs) case (outs) * 8 + (vecs): FN(pix_vec_block)(&s, w, bias, y, g, n, oy, ox0, outs, vecs, 0); break;
#define PIX_VEC_WIDE_CASE(outs) case (outs) * 8 + 1: \
  if (g->ci == 3) FN(pix_vec_block)(&s, w, bias, y, g, n, oy, ox0, outs, 1, 3); else FN(pix_vec_block)(&s, w, bias, y, g, n, oy, ox0, outs, 1, 0); break;

TARGET static void FN(conv_pix_vec)(const float *x, const float *w, const float *bias, float *y, const geometry *g, const float *zeros,
                                    row_scratch s, long rows_from, long rows_to) {
  (void)zeros;
  /* More than 4 outputs: one vector a block (conv2d.c allows up to NL). */
  const int vecs = g->co > 4 ? 1 : (g->ow + NL - 1) / NL < PIX_VECS ? (g->ow + NL - 1) / NL : PIX_VECS;
  for (long r = rows_from; r < rows_to; r++) {
    const int n = (int)(r / g->oh), oy = (int)(r % g->oh);
    FN(planar_rows)(x, g, n, oy, s);
    for (int ox0 = 0; ox0 < g->ow; ox0 += vecs * NL) {
      switch (g->co * 8 + vecs) {
        PIX_VEC_CASE(1, 1) PIX_VEC_CASE(1, 2) PIX_VEC_CASE(1, 3) PIX_VEC_CASE(1, 4)
        PIX_VEC_CASE(2, 1) PIX_VEC_CASE(2, 2) PIX_VEC_CASE(2, 3) PIX_VEC_CASE(2, 4)
        PIX_VEC_CASE(3, 1) PIX_VEC_CASE(3, 2) PIX_VEC_CASE(3, 3) PIX_VEC_CASE(3, 4)
        PIX_VEC_CASE(4, 1) PIX_VEC_CASE(4, 2) PIX_VEC_CASE(4, 3) PIX_VEC_CASE(4, 4)
        PIX_VEC_WIDE_CASE(5) PIX_VEC_WIDE_CASE(6) PIX_VEC_WIDE_CASE(7) PIX_VEC_WIDE_CASE(8)
#if NL > 8
        PIX_VEC_WIDE_CASE(9) PIX_VEC_WIDE_CASE(10) PIX_VEC_WIDE_CASE(11) PIX_VEC_WIDE_CASE(12)
        PIX_VEC_WIDE_CASE(13) PIX_VEC_WIDE_CASE(14) PIX_VEC_WIDE_CASE(15) PIX_VEC_WIDE_CASE(16)
#endif
      }
    }
  }
}
#undef PIX_VEC_CASE
#undef PIX_VEC_WIDE_CASE
