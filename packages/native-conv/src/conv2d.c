/*
 * 2-D convolution (NHWC input, [kh, kw, in, out] filter, as TensorFlow.js lays them out) in AVX-512, run
 * on tensors where they live: in tfjs-backend-wasm's heap, handed over as a Float32Array over the
 * whole WebAssembly memory with float offsets. See ../README.md for why this exists.
 *
 * Two loop orders, chosen per call by how many vector lanes each leaves idle:
 *  - over output channels (`conv_out_vec`): 16 output channels a vector, 8 output pixels of a row at a
 *    time (up to 2 vectors each: 16 accumulators); each input value is broadcast and multiplied into
 *    them. Good when the output has 16 or more channels.
 *  - over input channels (`conv_in_vec`): 2–8 output pixels at a time, one accumulator per pixel and
 *    output channel (at most 8 channels, at most 16 accumulators) holding 16 input channels' products,
 *    summed across the vectors four at a time at the end. Good for few output channels from many input
 *    channels (a first layer's input gradient: 16 → 3).
 * Where a block lies inside the input (width stride and dilation 1 for the first order, width
 * dilation 1 for the second), a row's taps and channels are read as one run of kw · ci values. Taps
 * outside the input read a row of zeros instead of being branched around.
 */
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

enum { P_X, P_W, P_BIAS, P_Y, P_N, P_H, P_W_IN, P_CI, P_OH, P_OW, P_CO, P_KH, P_KW, P_SH, P_SW, P_DH, P_DW, P_PAD_TOP, P_PAD_LEFT,
       P_ACTIVATION, P_THREADS, P_COUNT };
enum { ACT_LINEAR = 0, ACT_RELU = 1, ACT_RELU6 = 2 };

typedef struct {
  int n, h, w, ci, oh, ow, co, kh, kw, sh, sw, dh, dw, pad_top, pad_left, activation;
} geometry;

#if HAVE_X86
#define AVX512 __attribute__((target("avx512f")))
#define INLINE static inline __attribute__((always_inline))
#define PIXELS 8

AVX512 INLINE __m512 activate(__m512 v, int activation) {
  if (activation == ACT_RELU) return _mm512_max_ps(v, _mm512_setzero_ps());
  if (activation == ACT_RELU6) return _mm512_min_ps(_mm512_max_ps(v, _mm512_setzero_ps()), _mm512_set1_ps(6.0f));
  return v;
}

static inline float activate_scalar(float v, int activation) {
  if (activation == ACT_RELU || activation == ACT_RELU6) v = v > 0.0f ? v : 0.0f;
  if (activation == ACT_RELU6) v = v < 6.0f ? v : 6.0f;
  return v;
}

static inline __mmask16 lanes(int count) { return count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1u); }

/*
 * One block: PIXELS output pixels of row (n, oy) from column ox0, output channels co0 .. co0 + 16·VECS.
 * The accumulators are named variables (the FOR_PIXELS macros below), not an array: with an array GCC
 * 12 kept them in registers but also stored all 16 to the stack on every iteration (store-bound: 70
 * against 207 GFLOP/s on a batch-64 16 → 32 channel convolution). Blocks of 16 pixels for a single
 * output vector were tried and were slower (0.77 → 0.98 ms on a 3 → 16 one: the pointers spill).
 */
