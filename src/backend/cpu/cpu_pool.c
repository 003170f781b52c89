/* Average and max pooling on NHWC floats.
 *
 * Each output pixel works on chunks of 8 channels held in a register: a window position of a
 * chunk is one vector load. For the 3x3 windows the search spaces use, every pixel whose
 * window covers 2 or 3 whole rows of 3 columns takes straight-line code (the stride-1 average
 * also reuses column sums between neighbours); only the left/right border pixels and other
 * window sizes take the general per-pixel loop.
 * Both backwards are gathers (each dx pixel sums the dy of the windows that contain it, for
 * max pool only those whose recomputed argmax it is), so dx is written once, in order, and
 * needs no zeroing. */
#include "cpu_kernels.h"
#include "cpu_simd512.h"
#include <math.h>
#include <string.h>
#ifdef __AVX__
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

dnas_status dnas_cpu_pool_check(const char *who, const dnas_pool_p *p, dnas_shape xs,
                                dnas_shape ys) {
    if (p->k < 1 || p->stride < 1 || p->pad < 0 || p->pad >= p->k)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "%s: bad k=%d stride=%d pad=%d", who, p->k,
                         p->stride, p->pad);
    if (xs.n != ys.n || xs.c != ys.c || xs.n < 0 || xs.c <= 0 || xs.h <= 0 || xs.w <= 0 ||
        ys.h <= 0 || ys.w <= 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "%s: shapes x(%d,%d,%d,%d) y(%d,%d,%d,%d)", who,
                         xs.n, xs.c, xs.h, xs.w, ys.n, ys.c, ys.h, ys.w);
    return DNAS_OK;
}

static inline int imax(int a, int b) { return a > b ? a : b; }
static inline int imin(int a, int b) { return a < b ? a : b; }

/* 1/divisor for every output pixel (OH*OW floats), as PyTorch counts it: with
 * count_include_pad the window is clipped to the padded extent, else to the image. */
void dnas_cpu_avgpool_divisors(const dnas_pool_p *p, dnas_shape xs, dnas_shape ys, float *inv) {
    for (int oh = 0; oh < ys.h; oh++) {
        int h0 = oh * p->stride - p->pad;
        int dh = p->count_include_pad ? imin(h0 + p->k, xs.h + p->pad) - h0
                                      : imin(h0 + p->k, xs.h) - imax(h0, 0);
        for (int ow = 0; ow < ys.w; ow++) {
            int w0 = ow * p->stride - p->pad;
            int dw = p->count_include_pad ? imin(w0 + p->k, xs.w + p->pad) - w0
                                          : imin(w0 + p->k, xs.w) - imax(w0, 0);
            inv[(size_t)oh * ys.w + ow] = dh > 0 && dw > 0 ? 1.0f / (float)(dh * dw) : 0.0f;
        }
    }
}

/* The divisors in the workspace (valid for this call only). Extra floats after them may be
 * asked for (extra), for the caller's own scratch. */
static dnas_status avg_inv_divisors(dnas_backend *be, const dnas_pool_p *p, dnas_shape xs,
                                    dnas_shape ys, size_t extra, float **out) {
    void *ws;
    size_t n_inv = ((size_t)ys.h * ys.w + 15) / 16 * 16;
    DNAS_TRY(dnas_cpu_workspace(be, sizeof(float) * (n_inv + extra), &ws));
    dnas_cpu_avgpool_divisors(p, xs, ys, ws);
    *out = ws;
    return DNAS_OK;
}

typedef struct {
    int C, H, W, OH, OW, k, s, pad;
} geo;

static geo make_geo(const dnas_pool_p *p, dnas_shape xs, dnas_shape ys) {
    geo g = {xs.c, xs.h, xs.w, ys.h, ys.w, p->k, p->stride, p->pad};
    return g;
}

/* Outputs [*a, *b) along w whose whole window lies inside the row (the interior). */
static void interior(const geo *g, int *a, int *b) {
    int lo = imin((g->pad + g->s - 1) / g->s, g->OW);
    int hi = g->W - g->k + g->pad >= 0 ? imin(g->OW, (g->W - g->k + g->pad) / g->s + 1) : 0;
    *a = lo;
    *b = imax(hi, lo);
}

/* ---- average pool, forward ---- */

/* Window rows [hs, he) as row pointers for the fast paths: nr = 2 or 3, else 0. */
static int fast_rows(const float *img, const geo *g, int hs, int he, const float **r) {
    int nr = g->k == 3 ? he - hs : 0;
    if (nr != 2 && nr != 3) return 0;
    const size_t WC = (size_t)g->W * g->C;
    r[0] = img + (size_t)hs * WC;
    r[1] = r[0] + WC;
    r[2] = nr == 3 ? r[1] + WC : r[1];
    return nr;
}

