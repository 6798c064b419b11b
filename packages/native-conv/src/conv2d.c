/*
 * 2-D convolution (NHWC input, [kh, kw, in, out] filter, as TensorFlow.js lays them out) in AVX-512, or
 * in AVX2 with FMA on CPUs without AVX-512, run on tensors where they live: in tfjs-backend-wasm's heap,
 * handed over as a Float32Array over the whole WebAssembly memory with float offsets. The kernels are
 * in kernels.h, compiled here once per instruction set; this file chooses one at run time, splits
 * large convolutions over threads and is the Node-API interface. See ../README.md for why this exists.
 */
#include <node_api.h>
#include <pthread.h>
#include <stddef.h>
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
  int filter_co; /* the output-channel loop order's filter: values between input channels (co rounded up to whole vectors) */
} geometry;

#if HAVE_X86
#define INLINE static inline __attribute__((always_inline))
#define PIXELS 8
#define FOR_PIXELS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

/*
 * A thread's input rows under the output row at hand (`input_rows`). Padded: each row is a copy,
 * zero-padded so that every tap of the output row lies inside it (padded_width columns, column j being
 * input column j − pad_left), in one of kh slots tagged with the input row they hold. Else the input's
 * own rows, and taps outside them are bounds-checked.
 */
typedef struct {
  int padded;
  float *slots;
  long *tags;
  const float **rows;
  int planar_width; /* planar rows (`planar_rows`): values a channel's plane */
} row_scratch;

/* Columns of a padded input row: every tap of an output row, from input column −pad_left. */
static inline int padded_width(const geometry *g) { return (g->ow - 1) * g->sw + (g->kw - 1) * g->dw + 1; }

/*
 * Input row (n, iy)'s slot of `slot_floats` in s: slot (iy / dh) mod kh (an output row's kh input rows
 * are consecutive multiples of dh apart, so they never share one), tagged n · h + iy. *fill: whether
 * the slot held another row, so must be filled.
 */
static inline float *slot_for(row_scratch s, const geometry *g, int n, int iy, size_t slot_floats, int *fill) {
  const int slot = (iy / g->dh) % g->kh;
  const long tag = (long)n * g->h + iy;
  *fill = s.tags[slot] != tag;
  s.tags[slot] = tag;
  return s.slots + (size_t)slot * slot_floats;
}

/*
 * Sets s.rows[ky], ky < kh, to the input row under output row (n, oy) for filter row ky: NULL where it
 * lies above or below the input. Padded, where the row needs padding, input row iy is copied into its
 * slot (`slot_for`), which the next output rows reuse: one copy an input row and thread.
 *
 * Why both: a padded row lets every block read a pixel's kw taps of ci channels as one run of kw · ci
 * values, where a block at the image's edge otherwise reads kw runs of ci, bounds-checked. Padded rows
 * made a batch-64 3 → 16 convolution at 32 × 32 17–20 % faster and the 16 → 3 one (input-channel
 * order) 12–19 %; with a vector's worth of input channels or more into the output-channel order they
 * changed nothing measurable (±4 %), so those read the input's own rows and save the copies.
 */
/* Taps [first, end) of a filter row (item-channel.h), or columns [first, end) of a padded row. */
typedef struct { int first, end; } tap_span;

/* The columns [first, end) of a padded (or planar) row `width` wide that lie inside the input: column j is input column j − pad_left. */
static inline tap_span columns_inside(const geometry *g, int width) {
  const int first = g->pad_left > 0 ? (g->pad_left < width ? g->pad_left : width) : 0;
  const int end = g->w + g->pad_left < width ? g->w + g->pad_left : width;
  return (tap_span){ first, end < first ? first : end };
}

static inline void input_rows(const float *x, const geometry *g, int n, int oy, row_scratch s) {
  const int width = padded_width(g);
  const tap_span inside = columns_inside(g, width);
  const int first = inside.first, end = inside.end;
  for (int ky = 0; ky < g->kh; ky++) {
    const int iy = oy * g->sh - g->pad_top + ky * g->dh;
    const float *in = iy < 0 || iy >= g->h ? NULL : x + ((size_t)n * g->h + iy) * g->w * g->ci;
    /* Unpadded, or a row that needs no padding (no left padding, every tap inside): the input's own. */
    if (!s.padded || in == NULL || (g->pad_left == 0 && end == width)) { s.rows[ky] = in; continue; }
    int fill;
    float *row = slot_for(s, g, n, iy, (size_t)width * g->ci, &fill);
    s.rows[ky] = row;
    if (!fill) continue;
    memset(row, 0, (size_t)first * g->ci * sizeof(float));
    memcpy(row + (size_t)first * g->ci, in + (size_t)(first - g->pad_left) * g->ci, (size_t)(end - first) * g->ci * sizeof(float));
    memset(row + (size_t)end * g->ci, 0, (size_t)(width - end) * g->ci * sizeof(float));
  }
}