#define FOR_PIXELS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
AVX512 INLINE void out_vec_block(const float *x, const float *w, const float *bias, float *y, const geometry *g, const float *zeros,
                                 int n, int oy, int ox0, int co0, const int VECS) {
  const int pixels = g->ow - ox0 < PIXELS ? g->ow - ox0 : PIXELS;
  const __mmask16 m0 = lanes(g->co - co0), m1 = VECS > 1 ? lanes(g->co - co0 - 16) : 0;
#define DECLARE(p) __m512 a##p = _mm512_setzero_ps(), b##p = _mm512_setzero_ps();
  FOR_PIXELS(DECLARE)
#undef DECLARE
  /* Interior blocks at width stride and dilation 1: a row's taps and channels are one run of kw · ci values. */
  const int first_ix = ox0 - g->pad_left, last_ix = ox0 + pixels - 1 - g->pad_left + g->kw - 1;
  const int merged = g->sw == 1 && g->dw == 1 && first_ix >= 0 && last_ix < g->w;
  const int runs = merged ? 1 : g->kw, run_length = merged ? g->kw * g->ci : g->ci;
  for (int ky = 0; ky < g->kh; ky++) {
    const int iy = oy * g->sh - g->pad_top + ky * g->dh;
    if (iy < 0 || iy >= g->h) continue;
    const float *row = x + ((size_t)n * g->h + iy) * g->w * g->ci;
    for (int kx = 0; kx < runs; kx++) {
#define POINTER(p) const int ix##p = (ox0 + p) * g->sw - g->pad_left + kx * g->dw; \
      const float *in##p = p < pixels && ix##p >= 0 && ix##p < g->w ? row + (size_t)ix##p * g->ci : zeros;
      FOR_PIXELS(POINTER)
#undef POINTER
      const float *taps = w + ((size_t)(ky * g->kw + kx) * g->ci) * g->co + co0;
      for (int c = 0; c < run_length; c++) {
        const __m512 w0 = _mm512_maskz_loadu_ps(m0, taps + (size_t)c * g->co);
        const __m512 w1 = VECS > 1 ? _mm512_maskz_loadu_ps(m1, taps + (size_t)c * g->co + 16) : _mm512_setzero_ps();
#define MULTIPLY_ADD(p) { const __m512 v = _mm512_set1_ps(in##p[c]); a##p = _mm512_fmadd_ps(v, w0, a##p); \
        if (VECS > 1) b##p = _mm512_fmadd_ps(v, w1, b##p); }
        FOR_PIXELS(MULTIPLY_ADD)
#undef MULTIPLY_ADD
      }
    }
  }
  const __m512 bias0 = bias ? _mm512_maskz_loadu_ps(m0, bias + co0) : _mm512_setzero_ps();
  const __m512 bias1 = bias && VECS > 1 ? _mm512_maskz_loadu_ps(m1, bias + co0 + 16) : _mm512_setzero_ps();
  float *out = y + (((size_t)n * g->oh + oy) * g->ow + ox0) * g->co + co0;
#define STORE(p) if (p < pixels) { _mm512_mask_storeu_ps(out + (size_t)p * g->co, m0, activate(_mm512_add_ps(a##p, bias0), g->activation)); \
    if (VECS > 1) _mm512_mask_storeu_ps(out + (size_t)p * g->co + 16, m1, activate(_mm512_add_ps(b##p, bias1), g->activation)); }
  FOR_PIXELS(STORE)
#undef STORE
}

AVX512 static void conv_out_vec(const float *x, const float *w, const float *bias, float *y, const geometry *g, const float *zeros,
                                long rows_from, long rows_to) {
  for (long r = rows_from; r < rows_to; r++) {
    const int n = (int)(r / g->oh), oy = (int)(r % g->oh);
    for (int ox0 = 0; ox0 < g->ow; ox0 += PIXELS) {
        int co0 = 0;
        for (; g->co - co0 > 16; co0 += 32) out_vec_block(x, w, bias, y, g, zeros, n, oy, ox0, co0, 2);
      if (co0 < g->co) out_vec_block(x, w, bias, y, g, zeros, n, oy, ox0, co0, 1);
    }
  }
}

/* The sums of four vectors' lanes: {Σa, Σb, Σc, Σd}. */
AVX512 INLINE __m128 sum4(__m512 a, __m512 b, __m512 c, __m512 d) {
  const __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b)); /* per 128 bits: a02 b02 a13 b13 */
  const __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
  const __m512 abcd = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, 0x44), _mm512_shuffle_ps(ab, cd, 0xEE)); /* per 128 bits: Σa Σb Σc Σd */
  const __m256 half = _mm256_add_ps(_mm512_castps512_ps256(abcd), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(abcd), 1)));
  return _mm_add_ps(_mm256_castps256_ps128(half), _mm256_extractf128_ps(half, 1));
}