/* Outputs o whose window [o*s - pad, o*s - pad + k) contains input i: o in [*lo, *hi). */
static inline void out_range(int i, int k, int s, int pad, int on, int *lo, int *hi) {
    int a = i + pad - k + 1; /* smallest o*s */
    *lo = a <= 0 ? 0 : (a + s - 1) / s;
    *hi = imin((i + pad) / s + 1, on);
}

/* For 3x3 stride 1 gathers: dx pixels [*a, *b) of a row see all three output columns
 * iw+pad-2 .. iw+pad. */
static void gather_interior(const geo *g, int *a, int *b) {
    *a = imin(imax(0, 2 - g->pad), g->W);
    *b = imax(imin(g->W, g->OW - g->pad), *a);
}

/* The vector loops at 8 lanes (every build) and, where the build has them, 16 (AVX-512,
 * dnas_cpu_isa_used): cpu_avgpool_lanes.h. */
#define AV dnas_v8f
#define AV_W 8
#define AV_LOAD_N v8f_load_n
#define AV_STORE_N v8f_store_n
#define AV_SET1 v8f_set1
#define AV_FN(f) f##_8
#define AV_ATTR
#include "cpu_avgpool_lanes.h"

#if DNAS_HAVE_AVX512
typedef float dnas_v16f __attribute__((vector_size(64)));
/* The first n <= 16 floats (rest zero) / only n lanes stored; n = 16 or 8 literal after
 * inlining: one zmm or ymm load or store. */
static DNAS_T512 DNAS_INLINE dnas_v16f v16f_load_n(const float *p, int n) {
    dnas_v16f v = {0};
    memcpy(&v, p, sizeof(float) * (size_t)n);
    return v;
}
static DNAS_T512 DNAS_INLINE void v16f_store_n(float *p, dnas_v16f v, int n) {
    memcpy(p, &v, sizeof(float) * (size_t)n);
}
static DNAS_T512 DNAS_INLINE dnas_v16f v16f_set1(float a) {
    return (dnas_v16f){a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a};
}
#define AV dnas_v16f
#define AV_W 16
#define AV_LOAD_N v16f_load_n
#define AV_STORE_N v16f_store_n
#define AV_SET1 v16f_set1
#define AV_FN(f) f##_16
#define AV_ATTR DNAS_T512
#include "cpu_avgpool_lanes.h"
#endif

/* Whether the 16-lane loops run (the AVX-512 build on a CPU that has it, not overridden). */
static int avg_wide(void) { return DNAS_HAVE_AVX512 && dnas_cpu_isa_used() == DNAS_ISA_AVX512; }

/* Output row oh of image n (ximg), all channel chunks. */
static void avg_fwd_out_row(int wide, float *yrow, const float *ximg, const float *inv,
                            const geo *g, int oh) {
#if DNAS_HAVE_AVX512
    if (wide) {
        avg_fwd_out_row_16(yrow, ximg, inv, g, oh);
        return;
    }
#endif
    (void)wide;
    avg_fwd_out_row_8(yrow, ximg, inv, g, oh);
}

dnas_status dnas_cpu_avgpool_fwd(dnas_backend *be, const dnas_pool_p *p, float *y, dnas_shape ys,
                                 const float *x, dnas_shape xs) {
    DNAS_TRY(dnas_cpu_pool_check("avgpool_fwd", p, xs, ys));
    float *inv;
    DNAS_TRY(avg_inv_divisors(be, p, xs, ys, 0, &inv));
    const geo g = make_geo(p, xs, ys);
    const int wide = avg_wide();
    const int nt = dnas_cpu_threads(be);
    const long rows = (long)ys.n * g.OH;
    DNAS_OMP_FOR(nt, dnas_shape_numel(xs) + dnas_shape_numel(ys))
    for (long r = 0; r < rows; r++) {
        int n = (int)(r / g.OH), oh = (int)(r % g.OH);
        avg_fwd_out_row(wide, y + (size_t)r * g.OW * g.C, x + (size_t)n * g.H * g.W * g.C, inv,
                        &g, oh);
    }
    return DNAS_OK;
}

void dnas_cpu_avgpool_rows(const dnas_pool_p *p, dnas_shape xs, dnas_shape ys, const float *inv,
                           const float *x, int n, int oh0, int oh1, float *out) {
    const geo g = make_geo(p, xs, ys);
    const int wide = avg_wide();
    const float *ximg = x + (size_t)n * g.H * g.W * g.C;
    for (int oh = oh0; oh < oh1; oh++)
        avg_fwd_out_row(wide, out + (size_t)(oh - oh0) * g.OW * g.C, ximg, inv, &g, oh);
}

/* ---- average pool, backward ---- */