/* How a block reads a filter row's taps: `runs` runs of `length` values per pixel. */
typedef struct { int runs, length; } tap_runs;

/*
 * For output pixels [ox0, ox0 + pixels) of a row: one run of kw · ci values each at width dilation 1
 * where the rows are padded or every tap lies inside the input, else kw runs of ci values.
 */
static inline tap_runs tap_runs_of(const geometry *g, int padded, int ox0, int pixels) {
  const int first = ox0 * g->sw - g->pad_left, last = (ox0 + pixels - 1) * g->sw - g->pad_left + g->kw - 1;
  const int merged = g->dw == 1 && (padded || (first >= 0 && last < g->w));
  return merged ? (tap_runs){ 1, g->kw * g->ci } : (tap_runs){ g->kw, g->ci };
}

/*
 * Where pixel ox's run kx of row `row` (from s.rows) begins: out-of-range pixels (past the output row's
 * end, or with every tap of the run outside an unpadded row) read `zeros`.
 */
static inline const float *tap_run(const float *row, const geometry *g, int padded, const float *zeros, int ox, int in_row, int kx) {
  const int ix = ox * g->sw - g->pad_left + kx * g->dw;
  if (padded) return in_row ? row + (size_t)(ix + g->pad_left) * g->ci : zeros;
  return in_row && ix >= 0 && ix < g->w ? row + (size_t)ix * g->ci : zeros;
}

/* The taps of a filter row inside the input for output column ox (end ≤ first: none). */
static inline tap_span taps_inside(const geometry *g, int ox) {
  const int left = ox * g->sw - g->pad_left; /* the input column of tap 0 */
  int first = 0, end = g->kw;
  while (first < end && left + first * g->dw < 0) first++;
  while (end > first && left + (end - 1) * g->dw >= g->w) end--;
  return (tap_span){ first, end };
}

static inline float activate_scalar(float v, int activation) {
  if (activation == ACT_RELU || activation == ACT_RELU6) v = v > 0.0f ? v : 0.0f;
  if (activation == ACT_RELU6) v = v < 6.0f ? v : 6.0f;
  return v;
}

/* ---- AVX-512: 16 lanes, mask registers. ---- */
#define TARGET __attribute__((target("avx512f")))
#define FN(name) name##_avx512
#define V __m512
#define M __mmask16
#define NL 16
#define MAX_VECS 2
#define ACCUMULATORS 16
#define PIX_VECS 4
#define VZERO() _mm512_setzero_ps()
#define VSET1(x) _mm512_set1_ps(x)
#define VADD(a, b) _mm512_add_ps(a, b)
#define VDIV(a, b) _mm512_div_ps(a, b)
#define VMAX(a, b) _mm512_max_ps(a, b)
#define VMIN(a, b) _mm512_min_ps(a, b)
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps(p, v)
#define VLOADM(m, p) _mm512_maskz_loadu_ps(m, p)
#define VSTOREM(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#define LANES(n) lanes_avx512(n)
#define SUM4(a, b, c, d) sum4_avx512(a, b, c, d)
#define TRANSPOSE(r) transpose_avx512(r)
#define KEEP(v) __asm__("" : "+v"(v)) /* v stays in a register: its load is not folded into each use */

static inline __mmask16 lanes_avx512(int count) {
  return count >= 16 ? (__mmask16)0xFFFF : count <= 0 ? (__mmask16)0 : (__mmask16)((1u << count) - 1u);
}

/* {Σa, Σb, Σc, Σd}. */
TARGET INLINE __m128 sum4_avx512(__m512 a, __m512 b, __m512 c, __m512 d) {
  const __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b)); /* per 128 bits: a02 b02 a13 b13 */
  const __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
  const __m512 abcd = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, 0x44), _mm512_shuffle_ps(ab, cd, 0xEE)); /* per 128 bits: Σa Σb Σc Σd */
  const __m256 half = _mm256_add_ps(_mm512_castps512_ps256(abcd), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(abcd), 1)));
  return _mm_add_ps(_mm256_castps256_ps128(half), _mm256_extractf128_ps(half, 1));
}

/* Transposes 16 vectors of 16 (r[i] lane j ↔ r[j] lane i). */
TARGET INLINE void transpose_avx512(__m512 *r) {
  __m512 t[16];
  for (int i = 0; i < 8; i++) { t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]); t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]); }
