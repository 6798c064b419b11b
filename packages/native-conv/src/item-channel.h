/*
 * One output channel per batch item (item i of x convolved with item i's own filter [kh, kw, C], plus
 * bias[i]) and its input gradient: the engine's layer-sweep objective (item i maximises channel i,
 * packages/engine/src/backends/wasm/item-channel-conv.ts), compiled per instruction set as kernels.h
 * (conv2d.c includes both). The geometry is conv2d's with co = 1 and the filter laid out [n, kh, kw, C].
 * Each item is computed alone in a fixed order, so an item's values do not depend on the items beside it
 * or on how the items are shared out over threads.
 */

/* acc += a[0..length) · b[0..length), lane-wise, four vectors at a time (an FMA's latency) then one. */
TARGET INLINE void FN(dot_run)(const float *a, const float *b, int length, V *acc) {
  int c = 0;
  for (; c + 4 * NL <= length; c += 4 * NL) {
    acc[0] = VFMA(VLOAD(a + c), VLOAD(b + c), acc[0]);
    acc[1] = VFMA(VLOAD(a + c + NL), VLOAD(b + c + NL), acc[1]);
    acc[2] = VFMA(VLOAD(a + c + 2 * NL), VLOAD(b + c + 2 * NL), acc[2]);
    acc[3] = VFMA(VLOAD(a + c + 3 * NL), VLOAD(b + c + 3 * NL), acc[3]);
  }
  for (; c < length; c += NL) {
    const M m = LANES(length - c);
    acc[0] = VFMA(VLOADM(m, a + c), VLOADM(m, b + c), acc[0]);
  }
}

/* out[i, oy, ox] for items [from, to). */
TARGET static void FN(item_channel_forward)(const float *x, const float *f, const float *bias, float *out, const geometry *g, long from, long to) {
  for (long i = from; i < to; i++) {
    const float *x_item = x + (size_t)i * g->h * g->w * g->ci, *f_item = f + (size_t)i * g->kh * g->kw * g->ci;
    for (int oy = 0; oy < g->oh; oy++) {
      for (int ox = 0; ox < g->ow; ox++) {
        V acc[4] = { VZERO(), VZERO(), VZERO(), VZERO() };
        const tap_span taps = taps_inside(g, ox);
        const int left = ox * g->sw - g->pad_left;
        for (int ky = 0; ky < g->kh; ky++) {
          const int iy = oy * g->sh - g->pad_top + ky * g->dh;
          if (iy < 0 || iy >= g->h || taps.end <= taps.first) continue;
          const float *x_row = x_item + (size_t)iy * g->w * g->ci, *f_row = f_item + (size_t)ky * g->kw * g->ci;
          if (g->dw == 1) {
            /* The taps inside are one run of x and of the filter. */
            FN(dot_run)(x_row + (size_t)(left + taps.first) * g->ci, f_row + (size_t)taps.first * g->ci, (taps.end - taps.first) * g->ci, acc);
          } else {
            for (int kx = taps.first; kx < taps.end; kx++) FN(dot_run)(x_row + (size_t)(left + kx * g->dw) * g->ci, f_row + (size_t)kx * g->ci, g->ci, acc);
          }
        }
        const __m128 sums = SUM4(acc[0], acc[1], acc[2], acc[3]);
        const float total = (_mm_cvtss_f32(sums) + _mm_cvtss_f32(_mm_shuffle_ps(sums, sums, 1)))
          + (_mm_cvtss_f32(_mm_shuffle_ps(sums, sums, 2)) + _mm_cvtss_f32(_mm_shuffle_ps(sums, sums, 3)));
        out[((size_t)i * g->oh + oy) * g->ow + ox] = total + (bias ? bias[i] : 0.0f);
      }
    }
  }
}

/* dst[0..length) += d · src[0..length). */
TARGET INLINE void FN(axpy_run)(float *dst, const float *src, V d, int length) {
  int c = 0;
  for (; c + NL <= length; c += NL) VSTORE(dst + c, VFMA(d, VLOAD(src + c), VLOAD(dst + c)));
  if (c < length) {
    const M m = LANES(length - c);
    VSTOREM(dst + c, m, VFMA(d, VLOADM(m, src + c), VLOADM(m, dst + c)));
  }
}

/*
 * dx[i, iy, ix, c] = Σ over the (output, tap) pairs that read (iy, ix) of dy[i, oy, ox] · filter[i, ky, kx, c],
 * for items [from, to): zeroes the items' dx, then adds output by output.
 */
TARGET static void FN(item_channel_backprop_input)(const float *dy, const float *f, const float *unused, float *dx, const geometry *g, long from,
                                                   long to) {
  (void)unused;
  const size_t item_size = (size_t)g->h * g->w * g->ci;
  memset(dx + (size_t)from * item_size, 0, (size_t)(to - from) * item_size * sizeof(float));
  for (long i = from; i < to; i++) {
    float *dx_item = dx + (size_t)i * item_size;
    const float *f_item = f + (size_t)i * g->kh * g->kw * g->ci;
    for (int oy = 0; oy < g->oh; oy++) {
      for (int ox = 0; ox < g->ow; ox++) {
        const float d = dy[((size_t)i * g->oh + oy) * g->ow + ox];
        const tap_span taps = taps_inside(g, ox);
        const int left = ox * g->sw - g->pad_left;
        for (int ky = 0; ky < g->kh; ky++) {
          const int iy = oy * g->sh - g->pad_top + ky * g->dh;
          if (iy < 0 || iy >= g->h || taps.end <= taps.first) continue;
          float *dx_row = dx_item + (size_t)iy * g->w * g->ci;
          const float *f_row = f_item + (size_t)ky * g->kw * g->ci;
          if (g->dw == 1) {
            FN(axpy_run)(dx_row + (size_t)(left + taps.first) * g->ci, f_row + (size_t)taps.first * g->ci, VSET1(d), (taps.end - taps.first) * g->ci);
          } else {
            for (int kx = taps.first; kx < taps.end; kx++) FN(axpy_run)(dx_row + (size_t)(left + kx * g->dw) * g->ci, f_row + (size_t)kx * g->ci, VSET1(d), g->ci);
          }
        }
      }
    }
  }
}