/* dx row ih of one image (=/+= per acc) from dy image dyimg, all channel chunks. */
static void avg_bwd_in_row(int wide, float *dxrow, int acc, const float *dyimg, const float *inv,
                           const geo *g, int ih) {
#if DNAS_HAVE_AVX512
    if (wide) {
        avg_bwd_in_row_16(dxrow, acc, dyimg, inv, g, ih);
        return;
    }
#endif
    (void)wide;
    avg_bwd_in_row_8(dxrow, acc, dyimg, inv, g, ih);
}

dnas_status dnas_cpu_avgpool_bwd(dnas_backend *be, const dnas_pool_p *p, float *dx, int acc,
                                 dnas_shape xs, const float *dy, dnas_shape ys) {
    DNAS_TRY(dnas_cpu_pool_check("avgpool_bwd", p, xs, ys));
    float *inv;
    DNAS_TRY(avg_inv_divisors(be, p, xs, ys, 0, &inv));
    const geo g = make_geo(p, xs, ys);
    const int wide = avg_wide();
    const int nt = dnas_cpu_threads(be);
    const long rows = (long)xs.n * g.H;
    DNAS_OMP_FOR(nt, dnas_shape_numel(xs) + dnas_shape_numel(ys))
    for (long r = 0; r < rows; r++)
        avg_bwd_in_row(wide, dx + (size_t)r * g.W * g.C, acc,
                       dy + (size_t)(r / g.H) * g.OH * g.OW * g.C, inv, &g, (int)(r % g.H));
    return DNAS_OK;
}

/* u as a rounded value that the following add may not fuse with (GCC >= 12; elsewhere the
 * fused pass still agrees with the two passes up to rounding): the skip's m * dy is then
 * never contracted into the pool's add, as it is not when the sum's backward writes it. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define ROUNDED(u) __builtin_assoc_barrier(u)
#else
#define ROUNDED(u) (u)
#endif

/* One row of len floats of the gathered gradient t: where dx != NULL, dx (=/+= per acc) s * t;
 * returns <x, t> in double (0 when x is NULL), in a fixed order. SKIP (a skip input's term
 * first, avgpool_bwd_mix_skip): dx = (ACC ? dx : 0) + ms * g, then + s * t, each rounded as
 * the separate passes round it, and *sdot = <g, xs> when sdot != NULL. ACC is a literal in each
 * skip copy so that m * g is contracted (or not) exactly as the sum's own backward writes it:
 * with a run-time choice, GCC for aarch64 computed m * g once for both branches and added it
 * unfused. */
static DNAS_INLINE double row_impl(const int SKIP, const int ACC, float *dx, int acc,
                                   const float *t, float s, const float *x, const float *g,
                                   float ms, const float *xs, double *sdot, size_t len) {
    const dnas_v8f sv = v8f_set1(s), mv = v8f_set1(ms);
    dnas_v4d al = {0}, ah = {0}, bl = {0}, bh = {0};
    size_t j = 0;
    for (; j + 8 <= len; j += 8) {
        const dnas_v8f tv = v8f_load(t + j);
        if (x) {
            al += v4d_load_f(t + j) * v4d_load_f(x + j);
            ah += v4d_load_f(t + j + 4) * v4d_load_f(x + j + 4);
        }
        if (SKIP && sdot) {
            bl += v4d_load_f(g + j) * v4d_load_f(xs + j);
            bh += v4d_load_f(g + j + 4) * v4d_load_f(xs + j + 4);
        }
        if (!dx) continue;
        if (SKIP) {
            const dnas_v8f gv = v8f_load(g + j);
            dnas_v8f u;
            if (ACC) u = v8f_load(dx + j) + mv * gv;
            else u = mv * gv;
            v8f_store(dx + j, ROUNDED(u) + sv * tv);
        } else {
            v8f_store(dx + j, acc ? v8f_load(dx + j) + sv * tv : sv * tv);
        }
    }
    double tail = 0, stail = 0;
    for (; j < len; j++) {
        if (x) tail += (double)t[j] * (double)x[j];
        if (SKIP && sdot) stail += (double)g[j] * (double)xs[j];
        if (!dx) continue;
        if (SKIP) {
            float u;
            if (ACC) u = dx[j] + ms * g[j];
            else u = ms * g[j];
            dx[j] = ROUNDED(u) + s * t[j];
        } else {
            dx[j] = acc ? dx[j] + s * t[j] : s * t[j];
        }
    }
    if (SKIP && sdot) {
        dnas_v4d v = bl + bh;
        *sdot = ((v[0] + v[1]) + (v[2] + v[3])) + stail;
    }
    dnas_v4d v = al + ah;
    return ((v[0] + v[1]) + (v[2] + v[3])) + tail;
}

static double scale_dot_row(float *dx, int acc, const float *t, float s, const float *x,
                            size_t len) {
    return row_impl(0, 0, dx, acc, t, s, x, NULL, 0.0f, NULL, NULL, len);
}