#define PD(x) _mm512_castps_pd(x)
#define PS(x) _mm512_castpd_ps(x)
  for (int i = 0; i < 4; i++) {
    r[4 * i] = PS(_mm512_unpacklo_pd(PD(t[4 * i]), PD(t[4 * i + 2])));
    r[4 * i + 1] = PS(_mm512_unpackhi_pd(PD(t[4 * i]), PD(t[4 * i + 2])));
    r[4 * i + 2] = PS(_mm512_unpacklo_pd(PD(t[4 * i + 1]), PD(t[4 * i + 3])));
    r[4 * i + 3] = PS(_mm512_unpackhi_pd(PD(t[4 * i + 1]), PD(t[4 * i + 3])));
  }
#undef PD
#undef PS
  for (int i = 0; i < 4; i++) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
    t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
  }
  for (int i = 0; i < 8; i++) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
  }
}

#include "kernels.h"
#include "item-channel.h"
#include "reduce.h"
#include "kernels-end.h"

/* ---- AVX2 with FMA: 8 lanes, masks as vectors of all-ones lanes; 16 registers. ---- */
#define TARGET __attribute__((target("avx2,fma")))
#define FN(name) name##_avx2
#define V __m256
#define M __m256i
#define NL 8
#define MAX_VECS 1
#define ACCUMULATORS 8
#define PIX_VECS 2
#define VZERO() _mm256_setzero_ps()
#define VSET1(x) _mm256_set1_ps(x)
#define VADD(a, b) _mm256_add_ps(a, b)
#define VDIV(a, b) _mm256_div_ps(a, b)
#define VMAX(a, b) _mm256_max_ps(a, b)
#define VMIN(a, b) _mm256_min_ps(a, b)
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps(p, v)
#define VLOADM(m, p) _mm256_maskload_ps(p, m)
#define VSTOREM(p, m, v) _mm256_maskstore_ps(p, m, v)
#define LANES(n) lanes_avx2(n)
#define SUM4(a, b, c, d) sum4_avx2(a, b, c, d)
#define TRANSPOSE(r) transpose_avx2(r)
#define KEEP(v) __asm__("" : "+x"(v))

TARGET INLINE __m256i lanes_avx2(int count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* {Σa, Σb, Σc, Σd}. */
TARGET INLINE __m128 sum4_avx2(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d)); /* per 128 bits: Σa Σb Σc Σd of each half */
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

/* Transposes 8 vectors of 8. */
TARGET INLINE void transpose_avx2(__m256 *r) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; i++) { t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]); t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]); }
  for (int i = 0; i < 2; i++) {
    u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int i = 0; i < 4; i++) { r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20); r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31); }
}

#include "kernels.h"
#include "item-channel.h"
#include "reduce.h"
#include "kernels-end.h"

/* A loop order's kernel: x, filter, bias, y, geometry, a zero row, this thread's scratch, output rows [from, to). */
typedef void (*kernel_fn)(const float *, const float *, const float *, float *, const geometry *, const float *, row_scratch, long, long);

/* An item-channel kernel (item-channel.h): input, filter, bias, output, geometry, items [from, to). */
typedef void (*item_fn)(const float *, const float *, const float *, float *, const geometry *, long, long);

/* The kernels of one instruction set. */
typedef struct {
  const char *name;
  int lanes;
  kernel_fn out_vec, in_vec, pix_vec;
  int pix_vecs; /* the pixel-vector order's vectors a block, at most */
  item_fn item_forward, item_backprop_input;
  void (*mean_middle)(const float *, float *, long, long, long);
} instruction_set;

static const instruction_set avx512 = { "avx512", 16, conv_out_vec_avx512, conv_in_vec_avx512, conv_pix_vec_avx512, 4,
                                        item_channel_forward_avx512, item_channel_backprop_input_avx512, mean_middle_avx512 };
static const instruction_set avx2 = { "avx2", 8, conv_out_vec_avx2, conv_in_vec_avx2, conv_pix_vec_avx2, 2,
                                      item_channel_forward_avx2, item_channel_backprop_input_avx2, mean_middle_avx2 };

/*
 * What the CPU runs, best first; null where neither. Probed once per process (every engine thread shares
 * the addon; two threads probing at once compute the same answer); `isa()` may choose the other for tests.
 */
static const instruction_set *chosen = NULL;
static int cpu_probed = 0;

