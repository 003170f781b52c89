/* Private to the CPU backend: the non-conv kernels (cpu_bn.c, cpu_eltwise.c, cpu_pool.c,
 * cpu_head.c) that cpu_backend.c puts into the vtable, plus small helpers they share.
 * Signatures are identical to the vtable entries in backend.h. */
#ifndef DNAS_BACKEND_CPU_KERNELS_H
#define DNAS_BACKEND_CPU_KERNELS_H
#include <string.h>
#include "cpu_internal.h"

/* OpenMP pragmas through _Pragma so that a build without -fopenmp (NO_OMP=1) does not trip
 * -Wunknown-pragmas under -Werror. */
#ifdef _OPENMP
#define DNAS_OMP(...) _Pragma(#__VA_ARGS__)
#else
#define DNAS_OMP(...)
#endif

/* Below this many floats a kernel runs on the calling thread: waking the team costs more
 * than the work (a few microseconds). */
#define DNAS_CPU_PAR_MIN ((size_t)32768)

/* The usual work-sharing loop: static schedule (fixed chunk -> thread mapping), serial when
 * there is one thread or little work (`work` counts floats touched). Without OpenMP it only
 * marks its arguments used. */
#ifdef _OPENMP
#define DNAS_OMP_FOR(nt, work)                                                \
    DNAS_OMP(omp parallel for num_threads(nt) schedule(static)                 \
                 if ((nt) > 1 && (work) >= DNAS_CPU_PAR_MIN))
#else
#define DNAS_OMP_FOR(nt, work) (void)(nt), (void)(work);
#endif

/* For small per-chunk helpers called with a literal width 8 (full AVX2 chunk) and with a
 * runtime tail width: forcing the inline lets the literal-8 copy become straight vector code. */
#define DNAS_INLINE inline __attribute__((always_inline))

/* Explicit 8-float / 4-double vectors (GCC/Clang vector extensions): the channel-chunk loops
 * depend on them being straight vector code, which auto-vectorisation does not guarantee
 * (compare-and-select became branches; strided pixel loops got gathers). With
 * -march=x86-64-v3 each is one AVX2 register; lesser targets split them. Loads and stores go
 * through memcpy: unaligned, and no aliasing questions. */
#if !defined(__AVX__) && defined(__GNUC__) && !defined(__clang__)
/* Without AVX (ARCH=x86-64) GCC warns that 32-byte vector arguments change the ABI; these
 * helpers are static and inlined, so there is no ABI to keep. */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
typedef float dnas_v8f __attribute__((vector_size(32)));
typedef int dnas_v8i __attribute__((vector_size(32)));
typedef float dnas_v4f __attribute__((vector_size(16)));
typedef double dnas_v4d __attribute__((vector_size(32)));