static double skip_scale_dot_row(float *dx, int acc, const float *t, float s, const float *x,
                                 const float *g, float ms, const float *xs, double *sdot,
                                 size_t len) {
    return acc ? row_impl(1, 1, dx, 0, t, s, x, g, ms, xs, sdot, len)
               : row_impl(1, 0, dx, 0, t, s, x, g, ms, xs, sdot, len);
}

/* The gathered gradient of each dx row goes to a per-thread row buffer, then one pass scales
 * it into dx and takes its dot product with x's row: <dy, pool(x)> = <pool^T(dy), x>. One
 * partial per row, summed in row order: the same for any thread count. With a skip term
 * (dnas_pool_skip) its dy row and dot product ride on the same pass. */
static dnas_status avg_bwd_mix(dnas_backend *be, const dnas_pool_p *p, float *dx, int acc,
                               dnas_shape xs, const float *x, const float *dy, float dy_scale,
                               dnas_shape ys, double *dot, const dnas_pool_skip *skip) {
    DNAS_TRY(dnas_cpu_pool_check("avgpool_bwd_mix", p, xs, ys));
    if ((dot || (skip && skip->dot)) && !x)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "avgpool_bwd_mix: a dot product without x");
    if (skip && !dnas_shape_eq(xs, ys))
        return dnas_fail(DNAS_ERR_INVALID_ARG, "avgpool_bwd_mix: a skip term needs dy shaped as "
                         "x, got (%d,%d,%d,%d) and (%d,%d,%d,%d)", ys.n, ys.c, ys.h, ys.w, xs.n,
                         xs.c, xs.h, xs.w);
    const geo g = make_geo(p, xs, ys);
    const int wide = avg_wide();
    const int nt = dnas_cpu_threads(be);
    const long rows = (long)xs.n * g.H;
    const size_t WC = (size_t)g.W * g.C, WCr = (WC + 15) / 16 * 16;
    const size_t n_part = ((size_t)rows * 2 + 15) / 16 * 16; /* doubles as float pairs */
    float *inv;
    DNAS_TRY(avg_inv_divisors(be, p, xs, ys, 2 * n_part + (size_t)nt * WCr, &inv));
    double *part = (double *)(void *)(inv + ((size_t)ys.h * ys.w + 15) / 16 * 16);
    double *spart = part + n_part / 2;
    float *tbuf = (float *)(void *)part + 2 * n_part;
    double *sdot_want = skip && skip->dot ? spart : NULL;
    DNAS_OMP_FOR(nt, dnas_shape_numel(xs) * (skip ? 5 : 3) + dnas_shape_numel(ys))
    for (long r = 0; r < rows; r++) {
#ifdef _OPENMP
        float *t = tbuf + WCr * (size_t)omp_get_thread_num();
#else
        float *t = tbuf;
#endif
        avg_bwd_in_row(wide, t, 0, dy + (size_t)(r / g.H) * g.OH * g.OW * g.C, inv, &g,
                       (int)(r % g.H));
        float *dxr = dx ? dx + (size_t)r * WC : NULL;
        const float *xr = dot ? x + (size_t)r * WC : NULL;
        if (skip)
            part[r] = skip_scale_dot_row(dxr, skip->acc, t, dy_scale, xr, dy + (size_t)r * WC,
                                         skip->m, sdot_want ? x + (size_t)r * WC : NULL,
                                         sdot_want ? sdot_want + r : NULL, WC);
        else
            part[r] = scale_dot_row(dxr, acc, t, dy_scale, xr, WC);
    }
    if (dot) {
        double s = 0;
        for (long r = 0; r < rows; r++) s += part[r];
        *dot = s;
    }
    if (sdot_want) {
        double s = 0;
        for (long r = 0; r < rows; r++) s += spart[r];
        *skip->dot = s;
    }
    return DNAS_OK;
}

dnas_status dnas_cpu_avgpool_bwd_mix(dnas_backend *be, const dnas_pool_p *p, float *dx, int acc,
                                     dnas_shape xs, const float *x, const float *dy,
                                     float dy_scale, dnas_shape ys, double *dot) {
    return avg_bwd_mix(be, p, dx, acc, xs, x, dy, dy_scale, ys, dot, NULL);
}

dnas_status dnas_cpu_avgpool_bwd_mix_skip(dnas_backend *be, const dnas_pool_p *p, float *dx,
                                          dnas_shape xs, const float *x, const float *dy,
                                          float dy_scale, dnas_shape ys, double *dot,
                                          const dnas_pool_skip *skip) {
    if (!skip) return dnas_fail(DNAS_ERR_INVALID_ARG, "avgpool_bwd_mix_skip: no skip term");
    return avg_bwd_mix(be, p, dx, 1, xs, x, dy, dy_scale, ys, dot, skip);
}

/* ---- max pool ---- */