static int cpu_runs(const instruction_set *set) {
  __builtin_cpu_init();
  if (set == &avx512) return __builtin_cpu_supports("avx512f");
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static const instruction_set *instruction_set_in_use(void) {
  if (!cpu_probed) {
    cpu_probed = 1;
    chosen = cpu_runs(&avx512) ? &avx512 : cpu_runs(&avx2) ? &avx2 : NULL;
  }
  return chosen;
}

#define MAX_THREADS 16
/*
 * Multiply-adds (idle lanes counted) a thread must have to be worth waking: with parked threads
 * (`pool`), a 4.7 M multiply-add convolution took 45 µs on one thread and 56 on two, an 18.9 M one
 * 184 and 153.
 */
#define MIN_MULTIPLY_ADDS_PER_THREAD (8L * 1000 * 1000)

/* Threads to share `count` units of work (output rows, items) of `multiply_adds` in all over, at most `threads`. */
static int threads_for(long count, int threads, long multiply_adds) {
  if (multiply_adds / MIN_MULTIPLY_ADDS_PER_THREAD < threads) threads = (int)(multiply_adds / MIN_MULTIPLY_ADDS_PER_THREAD);
  if (threads > count) threads = (int)count;
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  return threads < 1 ? 1 : threads;
}

/* Thread t's share [from, to) of some work. */
typedef void (*range_fn)(void *context, int t, long from, long to);
typedef struct {
  range_fn fn;
  void *context;
  int t;
  long from, to;
} range_share;

static void *run_range(void *arg) {
  const range_share *s = (const range_share *)arg;
  s->fn(s->context, s->t, s->from, s->to);
  return NULL;
}

/*
 * Threads kept for parallel_for: started once (on first need) and parked on a condition variable
 * between calls. Starting and joining threads for each call cost 60–100 µs on this project's machines
 * (a 4.7 M multiply-add convolution took 45 µs on one thread and 80–113 µs on two); waking parked
 * ones costs a fraction of that. One caller at a time: every engine thread shares the addon, so a call
 * that finds the pool busy starts threads of its own as before.
 */
static struct {
  pthread_mutex_t use;  /* held by the caller using the pool */
  pthread_mutex_t lock; /* guards the fields below */
  pthread_cond_t wake, done;
  int workers;          /* parked threads started so far */
  unsigned long round;  /* incremented for each call's work */
  int pending;          /* shares of this round not yet finished */
  const range_share *shares;
  int threads;          /* this round's threads, the caller's share 0 included */
} pool = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, NULL, 0 };

/* A parked thread: worker w (1 …) runs share w of each round that has one. */
static void *pool_worker(void *arg) {
  const int w = (int)(intptr_t)arg;
  unsigned long seen = 0;
  pthread_mutex_lock(&pool.lock);
  for (;;) {
    while (pool.round == seen) pthread_cond_wait(&pool.wake, &pool.lock);
    seen = pool.round;
    if (w >= pool.threads) continue;
    const range_share share = pool.shares[w];
    pthread_mutex_unlock(&pool.lock);
    run_range((void *)&share);
    pthread_mutex_lock(&pool.lock);
    if (--pool.pending == 0) pthread_cond_signal(&pool.done);
  }
  return NULL;
}

/* Starts parked threads up to `needed` workers (pool.lock held); returns how many there are. */
static int pool_grow(int needed) {
  while (pool.workers < needed) {
    pthread_t id;
    if (pthread_create(&id, NULL, pool_worker, (void *)(intptr_t)(pool.workers + 1)) != 0) break;
    pthread_detach(id);
    pool.workers++;
  }
  return pool.workers;
}

/* Threads the calling thread's last parallel_for ran on (lastCallThreads(): the tests check large calls split). */
static __thread int last_call_threads = 0;

/*
 * fn over [0, count) split evenly over `threads` threads (this one included): on the parked threads
 * where the pool is free and has them, else on threads started for this call (a share whose thread
 * fails to start runs here).
 */
static void parallel_for(range_fn fn, void *context, long count, int threads) {
  range_share shares[MAX_THREADS];
  for (int t = 0; t < threads; t++) shares[t] = (range_share){ fn, context, t, count * t / threads, count * (t + 1) / threads };
  last_call_threads = threads;
  if (threads == 1) { run_range(&shares[0]); return; }
  if (pthread_mutex_trylock(&pool.use) == 0) {
    pthread_mutex_lock(&pool.lock);
    if (pool_grow(threads - 1) >= threads - 1) {
      pool.shares = shares;
      pool.threads = threads;
      pool.pending = threads - 1;
      pool.round++;
      pthread_cond_broadcast(&pool.wake);
      pthread_mutex_unlock(&pool.lock);
      run_range(&shares[0]);
      pthread_mutex_lock(&pool.lock);
      while (pool.pending > 0) pthread_cond_wait(&pool.done, &pool.lock);
      pthread_mutex_unlock(&pool.lock);
      pthread_mutex_unlock(&pool.use);
      return;
    }
    pthread_mutex_unlock(&pool.lock);
    pthread_mutex_unlock(&pool.use);
  }
  pthread_t ids[MAX_THREADS];
  int started[MAX_THREADS] = { 0 };
  for (int t = 1; t < threads; t++) started[t] = pthread_create(&ids[t], NULL, run_range, &shares[t]) == 0;
  run_range(&shares[0]);
  for (int t = 1; t < threads; t++) {
    if (started[t]) pthread_join(ids[t], NULL);
    else run_range(&shares[t]);
  }
}