/*
 * PIXELS_IN output pixels of row (n, oy) from column ox0, output channels co0 .. co0 + OUTS (OUTS ·
 * PIXELS_IN ≤ 16 accumulators), from a filter laid out [kh, co, kw, ci].
 */
AVX512 INLINE void in_vec_block(const float *x, const float *wt, const float *bias, float *y, const geometry *g, const float *zeros,
                                int n, int oy, int ox0, int co0, const int OUTS, const int PIXELS_IN) {
  const int pixels = g->ow - ox0 < PIXELS_IN ? g->ow - ox0 : PIXELS_IN;
  __m512 acc[16];
  for (int a = 0; a < 16; a++) acc[a] = _mm512_setzero_ps();
  /* Every pixel's taps inside the input at width dilation 1: a row's taps and channels are one run of kw · ci values. */
  const int first_ix = ox0 * g->sw - g->pad_left, last_ix = (ox0 + pixels - 1) * g->sw - g->pad_left + g->kw - 1;
  const int merged = g->dw == 1 && first_ix >= 0 && last_ix < g->w;
  const int runs = merged ? 1 : g->kw, run_length = merged ? g->kw * g->ci : g->ci;
  for (int ky = 0; ky < g->kh; ky++) {
    const int iy = oy * g->sh - g->pad_top + ky * g->dh;
    if (iy < 0 || iy >= g->h) continue;
    const float *row = x + ((size_t)n * g->h + iy) * g->w * g->ci;
    for (int kx = 0; kx < runs; kx++) {
      const float *in[8];
      for (int p = 0; p < PIXELS_IN; p++) {
        const int ix = (ox0 + p) * g->sw - g->pad_left + kx * g->dw;
        in[p] = p < pixels && ix >= 0 && ix < g->w ? row + (size_t)ix * g->ci : zeros;
      }
      /* wt is laid out [kh, co, kw, ci]: output o's taps of this row, from kx on. */
      const float *taps = wt + ((size_t)(ky * g->co + co0) * g->kw + kx) * g->ci;
      const size_t out_stride = (size_t)g->kw * g->ci;
      for (int c0 = 0; c0 < run_length; c0 += 16) {
        const __mmask16 m = lanes(run_length - c0);
        __m512 w[8];
        for (int o = 0; o < OUTS; o++) w[o] = _mm512_maskz_loadu_ps(m, taps + o * out_stride + c0);
        for (int p = 0; p < PIXELS_IN; p++) {
          const __m512 v = _mm512_maskz_loadu_ps(m, in[p] + c0);
          for (int o = 0; o < OUTS; o++) acc[p * OUTS + o] = _mm512_fmadd_ps(v, w[o], acc[p * OUTS + o]);
        }
      }
    }
  }
  float sums[16];
  for (int a = 0; a < OUTS * PIXELS_IN; a += 4) _mm_storeu_ps(sums + a, sum4(acc[a], acc[a + 1], acc[a + 2], acc[a + 3]));
  for (int p = 0; p < pixels; p++) {
    float *out = y + (((size_t)n * g->oh + oy) * g->ow + ox0 + p) * g->co + co0;
    for (int o = 0; o < OUTS; o++) out[o] = activate_scalar(sums[p * OUTS + o] + (bias ? bias[co0 + o] : 0.0f), g->activation);
  }
}

/* Pixels a block for OUTS output channels: as many as keep 16 accumulators (at most 8). */
#define IN_VEC_PIXELS(outs) ((16 / (outs)) > 8 ? 8 : (16 / (outs)))
#define IN_VEC_CASE(k) case k: in_vec_block(x, wt, bias, y, g, zeros, n, oy, ox0, co0, k, IN_VEC_PIXELS(k)); break;