/* The tie rule of forward and backward (and of the reference): a window starts from its first
 * valid position and a later value replaces the best only if strictly greater, so the first
 * maximum in row-major order wins. Padding is -inf and never wins against a real value, so only
 * valid positions are visited. (A NaN at the start of a window sticks; a later one is not
 * greater and is passed over.) */
static DNAS_INLINE void max_step(dnas_v8f v, dnas_v8f *b) {
#ifdef __AVX__
    *b = _mm256_max_ps(v, *b); /* vmaxps: v > b ? v : b, exactly the rule */
#else
    *b = v8f_select(v > *b, v, *b);
#endif
}
/* The argmax is kept as q = (ih - hs)*k + (iw - w0): the position in the window counted from
 * its first valid row and its (possibly padded) first column. In the straight-line code q is
 * a compile-time constant. */
static DNAS_INLINE void argmax_step(dnas_v8f v, int q, dnas_v8f *b, dnas_v8i *at) {
    dnas_v8i t = v > *b;
    *b = v8f_select(t, v, *b);
    *at = v8i_select(t, v8i_set1(q), *at);
}

static DNAS_INLINE void max_fwd_px(float *yrow, const float *ximg, const geo *g, int hs, int he,
                                   int ow, int cw) {
    const size_t C = (size_t)g->C;
    int w0 = ow * g->s - g->pad, ws = imax(w0, 0), we = imin(w0 + g->k, g->W);
    dnas_v8f b = v8f_set1(-INFINITY);
    if (hs < he && ws < we) b = v8f_load_n(ximg + ((size_t)hs * g->W + ws) * C, cw);
    for (int ih = hs; ih < he; ih++) {
        const float *r = ximg + (size_t)ih * g->W * C;
        for (int iw = ws; iw < we; iw++) max_step(v8f_load_n(r + (size_t)iw * C, cw), &b);
    }
    v8f_store_n(yrow + (size_t)ow * C, b, cw);
}

/* Outputs [a, b) whose 3x3 windows cover nr whole rows r[]: the same order, unrolled. */
static DNAS_INLINE void max_fwd_fast(float *yrow, const float *const *r, int nr, const geo *g,
                                     int a, int b, int cw) {
    const size_t C = (size_t)g->C;
    for (int ow = a; ow < b; ow++) {
        size_t o = (size_t)(ow * g->s - g->pad) * C;
        dnas_v8f m = v8f_load_n(r[0] + o, cw);
        max_step(v8f_load_n(r[0] + o + C, cw), &m);
        max_step(v8f_load_n(r[0] + o + 2 * C, cw), &m);
        for (int i = 1; i < nr; i++) {
            max_step(v8f_load_n(r[i] + o, cw), &m);
            max_step(v8f_load_n(r[i] + o + C, cw), &m);
            max_step(v8f_load_n(r[i] + o + 2 * C, cw), &m);
        }
        v8f_store_n(yrow + (size_t)ow * C, m, cw);
    }
}

static DNAS_INLINE void max_fwd_row(float *yrow, const float *ximg, const geo *g, int hs, int he,
                                    int cw) {
    const float *r[3];
    int nr = fast_rows(ximg, g, hs, he, r), a = 0, b = 0;
    if (nr) interior(g, &a, &b);
    for (int ow = 0; ow < a; ow++) max_fwd_px(yrow, ximg, g, hs, he, ow, cw);
    if (nr == 3) max_fwd_fast(yrow, r, 3, g, a, b, cw);
    else if (nr == 2) max_fwd_fast(yrow, r, 2, g, a, b, cw);
    for (int ow = b; ow < g->OW; ow++) max_fwd_px(yrow, ximg, g, hs, he, ow, cw);
}

dnas_status dnas_cpu_maxpool_fwd(dnas_backend *be, const dnas_pool_p *p, float *y, dnas_shape ys,
                                 const float *x, dnas_shape xs) {
    DNAS_TRY(dnas_cpu_pool_check("maxpool_fwd", p, xs, ys));
    const geo g = make_geo(p, xs, ys);
    const int nt = dnas_cpu_threads(be);
    const long rows = (long)ys.n * g.OH;
    DNAS_OMP_FOR(nt, dnas_shape_numel(xs) + dnas_shape_numel(ys))
    for (long r = 0; r < rows; r++) {
        int n = (int)(r / g.OH), oh = (int)(r % g.OH);
        int h0 = oh * g.s - g.pad, hs = imax(h0, 0), he = imin(h0 + g.k, g.H);
        const float *ximg = x + (size_t)n * g.H * g.W * g.C;
        float *yrow = y + (size_t)r * g.OW * g.C;
        int c0 = 0;
        for (; c0 + 8 <= g.C; c0 += 8) max_fwd_row(yrow + c0, ximg + c0, &g, hs, he, 8);
        if (c0 < g.C) max_fwd_row(yrow + c0, ximg + c0, &g, hs, he, g.C - c0);
    }
    return DNAS_OK;
}