/* A convolution's output rows (batch × height) over threads, each with its own scratch. */
typedef struct {
  kernel_fn kernel;
  const float *x, *w, *bias;
  float *y;
  const geometry *g;
  const float *zero_row;
  row_scratch scratch[MAX_THREADS];
} conv_work;

static void conv_rows(void *context, int t, long from, long to) {
  const conv_work *c = (const conv_work *)context;
  c->kernel(c->x, c->w, c->bias, c->y, c->g, c->zero_row, c->scratch[t], from, to);
}

/*
 * Runs `kernel` over the output rows split over `threads` threads. Returns 0, having run nothing, where
 * the scratch rows cannot be allocated.
 */
static int run_threads(kernel_fn kernel, const float *x, const float *w, const float *bias, float *y, const geometry *g, int padded,
                       int planar_width, int threads, long multiply_adds) {
  const long n = (long)g->n * g->oh;
  threads = threads_for(n, threads, multiply_adds);
  /*
   * One zero row, then each thread's own part, whole cache lines apart (a pointer written every row on one
   * core and read on the other made two threads slower than one): kh row pointers, kh tags, and kh padded
   * rows where padded, or kh planar rows (zeroed) where planar_width > 0.
   */
  const size_t row_floats = (size_t)padded_width(g) * g->ci;
  const size_t slot_floats = padded ? row_floats : (size_t)planar_width * g->ci;
  const size_t zero_bytes = (row_floats * sizeof(float) + 63) / 64 * 64;
  const size_t index_bytes = ((size_t)g->kh * (sizeof(float *) + sizeof(long)) + 63) / 64 * 64;
  const size_t slot_bytes = ((size_t)g->kh * slot_floats * sizeof(float) + 63) / 64 * 64;
  const size_t thread_bytes = index_bytes + slot_bytes;
  char *scratch = aligned_alloc(64, zero_bytes + threads * thread_bytes);
  if (!scratch) return 0;
  memset(scratch, 0, zero_bytes);
  conv_work work = { kernel, x, w, bias, y, g, (const float *)scratch, { { 0 } } };
  for (int t = 0; t < threads; t++) {
    char *part = scratch + zero_bytes + t * thread_bytes;
    work.scratch[t] = (row_scratch){ padded, (float *)(part + index_bytes), (long *)(part + g->kh * sizeof(float *)), (const float **)part,
                                     planar_width };
    for (int ky = 0; ky < g->kh; ky++) work.scratch[t].tags[ky] = -1;
    if (planar_width > 0) memset(part + index_bytes, 0, slot_bytes);
  }
  parallel_for(conv_rows, &work, n, threads);
  free(scratch);
  return 1;
}

/* An item-channel kernel's items over threads. */
typedef struct {
  item_fn kernel;
  const float *in, *f, *bias;
  float *out;
  const geometry *g;
} item_work;

static void item_rows(void *context, int t, long from, long to) {
  (void)t;
  const item_work *c = (const item_work *)context;
  c->kernel(c->in, c->f, c->bias, c->out, c->g, from, to);
}

static int cpu_supported(void) { return instruction_set_in_use() != NULL; }
#else
static int cpu_supported(void) { return 0; }
#endif

/* Vector lanes of work per output pixel and tap, idle ones included, for each loop order (`nl` lanes a vector). */
static long out_vec_lanes(const geometry *g, int nl) { return (long)g->ci * ((g->co + nl - 1) / nl) * nl; }
static long in_vec_lanes(const geometry *g, int nl) { return (long)g->co * ((g->ci + nl - 1) / nl) * nl + 4 * g->co / (g->kh * g->kw); /* + the sums */ }
static int use_in_vec(const geometry *g, int nl) { return g->co <= 8 && in_vec_lanes(g, nl) < out_vec_lanes(g, nl); }
/*
 * The pixel-vector order (lanes over a row's output pixels): its lanes a pixel and tap, ci · co, with
 * the row's last vector counted whole (× ow, to stay in integers).
 */
static long pix_vec_lanes_times_ow(const geometry *g, int nl) { return (long)g->ci * g->co * ((g->ow + nl - 1) / nl) * nl; }
/*
 * Chosen at width stride 1 for at most a vector's worth of outputs where it leaves no more lanes idle
 * than the other two (ties go to it: with a vector of outputs, 32 → 16 at 16 × 16 and 3 → 16 at 32 × 32,
 * it was 10–12 % faster than the output-channel order at the same lanes).
 */