static inline dnas_v8f v8f_load(const float *p) {
    dnas_v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void v8f_store(float *p, dnas_v8f v) { memcpy(p, &v, sizeof v); }
static inline dnas_v8f v8f_set1(float a) { return (dnas_v8f){a, a, a, a, a, a, a, a}; }
static inline dnas_v8i v8i_set1(int a) { return (dnas_v8i){a, a, a, a, a, a, a, a}; }
/* mask ? a : b, with mask lanes all-ones or zero (as vector comparisons return) */
static inline dnas_v8f v8f_select(dnas_v8i mask, dnas_v8f a, dnas_v8f b) {
    return (dnas_v8f)(((dnas_v8i)a & mask) | ((dnas_v8i)b & ~mask));
}
static inline dnas_v8i v8i_select(dnas_v8i mask, dnas_v8i a, dnas_v8i b) {
    return (a & mask) | (b & ~mask);
}
/* 4 floats from memory widened to double: one vcvtps2pd ymm. (GCC 12 splits
 * __builtin_convertvector of a widening into 128-bit halves; the element-wise form is not.) */
static inline dnas_v4d v4d_load_f(const float *p) {
    dnas_v4f v;
    memcpy(&v, p, sizeof v);
    return (dnas_v4d){v[0], v[1], v[2], v[3]};
}
static inline dnas_v4d v4d_set1(double a) { return (dnas_v4d){a, a, a, a}; }
/* The first n <= 8 floats (rest zero) / store only n lanes: one code path serves full chunks
 * (n == 8 literal: plain vector load/store after inlining) and the channel tail. */
static DNAS_INLINE dnas_v8f v8f_load_n(const float *p, int n) {
    if (n == 8) return v8f_load(p);
    dnas_v8f v = {0};
    memcpy(&v, p, sizeof(float) * (size_t)n);
    return v;
}
static DNAS_INLINE void v8f_store_n(float *p, dnas_v8f v, int n) {
    if (n == 8) v8f_store(p, v);
    else memcpy(p, &v, sizeof(float) * (size_t)n);
}

/* cpu_bn.c */
dnas_status dnas_cpu_bn_fwd_train(dnas_backend *be, const dnas_bn_p *p, float *y,
                                  float *save_mean, float *save_invstd, float *running_mean,
                                  float *running_var, const float *x, dnas_shape xs,
                                  const float *gamma, const float *beta);
dnas_status dnas_cpu_bn_fwd_eval(dnas_backend *be, const dnas_bn_p *p, float *y, const float *x,
                                 dnas_shape xs, const float *running_mean,
                                 const float *running_var, const float *gamma,
                                 const float *beta);
/* test_bn_isa's view of the per-(block, channel) double partial sums (cpu_bn.c). */
dnas_status dnas_cpu_bn_partials(const float *x, const float *dy, const float *ry,
                                 const float *mean, dnas_shape xs, double *s, double *q,
                                 long *nb);
dnas_status dnas_cpu_bn_bwd(dnas_backend *be, float *dx, int acc, float *dgamma, float *dbeta,
                            const float *dy, float dy_scale, const float *relu_y, const float *x,
                            dnas_shape xs, const float *save_mean, const float *save_invstd,
                            const float *gamma);
dnas_status dnas_cpu_bn_bwd_sums(dnas_backend *be, float *dx, int acc, float *dgamma,
                                 float *dbeta, const float *dy, float dy_scale,
                                 const float *relu_y, const float *x, dnas_shape xs,
                                 const float *save_mean, const float *save_invstd,
                                 const float *gamma, double *sums);

/* cpu_eltwise.c */
dnas_status dnas_cpu_relu_fwd(dnas_backend *be, float *y, const float *x, size_t n);
dnas_status dnas_cpu_relu_bwd(dnas_backend *be, float *dx, int acc, const float *dy,
                              const float *y, size_t n);
dnas_status dnas_cpu_wsum_fwd(dnas_backend *be, float *y, size_t n, int k, const float *const *x,
                              const float *m);
dnas_status dnas_cpu_wsum_affine_fwd(dnas_backend *be, float *y, dnas_shape ys, int k,
                                     const float *const *x, const float *m,
                                     const float *const *mean, const float *const *a,
                                     const float *const *b, const dnas_pool_p *const *pool,
                                     const dnas_shape *pool_xs);
dnas_status dnas_cpu_wsum_bwd(dnas_backend *be, float *const *dx, const int *acc, float *dm,
                              size_t n, int k, const float *dy, const float *const *x,
                              const float *m);
dnas_status dnas_cpu_chancopy(dnas_backend *be, float *dst, int dst_c, int doff, int acc,
                              const float *src, int src_c, int soff, int count, size_t npix);
dnas_status dnas_cpu_concat_relu_fwd(dnas_backend *be, float *y, int k, const float *const *x,
                                     const int *c, size_t npix);
dnas_status dnas_cpu_concat_relu_bwd(dnas_backend *be, float *const *dx, const int *acc, int k,
                                     const int *c, const float *dy, const float *y, size_t npix);

/* cpu_pool.c */
dnas_status dnas_cpu_avgpool_fwd(dnas_backend *be, const dnas_pool_p *p, float *y, dnas_shape ys,
                                 const float *x, dnas_shape xs);
dnas_status dnas_cpu_avgpool_bwd(dnas_backend *be, const dnas_pool_p *p, float *dx, int acc,
                                 dnas_shape xs, const float *dy, dnas_shape ys);
dnas_status dnas_cpu_avgpool_bwd_mix(dnas_backend *be, const dnas_pool_p *p, float *dx, int acc,
                                     dnas_shape xs, const float *x, const float *dy,
                                     float dy_scale, dnas_shape ys, double *dot);
dnas_status dnas_cpu_avgpool_bwd_mix_skip(dnas_backend *be, const dnas_pool_p *p, float *dx,
                                          dnas_shape xs, const float *x, const float *dy,
                                          float dy_scale, dnas_shape ys, double *dot,
                                          const dnas_pool_skip *skip);
/* For the lazy-pool weighted sum (cpu_eltwise.c): the shapes check, every output pixel's
 * 1/divisor (ys.h * ys.w floats into inv), and output rows [oh0, oh1) of image n of the
 * average pool of x, written densely to out ((oh1 - oh0) * ys.w * C floats). */
dnas_status dnas_cpu_pool_check(const char *who, const dnas_pool_p *p, dnas_shape xs,
                                dnas_shape ys);
void dnas_cpu_avgpool_divisors(const dnas_pool_p *p, dnas_shape xs, dnas_shape ys, float *inv);
void dnas_cpu_avgpool_rows(const dnas_pool_p *p, dnas_shape xs, dnas_shape ys, const float *inv,
                           const float *x, int n, int oh0, int oh1, float *out);
dnas_status dnas_cpu_maxpool_fwd(dnas_backend *be, const dnas_pool_p *p, float *y, dnas_shape ys,
                                 const float *x, dnas_shape xs);
dnas_status dnas_cpu_maxpool_bwd(dnas_backend *be, const dnas_pool_p *p, float *dx, int acc,
                                 dnas_shape xs, const float *x, const float *dy, dnas_shape ys);

/* cpu_head.c */
dnas_status dnas_cpu_gap_fwd(dnas_backend *be, float *y, const float *x, dnas_shape xs);
dnas_status dnas_cpu_gap_bwd(dnas_backend *be, float *dx, int acc, dnas_shape xs,
                             const float *dy);
dnas_status dnas_cpu_linear_fwd(dnas_backend *be, float *y, const float *x, const float *w,
                                const float *b, int n, int in, int out);
dnas_status dnas_cpu_linear_bwd(dnas_backend *be, float *dx, int acc, float *dw, float *db,
                                const float *dy, const float *x, const float *w, int n, int in,
                                int out);
dnas_status dnas_cpu_xent_fwd(dnas_backend *be, float *probs, float *loss, int *correct,
                              const float *logits, const int *labels, int n, int k);
dnas_status dnas_cpu_xent_bwd(dnas_backend *be, float *dlogits, const float *probs,
                              const int *labels, int n, int k, float scale);

/* Dot product of two float vectors accumulated in double (exact products), with eight
 * independent partial sums so it vectorises without -ffast-math. The summation order depends
 * only on n, so results are reproducible. */
static inline double dnas_cpu_dot_f64(const float *a, const float *b, size_t n) {
    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += (double)a[i + j] * (double)b[i + j];
    double t = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
    for (; i < n; i++) t += (double)a[i] * (double)b[i];
    return t;
}

#endif