/* Backward, per image and channel chunk: first the argmax q of every window (-1 for a window
 * without input) into a per-thread buffer, then a gather: each dx pixel adds the dy of the
 * windows whose argmax it is, in (oh, ow) order. dx is written once (no zeroing pass, no
 * scattered read-modify-writes). */

static DNAS_INLINE dnas_v8i max_arg_px(const float *ximg, const geo *g, int hs, int he, int ow,
                                       int cw) {
    const size_t C = (size_t)g->C;
    const int k = g->k;
    int w0 = ow * g->s - g->pad, ws = imax(w0, 0), we = imin(w0 + k, g->W);
    if (hs >= he || ws >= we) return v8i_set1(-1);
    dnas_v8f b = v8f_load_n(ximg + ((size_t)hs * g->W + ws) * C, cw);
    dnas_v8i at = v8i_set1(ws - w0);
    for (int ih = hs; ih < he; ih++) {
        const float *r = ximg + (size_t)ih * g->W * C;
        for (int iw = ws; iw < we; iw++)
            argmax_step(v8f_load_n(r + (size_t)iw * C, cw), (ih - hs) * k + (iw - w0), &b, &at);
    }
    return at;
}

static DNAS_INLINE void max_arg_fast(dnas_v8i *at, const float *const *r, int nr, const geo *g,
                                     int a, int b, int cw) {
    const size_t C = (size_t)g->C;
    for (int ow = a; ow < b; ow++) {
        size_t o = (size_t)(ow * g->s - g->pad) * C;
        dnas_v8f m = v8f_load_n(r[0] + o, cw);
        dnas_v8i t = v8i_set1(0);
        argmax_step(v8f_load_n(r[0] + o + C, cw), 1, &m, &t);
        argmax_step(v8f_load_n(r[0] + o + 2 * C, cw), 2, &m, &t);
        for (int i = 1; i < nr; i++) {
            argmax_step(v8f_load_n(r[i] + o, cw), 3 * i, &m, &t);
            argmax_step(v8f_load_n(r[i] + o + C, cw), 3 * i + 1, &m, &t);
            argmax_step(v8f_load_n(r[i] + o + 2 * C, cw), 3 * i + 2, &m, &t);
        }
        at[ow] = t;
    }
}

/* argmax of one output row (valid window rows [hs, he)) into at[ow] */
static DNAS_INLINE void max_arg_row(dnas_v8i *at, const float *ximg, const geo *g, int hs, int he,
                                    int cw) {
    const float *r[3];
    int nr = fast_rows(ximg, g, hs, he, r), a = 0, b = 0;
    if (nr) interior(g, &a, &b);
    for (int ow = 0; ow < a; ow++) at[ow] = max_arg_px(ximg, g, hs, he, ow, cw);
    if (nr == 3) max_arg_fast(at, r, 3, g, a, b, cw);
    else if (nr == 2) max_arg_fast(at, r, 2, g, a, b, cw);
    for (int ow = b; ow < g->OW; ow++) at[ow] = max_arg_px(ximg, g, hs, he, ow, cw);
}

/* dy of output o where its argmax is q, else 0 */
static DNAS_INLINE dnas_v8f pick(const dnas_v8i *at, const float *dyimg, size_t o, size_t C,
                                 dnas_v8i q, int cw) {
    return (dnas_v8f)((at[o] == q) & (dnas_v8i)v8f_load_n(dyimg + o * C, cw));
}

/* window position of input (ih, iw) in the window of output (oh, ow), as argmax stores it */
static inline int win_pos(const geo *g, int ih, int iw, int oh, int ow) {
    int h0 = oh * g->s - g->pad, w0 = ow * g->s - g->pad;
    return (ih - imax(h0, 0)) * g->k + (iw - w0);
}

/* Per input column iw, the output columns whose windows hold it and its column in each
 * window: ct[iw*(1+2k)] = n, then n output columns, then n window columns (k slots each).
 * Built once per call: the general gather below otherwise spent most of its time on
 * out_range's divisions, per pixel, per row and per channel chunk (stride-2 reduce cells). */
static void max_col_table(const geo *g, int *ct) {
    const int st = 1 + 2 * g->k;
    for (int iw = 0; iw < g->W; iw++) {
        int owl, owh, n = 0;
        out_range(iw, g->k, g->s, g->pad, g->OW, &owl, &owh);
        int *e = ct + (size_t)iw * st;
        for (int ow = owl; ow < owh; ow++, n++) {
            e[1 + n] = ow;
            e[1 + g->k + n] = iw - (ow * g->s - g->pad); /* win_pos's column part */
        }
        e[0] = n;
    }
}

/* dx pixel iw of input row ih (contributing output rows [ohl, ohh)), any geometry; sums in
 * output row then column order. */