static int use_pix_vec(const geometry *g, int nl) {
  if (g->sw != 1 || g->co > nl) return 0;
  const long other = use_in_vec(g, nl) ? in_vec_lanes(g, nl) : out_vec_lanes(g, nl);
  return pix_vec_lanes_times_ow(g, nl) <= other * g->ow;
}
static long pix_vec_lanes(const geometry *g, int nl) { return (pix_vec_lanes_times_ow(g, nl) + g->ow - 1) / g->ow; }

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, "featurevis native conv: bad arguments"); return NULL; } } while (0)

/* A call's arguments: the memory (`length` floats) and the params (P_* order) with their geometry. */
typedef struct {
  float *memory;
  size_t length;
  const int32_t *p;
  geometry g;
} call_args;

/* Reads (memory: Float32Array, params: Int32Array of at least min_params); 0 where it threw a TypeError. */
static int read_arrays(napi_env env, napi_callback_info info, const char *usage, size_t min_params, float **memory, size_t *length,
                       const int32_t **params) {
  size_t argc = 2, params_length;
  napi_value args[2];
  napi_typedarray_type type;
  void *data, *params_data;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc < 2) { napi_throw_type_error(env, NULL, usage); return 0; }
  if (napi_get_typedarray_info(env, args[0], &type, length, &data, NULL, NULL) != napi_ok || type != napi_float32_array) {
    napi_throw_type_error(env, NULL, "memory must be a Float32Array"); return 0;
  }
  if (napi_get_typedarray_info(env, args[1], &type, &params_length, &params_data, NULL, NULL) != napi_ok || type != napi_int32_array
      || params_length < min_params) {
    napi_throw_type_error(env, NULL, "params must be an Int32Array of the geometry"); return 0;
  }
  *memory = (float *)data;
  *params = (const int32_t *)params_data;
  return 1;
}

/* Reads (memory: Float32Array, params: Int32Array) into `a`; 0 where it threw (a TypeError or a RangeError naming what is wrong). */
static int read_call(napi_env env, napi_callback_info info, const char *usage, call_args *a) {
  if (!read_arrays(env, info, usage, P_COUNT, &a->memory, &a->length, &a->p)) return 0;
  const int32_t *p = a->p;
  a->g = (geometry){ p[P_N], p[P_H], p[P_W_IN], p[P_CI], p[P_OH], p[P_OW], p[P_CO], p[P_KH], p[P_KW], p[P_SH], p[P_SW], p[P_DH], p[P_DW],
                     p[P_PAD_TOP], p[P_PAD_LEFT], p[P_ACTIVATION], p[P_CO] };
  const geometry g = a->g;
  if (g.n < 1 || g.h < 1 || g.w < 1 || g.ci < 1 || g.oh < 1 || g.ow < 1 || g.co < 1 || g.kh < 1 || g.kw < 1 || g.sh < 1 || g.sw < 1
      || g.dh < 1 || g.dw < 1) { napi_throw_range_error(env, NULL, "bad convolution geometry"); return 0; }
  return 1;
}

/* Whether `size` floats from offset p[index] (−1 with `optional`: none) lie inside the memory; throws where not. */
static int inside(napi_env env, const call_args *a, int index, size_t size, int optional) {
  const int32_t offset = a->p[index];
  if ((optional && offset == -1) || (offset >= 0 && (size_t)offset + size <= a->length)) return 1;
  napi_throw_range_error(env, NULL, "tensor outside the memory");
  return 0;
}

#if HAVE_X86
static napi_value undefined(napi_env env) {
  napi_value result;
  napi_get_undefined(env, &result);
  return result;
}
#else
/* Throws: this build has no kernels (not x86-64). */
static napi_value not_built(napi_env env) {
  napi_throw_error(env, NULL, "built without x86-64 vector kernels");
  return NULL;
}
#endif

#if HAVE_X86
/* The instruction set to run on; throws where there is none. */
static const instruction_set *require_set(napi_env env) {
  const instruction_set *set = instruction_set_in_use();
  if (set == NULL) napi_throw_error(env, NULL, "this CPU has neither AVX-512 nor AVX2 with FMA");
  return set;
}
#endif

/*
 * conv2d(memory: Float32Array, params: Int32Array): float offsets of x, filter, bias (−1: none) and y in
 * memory, the geometry, the activation (ACT_*) and the threads to split the output rows over, in the P_*
 * order. Only reads inside x and writes inside y: every tap is bounds-checked, whatever the geometry.
 * Returns the loop order it took: 0 over output channels, 1 over input channels, 2 over output pixels.
 */