AVX512 static void conv_in_vec(const float *x, const float *wt, const float *bias, float *y, const geometry *g, const float *zeros,
                               long rows_from, long rows_to) {
  for (long r = rows_from; r < rows_to; r++) {
    const int n = (int)(r / g->oh), oy = (int)(r % g->oh);
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

/* A share of the output rows (batch × height) for one thread. */
typedef struct {
  const float *x, *w, *bias;
  float *y;
  const geometry *g;
  const float *zeros;
  int in_vec;
  long rows_from, rows_to;
} share;

static void *run_share(void *arg) {
  const share *s = (const share *)arg;
  if (s->in_vec) conv_in_vec(s->x, s->w, s->bias, s->y, s->g, s->zeros, s->rows_from, s->rows_to);
  else conv_out_vec(s->x, s->w, s->bias, s->y, s->g, s->zeros, s->rows_from, s->rows_to);
  return NULL;
}

#define MAX_THREADS 16
/* Multiply-adds (idle lanes counted) below which a thread is not worth starting: a start and join cost ~30 µs here. */
#define MIN_MULTIPLY_ADDS_PER_THREAD (2L * 1000 * 1000)

/* The output rows split over `threads` threads (this one included); a share whose thread fails to start runs here. */
static void run_threads(share base, int threads, long multiply_adds) {
  const long n = (long)base.g->n * base.g->oh;
  if (multiply_adds / MIN_MULTIPLY_ADDS_PER_THREAD < threads) threads = (int)(multiply_adds / MIN_MULTIPLY_ADDS_PER_THREAD);
  if (threads > n) threads = (int)n;
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  if (threads < 1) threads = 1;
  pthread_t ids[MAX_THREADS];
  share shares[MAX_THREADS];
  int started[MAX_THREADS] = { 0 };
  for (int t = 0; t < threads; t++) {
    shares[t] = base;
    shares[t].rows_from = n * t / threads;
    shares[t].rows_to = n * (t + 1) / threads;
  }
  for (int t = 1; t < threads; t++) started[t] = pthread_create(&ids[t], NULL, run_share, &shares[t]) == 0;
  run_share(&shares[0]);
  for (int t = 1; t < threads; t++) {
    if (started[t]) pthread_join(ids[t], NULL);
    else run_share(&shares[t]);
  }
}

static int cpu_supported(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}
#else
static int cpu_supported(void) { return 0; }
#endif

/* Vector lanes of work per output pixel and tap, idle ones included, for each loop order. */
static long out_vec_lanes(const geometry *g) { return (long)g->ci * ((g->co + 15) / 16) * 16; }
static long in_vec_lanes(const geometry *g) { return (long)g->co * ((g->ci + 15) / 16) * 16 + 4 * g->co / (g->kh * g->kw); /* + the sums */ }
static int use_in_vec(const geometry *g) { return g->co <= 8 && in_vec_lanes(g) < out_vec_lanes(g); }

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, "featurevis native conv: bad arguments"); return NULL; } } while (0)

/*
 * conv2d(memory: Float32Array, params: Int32Array): float offsets of x, filter, bias (−1: none) and y in
 * memory, the geometry, the activation (ACT_*) and the threads to split the batch over, in the P_* order.
 * Returns 1 where it looped over input channels, 0 over output channels.
 */