static DNAS_INLINE void max_gather_px_t(float *dxrow, int acc, const dnas_v8i *at,
                                        const float *dyimg, const geo *g, int ih, int ohl,
                                        int ohh, const int *ct, int iw, int cw) {
    const size_t C = (size_t)g->C, OW = (size_t)g->OW;
    const int *e = ct + (size_t)iw * (1 + 2 * g->k), n = e[0];
    dnas_v8f v = {0};
    for (int oh = ohl; oh < ohh; oh++) {
        const int rq = (ih - imax(oh * g->s - g->pad, 0)) * g->k; /* win_pos's row part */
        const size_t ro = (size_t)oh * OW;
        for (int j = 0; j < n; j++)
            v += pick(at, dyimg, ro + (size_t)e[1 + j], C, v8i_set1(rq + e[1 + g->k + j]), cw);
    }
    float *d = dxrow + (size_t)iw * C;
    if (acc) v += v8f_load_n(d, cw);
    v8f_store_n(d, v, cw);
}

/* 3x3 stride 1, dx pixels [a, b) of row ih with nr (2 or 3) contributing output rows from ohl:
 * output (ohl + i, iw + pad - 2 + j) holds this pixel at q = qr[i] + 2 - j, where qr[i] only
 * depends on the row, so the nine compare constants are set up once per row. */
static DNAS_INLINE void max_gather_fast(float *dxrow, int acc, const dnas_v8i *at,
                                        const float *dyimg, const geo *g, int ih, int ohl,
                                        int nr, int a, int b, int cw) {
    const size_t C = (size_t)g->C, OW = (size_t)g->OW;
    dnas_v8i q[3][3];
    for (int i = 0; i < nr; i++) {
        int qr = win_pos(g, ih, 0, ohl + i, g->pad); /* column part: 0 - (pad - pad) = 0 */
        for (int j = 0; j < 3; j++) q[i][j] = v8i_set1(qr + 2 - j);
    }
    size_t o = (size_t)ohl * OW + (size_t)(a + g->pad - 2);
    for (int iw = a; iw < b; iw++, o++) {
        dnas_v8f v = pick(at, dyimg, o, C, q[0][0], cw);
        v += pick(at, dyimg, o + 1, C, q[0][1], cw);
        v += pick(at, dyimg, o + 2, C, q[0][2], cw);
        for (int i = 1; i < nr; i++) {
            v += pick(at, dyimg, o + i * OW, C, q[i][0], cw);
            v += pick(at, dyimg, o + i * OW + 1, C, q[i][1], cw);
            v += pick(at, dyimg, o + i * OW + 2, C, q[i][2], cw);
        }
        float *d = dxrow + (size_t)iw * C;
        if (acc) v += v8f_load_n(d, cw);
        v8f_store_n(d, v, cw);
    }
}

/* 3x3 stride 2 pad 1 (the DARTS reduction cells' max_pool), dx pixels 2m and 2m + 1 for m in
 * [0, mend): pixel 2m is column 1 of output m's window, pixel 2m + 1 column 2 of output m's and
 * column 0 of output m + 1's. No tables; sums in the general path's (oh, ow) order, so the
 * result is bit-identical to it. */
static DNAS_INLINE void max_gather_s2(float *dxrow, int acc, const dnas_v8i *at,
                                      const float *dyimg, const geo *g, int ih, int ohl, int ohh,
                                      int mend, int cw) {
    const size_t C = (size_t)g->C, OW = (size_t)g->OW;
    const int nr = ohh - ohl;
    dnas_v8i q0[2], q1[2], q2[2];
    size_t ro[2];
    for (int i = 0; i < nr; i++) {
        const int rq = (ih - imax((ohl + i) * 2 - 1, 0)) * 3; /* win_pos's row part */
        q0[i] = v8i_set1(rq);
        q1[i] = v8i_set1(rq + 1);
        q2[i] = v8i_set1(rq + 2);
        ro[i] = (size_t)(ohl + i) * OW;
    }
    for (int m = 0; m < mend; m++) {
        dnas_v8f ve = {0}, vo = {0}; /* from 0 like the general path (-0 + 0 = +0) */
        ve += pick(at, dyimg, ro[0] + (size_t)m, C, q1[0], cw);
        vo += pick(at, dyimg, ro[0] + (size_t)m, C, q2[0], cw);
        vo += pick(at, dyimg, ro[0] + (size_t)m + 1, C, q0[0], cw);
        if (nr == 2) {
            ve += pick(at, dyimg, ro[1] + (size_t)m, C, q1[1], cw);
            vo += pick(at, dyimg, ro[1] + (size_t)m, C, q2[1], cw);
            vo += pick(at, dyimg, ro[1] + (size_t)m + 1, C, q0[1], cw);
        }
        float *d = dxrow + (size_t)(2 * m) * C;
        if (acc) {
            ve += v8f_load_n(d, cw);
            vo += v8f_load_n(d + C, cw);
        }
        v8f_store_n(d, ve, cw);
        v8f_store_n(d + C, vo, cw);
    }
}