static napi_value conv2d(napi_env env, napi_callback_info info) {
  call_args a;
  if (!read_call(env, info, "conv2d(memory, params)", &a)) return NULL;
  geometry g = a.g;
  const int32_t *p = a.p;
  const size_t w_size = (size_t)g.kh * g.kw * g.ci * g.co;
  if (!inside(env, &a, P_X, (size_t)g.n * g.h * g.w * g.ci, 0) || !inside(env, &a, P_W, w_size, 0)
      || !inside(env, &a, P_Y, (size_t)g.n * g.oh * g.ow * g.co, 0) || !inside(env, &a, P_BIAS, g.co, 1)) return NULL;
#if HAVE_X86
  const instruction_set *set = require_set(env);
  if (set == NULL) return NULL;
  const float *x = a.memory + p[P_X], *w = a.memory + p[P_W], *bias = p[P_BIAS] >= 0 ? a.memory + p[P_BIAS] : NULL;
  float *y = a.memory + p[P_Y];
  const int pix_vec = use_pix_vec(&g, set->lanes), in_vec = !pix_vec && use_in_vec(&g, set->lanes);
  const long multiply_adds = (long)g.n * g.oh * g.ow * g.kh * g.kw
    * (pix_vec ? pix_vec_lanes(&g, set->lanes) : in_vec ? in_vec_lanes(&g, set->lanes) : out_vec_lanes(&g, set->lanes));
  int ran;
  if (pix_vec) {
    /* Planes wide enough for every block's vectors and taps: loads past the row's end read zeros. */
    const int block = set->pix_vecs * set->lanes;
    const int planar_width = (g.ow + block - 1) / block * block + (g.kw - 1) * g.dw;
    ran = run_threads(set->pix_vec, x, w, bias, y, &g, 0, planar_width, p[P_THREADS], multiply_adds);
  } else if (in_vec) {
    float *wt = malloc(w_size * sizeof(float));
    if (!wt) { napi_throw_error(env, NULL, "out of memory"); return NULL; }
    for (int ky = 0; ky < g.kh; ky++)
      for (int kx = 0; kx < g.kw; kx++)
        for (int c = 0; c < g.ci; c++)
          for (int o = 0; o < g.co; o++) wt[(((size_t)ky * g.co + o) * g.kw + kx) * g.ci + c] = w[(((size_t)ky * g.kw + kx) * g.ci + c) * g.co + o];
    ran = run_threads(set->in_vec, x, wt, bias, y, &g, 1, 0, p[P_THREADS], multiply_adds);
    free(wt);
  } else {
    /* The filter with its output channels padded with zeros to whole vectors, so the inner loop loads it unmasked. */
    g.filter_co = (g.co + set->lanes - 1) / set->lanes * set->lanes;
    float *wp = g.filter_co == g.co ? NULL : calloc((size_t)g.kh * g.kw * g.ci * g.filter_co, sizeof(float));
    if (g.filter_co != g.co && !wp) { napi_throw_error(env, NULL, "out of memory"); return NULL; }
    for (size_t tap = 0; wp && tap < (size_t)g.kh * g.kw * g.ci; tap++) memcpy(wp + tap * g.filter_co, w + tap * g.co, g.co * sizeof(float));
    ran = run_threads(set->out_vec, x, wp ? wp : w, bias, y, &g, g.ci < set->lanes, 0, p[P_THREADS], multiply_adds);
    free(wp);
  }
  if (!ran) { napi_throw_error(env, NULL, "out of memory"); return NULL; }
  napi_value result;
  CHECK(napi_create_int32(env, pix_vec ? 2 : in_vec, &result));
  return result;
#else
  (void)p;
  return not_built(env);
#endif
}

/*
 * The item-channel kernels (item-channel.h): `forward` reads params' x and writes y as
 * out[n, oh, ow] (co = 1; bias: n values or −1); else it reads params' x as dy [n, oh, ow] and writes
 * y as dx [n, h, w, ci] (bias unused). The filter is [n, kh, kw, ci]. Items are shared out over the
 * threads.
 */