static napi_value conv2d(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc < 2) { napi_throw_type_error(env, NULL, "conv2d(memory, params)"); return NULL; }
  napi_typedarray_type type;
  size_t length, params_length;
  void *memory, *params_data;
  CHECK(napi_get_typedarray_info(env, args[0], &type, &length, &memory, NULL, NULL));
  if (type != napi_float32_array) { napi_throw_type_error(env, NULL, "memory must be a Float32Array"); return NULL; }
  CHECK(napi_get_typedarray_info(env, args[1], &type, &params_length, &params_data, NULL, NULL));
  if (type != napi_int32_array || params_length < P_COUNT) { napi_throw_type_error(env, NULL, "params must be an Int32Array of the geometry"); return NULL; }
  const int32_t *p = (const int32_t *)params_data;
  geometry g = { p[P_N], p[P_H], p[P_W_IN], p[P_CI], p[P_OH], p[P_OW], p[P_CO], p[P_KH], p[P_KW], p[P_SH], p[P_SW], p[P_DH], p[P_DW],
                 p[P_PAD_TOP], p[P_PAD_LEFT], p[P_ACTIVATION] };
  if (g.n < 1 || g.h < 1 || g.w < 1 || g.ci < 1 || g.oh < 1 || g.ow < 1 || g.co < 1 || g.kh < 1 || g.kw < 1 || g.sh < 1 || g.sw < 1
      || g.dh < 1 || g.dw < 1) { napi_throw_range_error(env, NULL, "bad convolution geometry"); return NULL; }
  const size_t x_size = (size_t)g.n * g.h * g.w * g.ci, w_size = (size_t)g.kh * g.kw * g.ci * g.co, y_size = (size_t)g.n * g.oh * g.ow * g.co;
  if (p[P_X] < 0 || p[P_W] < 0 || p[P_Y] < 0 || (size_t)p[P_X] + x_size > length || (size_t)p[P_W] + w_size > length
      || (size_t)p[P_Y] + y_size > length || (p[P_BIAS] >= 0 && (size_t)p[P_BIAS] + g.co > length)) {
    napi_throw_range_error(env, NULL, "tensor outside the memory"); return NULL;
  }
#if HAVE_X86
  if (!cpu_supported()) { napi_throw_error(env, NULL, "this CPU has no AVX-512"); return NULL; }
  const float *base = (const float *)memory;
  const float *x = base + p[P_X], *w = base + p[P_W], *bias = p[P_BIAS] >= 0 ? base + p[P_BIAS] : NULL;
  float *y = (float *)memory + p[P_Y];
  const int in_vec = use_in_vec(&g);
  const long multiply_adds = (long)g.n * g.oh * g.ow * g.kh * g.kw * (in_vec ? in_vec_lanes(&g) : out_vec_lanes(&g));
  if (in_vec) {
    float *wt = malloc(w_size * sizeof(float)), *zeros = calloc((size_t)g.kw * g.ci, sizeof(float));
    if (!wt || !zeros) { free(wt); free(zeros); napi_throw_error(env, NULL, "out of memory"); return NULL; }
    for (int ky = 0; ky < g.kh; ky++)
      for (int kx = 0; kx < g.kw; kx++)
        for (int c = 0; c < g.ci; c++)
          for (int o = 0; o < g.co; o++) wt[(((size_t)ky * g.co + o) * g.kw + kx) * g.ci + c] = w[(((size_t)ky * g.kw + kx) * g.ci + c) * g.co + o];
    run_threads((share){ x, wt, bias, y, &g, zeros, 1, 0, 0 }, p[P_THREADS], multiply_adds);
    free(wt);
    free(zeros);
  } else {
    float *zeros = calloc((size_t)g.kw * g.ci, sizeof(float)); /* a missing pixel's taps: kw · ci values of a merged run */
    if (!zeros) { napi_throw_error(env, NULL, "out of memory"); return NULL; }
    run_threads((share){ x, w, bias, y, &g, zeros, 0, 0, 0 }, p[P_THREADS], multiply_adds);
    free(zeros);
  }
  napi_value result;
  CHECK(napi_create_int32(env, in_vec, &result));
  return result;
#else
  (void)memory;
  napi_throw_error(env, NULL, "built without x86-64 AVX-512 support");
  return NULL;
#endif
}

static napi_value supported(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  CHECK(napi_get_boolean(env, cpu_supported(), &result));
  return result;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor properties[] = {
    { "conv2d", NULL, conv2d, NULL, NULL, NULL, napi_default, NULL },
    { "supported", NULL, supported, NULL, NULL, NULL, napi_default, NULL },
  };
  if (napi_define_properties(env, exports, 2, properties) != napi_ok) return NULL;
  return exports;
}