/* one dx row (input row ih, contributing output rows [ohl, ohh)) */
static DNAS_INLINE void max_gather_row(float *dxrow, int acc, const dnas_v8i *at,
                                       const float *dyimg, const geo *g, int ih, int ohl,
                                       int ohh, const int *ct, int cw) {
    if (g->k == 3 && g->s == 2 && g->pad == 1 && ohh - ohl >= 1 && ohh - ohl <= 2) {
        /* pixels 0 .. 2 * mend - 1 here (output m + 1 <= OW - 1 exists), the rest in general */
        const int mend = imax(0, imin(g->OW - 1, g->W / 2));
        max_gather_s2(dxrow, acc, at, dyimg, g, ih, ohl, ohh, mend, cw);
        for (int iw = 2 * mend; iw < g->W; iw++)
            max_gather_px_t(dxrow, acc, at, dyimg, g, ih, ohl, ohh, ct, iw, cw);
        return;
    }
    const int nr = g->k == 3 && g->s == 1 ? ohh - ohl : 0;
    int a = 0, b = 0;
    if (nr == 2 || nr == 3) gather_interior(g, &a, &b);
    for (int iw = 0; iw < a; iw++)
        max_gather_px_t(dxrow, acc, at, dyimg, g, ih, ohl, ohh, ct, iw, cw);
    if (a < b) {
        if (nr == 3) max_gather_fast(dxrow, acc, at, dyimg, g, ih, ohl, 3, a, b, cw);
        else max_gather_fast(dxrow, acc, at, dyimg, g, ih, ohl, 2, a, b, cw);
    }
    for (int iw = b; iw < g->W; iw++)
        max_gather_px_t(dxrow, acc, at, dyimg, g, ih, ohl, ohh, ct, iw, cw);
}

static DNAS_INLINE void max_bwd_chunk(float *dximg, int acc, const float *ximg, const float *dyimg,
                                      dnas_v8i *at, const int *ct, const geo *g, int cw) {
    for (int oh = 0; oh < g->OH; oh++) {
        int h0 = oh * g->s - g->pad, hs = imax(h0, 0), he = imin(h0 + g->k, g->H);
        max_arg_row(at + (size_t)oh * g->OW, ximg, g, hs, he, cw);
    }
    for (int ih = 0; ih < g->H; ih++) {
        int ohl, ohh;
        out_range(ih, g->k, g->s, g->pad, g->OH, &ohl, &ohh);
        max_gather_row(dximg + (size_t)ih * g->W * g->C, acc, at, dyimg, g, ih, ohl, ohh, ct,
                       cw);
    }
}

dnas_status dnas_cpu_maxpool_bwd(dnas_backend *be, const dnas_pool_p *p, float *dx, int acc,
                                 dnas_shape xs, const float *x, const float *dy, dnas_shape ys) {
    DNAS_TRY(dnas_cpu_pool_check("maxpool_bwd", p, xs, ys));
    const geo g = make_geo(p, xs, ys);
    const int nt = dnas_cpu_threads(be);
    const size_t img = (size_t)g.H * g.W * g.C, oimg = (size_t)g.OH * g.OW * g.C;
    const size_t per_thread = (size_t)g.OH * g.OW; /* argmax vectors per thread */
    void *ws;
    const size_t atb = sizeof(dnas_v8i) * per_thread * (size_t)nt;
    DNAS_TRY(dnas_cpu_workspace(be, atb + sizeof(int) * (size_t)g.W * (1 + 2 * (size_t)g.k),
                                &ws));
    int *ct = (int *)((char *)ws + atb);
    max_col_table(&g, ct);
    DNAS_OMP_FOR(nt, dnas_shape_numel(xs) + dnas_shape_numel(ys))
    for (int n = 0; n < xs.n; n++) {
#ifdef _OPENMP
        dnas_v8i *at = (dnas_v8i *)ws + per_thread * (size_t)omp_get_thread_num();
#else
        dnas_v8i *at = ws;
#endif
        float *dximg = dx + (size_t)n * img;
        const float *ximg = x + (size_t)n * img, *dyimg = dy + (size_t)n * oimg;
        int c0 = 0;
        for (; c0 + 8 <= g.C; c0 += 8)
            max_bwd_chunk(dximg + c0, acc, ximg + c0, dyimg + c0, at, ct, &g, 8);
        if (c0 < g.C)
            max_bwd_chunk(dximg + c0, acc, ximg + c0, dyimg + c0, at, ct, &g, g.C - c0);
    }
    return DNAS_OK;
}