static napi_value item_channel(napi_env env, napi_callback_info info, int forward) {
  call_args a;
  if (!read_call(env, info, forward ? "itemChannelConv(memory, params)" : "itemChannelConvBackpropInput(memory, params)", &a)) return NULL;
  const geometry g = a.g;
  const int32_t *p = a.p;
  if (g.co != 1) { napi_throw_range_error(env, NULL, "bad convolution geometry: one output channel an item"); return NULL; }
  const size_t image = (size_t)g.n * g.h * g.w * g.ci, out = (size_t)g.n * g.oh * g.ow;
  if (!inside(env, &a, P_X, forward ? image : out, 0) || !inside(env, &a, P_W, (size_t)g.n * g.kh * g.kw * g.ci, 0)
      || !inside(env, &a, P_Y, forward ? out : image, 0) || (forward && !inside(env, &a, P_BIAS, g.n, 1))) return NULL;
#if HAVE_X86
  const instruction_set *set = require_set(env);
  if (set == NULL) return NULL;
  item_work work = { forward ? set->item_forward : set->item_backprop_input, a.memory + p[P_X], a.memory + p[P_W],
                     forward && p[P_BIAS] >= 0 ? a.memory + p[P_BIAS] : NULL, a.memory + p[P_Y], &g };
  parallel_for(item_rows, &work, g.n, threads_for(g.n, p[P_THREADS], (long)out * g.kh * g.kw * g.ci));
  return undefined(env);
#else
  (void)p;
  return not_built(env);
#endif
}

/*
 * mean(memory: Float32Array, params: Int32Array): params are the float offsets of x and out in memory,
 * then outer, reduce and inner (reduce.h): x [outer, reduce, inner] → out [outer, inner].
 */
static napi_value mean(napi_env env, napi_callback_info info) {
  float *memory;
  size_t length;
  const int32_t *p;
  if (!read_arrays(env, info, "mean(memory, params)", 5, &memory, &length, &p)) return NULL;
  const long outer = p[2], reduce = p[3], inner = p[4];
  if (outer < 1 || reduce < 1 || inner < 1) { napi_throw_range_error(env, NULL, "bad mean geometry"); return NULL; }
  if (p[0] < 0 || p[1] < 0 || (size_t)p[0] + (size_t)outer * reduce * inner > length || (size_t)p[1] + (size_t)outer * inner > length) {
    napi_throw_range_error(env, NULL, "tensor outside the memory"); return NULL;
  }
#if HAVE_X86
  const instruction_set *set = require_set(env);
  if (set == NULL) return NULL;
  last_call_threads = 1;
  set->mean_middle(memory + p[0], memory + p[1], outer, reduce, inner);
  return undefined(env);
#else
  (void)p;
  return not_built(env);
#endif
}

static napi_value item_channel_conv(napi_env env, napi_callback_info info) { return item_channel(env, info, 1); }
static napi_value item_channel_conv_backprop_input(napi_env env, napi_callback_info info) { return item_channel(env, info, 0); }

/*
 * isa(name?: 'avx512' | 'avx2'): the instruction set the kernels run on ('' where none); with a name,
 * chooses it first (tests run the AVX2 kernels on an AVX-512 CPU this way), throwing where the CPU
 * cannot run it.
 */
static napi_value isa(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
#if HAVE_X86
  if (argc >= 1) {
    napi_valuetype type;
    CHECK(napi_typeof(env, args[0], &type));
    if (type == napi_string) {
      char name[16];
      size_t length;
      CHECK(napi_get_value_string_utf8(env, args[0], name, sizeof name, &length));
      const instruction_set *set = strcmp(name, "avx512") == 0 ? &avx512 : strcmp(name, "avx2") == 0 ? &avx2 : NULL;
      if (set == NULL) { napi_throw_type_error(env, NULL, "isa: 'avx512' or 'avx2'"); return NULL; }
      if (!cpu_runs(set)) { napi_throw_error(env, NULL, "this CPU cannot run that instruction set"); return NULL; }
      instruction_set_in_use();
      chosen = set;
    }
  }
  const instruction_set *set = instruction_set_in_use();
  napi_value result;
  CHECK(napi_create_string_utf8(env, set ? set->name : "", NAPI_AUTO_LENGTH, &result));
  return result;
#else
  napi_value result;
  CHECK(napi_create_string_utf8(env, "", NAPI_AUTO_LENGTH, &result));
  return result;
#endif
}

/* lastCallThreads(): the threads this thread's last convolution, item-channel call or mean ran on (0 before any). */
static napi_value last_call_threads_value(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
#if HAVE_X86
  CHECK(napi_create_int32(env, last_call_threads, &result));
#else
  CHECK(napi_create_int32(env, 0, &result));
#endif
  return result;
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
    { "isa", NULL, isa, NULL, NULL, NULL, napi_default, NULL },
    { "itemChannelConv", NULL, item_channel_conv, NULL, NULL, NULL, napi_default, NULL },
    { "itemChannelConvBackpropInput", NULL, item_channel_conv_backprop_input, NULL, NULL, NULL, napi_default, NULL },
    { "mean", NULL, mean, NULL, NULL, NULL, napi_default, NULL },
    { "lastCallThreads", NULL, last_call_threads_value, NULL, NULL, NULL, napi_default, NULL },
  };
  if (napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties) != napi_ok) return NULL;
  return exports;
}
