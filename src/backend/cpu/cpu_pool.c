/* Average and max pooling on NHWC floats.
 *
 * Each output pixel works on chunks of 8 channels held in a register: a window position of a
 * chunk is one vector load. Rows are split into a border, done by a general per-pixel loop,
 * and (for the 3x3 windows the search spaces use) an interior of straight-line code; the
 * stride-1 interior also reuses column sums between neighbouring outputs.
 * Both backwards are gathers (each dx pixel sums the dy of the windows that contain it, for
 * max pool only those whose recomputed argmax it is), so dx is written once, in order, and
 * needs no zeroing. */
#include "cpu_kernels.h"
#include <math.h>
#include <string.h>
#ifdef __AVX__
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

static dnas_status pool_check(const char *who, const dnas_pool_p *p, dnas_shape xs,
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

/* 1/divisor for every output pixel (OH*OW floats in the workspace), as PyTorch counts it:
 * with count_include_pad the window is clipped to the padded extent, else to the image. */
static dnas_status avg_inv_divisors(dnas_backend *be, const dnas_pool_p *p, dnas_shape xs,
                                    dnas_shape ys, float **out) {
    void *ws;
    DNAS_TRY(dnas_cpu_workspace(be, sizeof(float) * (size_t)ys.h * ys.w, &ws));
    float *inv = ws;
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
    *out = inv;
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

/* Output pixel ow of one output row (valid input rows [hs, he)), channel chunk of width cw. */
static DNAS_INLINE void avg_fwd_px(float *yrow, const float *ximg, const float *inv, const geo *g,
                                   int hs, int he, int ow, int cw) {
    const size_t C = (size_t)g->C;
    int w0 = ow * g->s - g->pad, ws = imax(w0, 0), we = imin(w0 + g->k, g->W);
    dnas_v8f a = {0};
    for (int ih = hs; ih < he; ih++) {
        const float *r = ximg + (size_t)ih * g->W * C;
        for (int iw = ws; iw < we; iw++) a += v8f_load_n(r + (size_t)iw * C, cw);
    }
    v8f_store_n(yrow + (size_t)ow * C, a * v8f_set1(inv[ow]), cw);
}

static DNAS_INLINE dnas_v8f col3(const float *r0, const float *r1, const float *r2, size_t o,
                                 int cw) {
    return (v8f_load_n(r0 + o, cw) + v8f_load_n(r1 + o, cw)) + v8f_load_n(r2 + o, cw);
}

/* One output row for one channel chunk; inv is the row's 1/divisor. */
static DNAS_INLINE void avg_fwd_row(float *yrow, const float *ximg, const float *inv, const geo *g,
                                    int hs, int he, int cw) {
    int a = 0, b = 0;
    if (g->k == 3 && he - hs == 3) interior(g, &a, &b);
    for (int ow = 0; ow < a; ow++) avg_fwd_px(yrow, ximg, inv, g, hs, he, ow, cw);
    if (a < b) {
        const size_t C = (size_t)g->C;
        const float *r0 = ximg + (size_t)hs * g->W * C, *r1 = r0 + g->W * C, *r2 = r1 + g->W * C;
        if (g->s == 1) { /* slide: each column sum serves three outputs */
            size_t o = (size_t)(a - g->pad) * C;
            dnas_v8f c0 = col3(r0, r1, r2, o, cw), c1 = col3(r0, r1, r2, o + C, cw);
            for (int ow = a; ow < b; ow++) {
                dnas_v8f c2 = col3(r0, r1, r2, (size_t)(ow - g->pad + 2) * C, cw);
                v8f_store_n(yrow + (size_t)ow * C, ((c0 + c1) + c2) * v8f_set1(inv[ow]), cw);
                c0 = c1;
                c1 = c2;
            }
        } else {
            for (int ow = a; ow < b; ow++) {
                size_t o = (size_t)(ow * g->s - g->pad) * C;
                dnas_v8f t = (col3(r0, r1, r2, o, cw) + col3(r0, r1, r2, o + C, cw)) +
                             col3(r0, r1, r2, o + 2 * C, cw);
                v8f_store_n(yrow + (size_t)ow * C, t * v8f_set1(inv[ow]), cw);
            }
        }
    }
    for (int ow = b; ow < g->OW; ow++) avg_fwd_px(yrow, ximg, inv, g, hs, he, ow, cw);
}

dnas_status dnas_cpu_avgpool_fwd(dnas_backend *be, const dnas_pool_p *p, float *y, dnas_shape ys,
                                 const float *x, dnas_shape xs) {
    DNAS_TRY(pool_check("avgpool_fwd", p, xs, ys));
    float *inv;
    DNAS_TRY(avg_inv_divisors(be, p, xs, ys, &inv));
    const geo g = make_geo(p, xs, ys);
    const int nt = dnas_cpu_threads(be);
    const long rows = (long)ys.n * g.OH;
    DNAS_OMP_FOR(nt, dnas_shape_numel(xs) + dnas_shape_numel(ys))
    for (long r = 0; r < rows; r++) {
        int n = (int)(r / g.OH), oh = (int)(r % g.OH);
        int h0 = oh * g.s - g.pad, hs = imax(h0, 0), he = imin(h0 + g.k, g.H);
        const float *ximg = x + (size_t)n * g.H * g.W * g.C;
        const float *ir = inv + (size_t)oh * g.OW;
        float *yrow = y + (size_t)r * g.OW * g.C;
        int c0 = 0;
        for (; c0 + 8 <= g.C; c0 += 8) avg_fwd_row(yrow + c0, ximg + c0, ir, &g, hs, he, 8);
        if (c0 < g.C) avg_fwd_row(yrow + c0, ximg + c0, ir, &g, hs, he, g.C - c0);
    }
    return DNAS_OK;
}

/* ---- average pool, backward ---- */

/* Outputs o whose window [o*s - pad, o*s - pad + k) contains input i: o in [*lo, *hi). */
static inline void out_range(int i, int k, int s, int pad, int on, int *lo, int *hi) {
    int a = i + pad - k + 1; /* smallest o*s */
    *lo = a <= 0 ? 0 : (a + s - 1) / s;
    *hi = imin((i + pad) / s + 1, on);
}

/* dx pixel iw of one dx row (contributing output rows [ohl, ohh)): gather dy * 1/divisor in
 * (oh, ow) order. */
static DNAS_INLINE void avg_bwd_px(float *dxrow, int acc, const float *dyimg, const float *inv,
                                   const geo *g, int ohl, int ohh, int iw, int cw) {
    const size_t C = (size_t)g->C;
    int owl, owh;
    out_range(iw, g->k, g->s, g->pad, g->OW, &owl, &owh);
    dnas_v8f a = {0};
    for (int oh = ohl; oh < ohh; oh++)
        for (int ow = owl; ow < owh; ow++) {
            size_t o = (size_t)oh * g->OW + ow;
            a += v8f_load_n(dyimg + o * C, cw) * v8f_set1(inv[o]);
        }
    float *d = dxrow + (size_t)iw * C;
    if (acc) a += v8f_load_n(d, cw);
    v8f_store_n(d, a, cw);
}

/* sum over three output rows of dy * 1/divisor at output column ow */
static DNAS_INLINE dnas_v8f dcol3(const float *d0, const float *d1, const float *d2,
                                  const float *i0, const float *i1, const float *i2, int ow,
                                  size_t C, int cw) {
    size_t o = (size_t)ow * C;
    return (v8f_load_n(d0 + o, cw) * v8f_set1(i0[ow]) + v8f_load_n(d1 + o, cw) * v8f_set1(i1[ow])) +
           v8f_load_n(d2 + o, cw) * v8f_set1(i2[ow]);
}

static DNAS_INLINE void avg_bwd_row(float *dxrow, int acc, const float *dyimg, const float *inv,
                                    const geo *g, int ohl, int ohh, int cw) {
    /* Interior for 3x3 stride 1: the dx pixel sees output columns iw+pad-2 .. iw+pad. */
    int a = 0, b = 0;
    if (g->k == 3 && g->s == 1 && ohh - ohl == 3) {
        a = imin(imax(0, 2 - g->pad), g->W);
        b = imax(imin(g->W, g->OW - g->pad), a);
    }
    for (int iw = 0; iw < a; iw++) avg_bwd_px(dxrow, acc, dyimg, inv, g, ohl, ohh, iw, cw);
    if (a < b) {
        const size_t C = (size_t)g->C, rowlen = (size_t)g->OW * C;
        const float *d0 = dyimg + (size_t)ohl * rowlen, *d1 = d0 + rowlen, *d2 = d1 + rowlen;
        const float *i0 = inv + (size_t)ohl * g->OW, *i1 = i0 + g->OW, *i2 = i1 + g->OW;
        int o = a + g->pad - 2;
        dnas_v8f c0 = dcol3(d0, d1, d2, i0, i1, i2, o, C, cw);
        dnas_v8f c1 = dcol3(d0, d1, d2, i0, i1, i2, o + 1, C, cw);
        for (int iw = a; iw < b; iw++) {
            dnas_v8f c2 = dcol3(d0, d1, d2, i0, i1, i2, iw + g->pad, C, cw);
            dnas_v8f t = (c0 + c1) + c2;
            float *d = dxrow + (size_t)iw * C;
            if (acc) t += v8f_load_n(d, cw);
            v8f_store_n(d, t, cw);
            c0 = c1;
            c1 = c2;
        }
    }
    for (int iw = b; iw < g->W; iw++) avg_bwd_px(dxrow, acc, dyimg, inv, g, ohl, ohh, iw, cw);
}

dnas_status dnas_cpu_avgpool_bwd(dnas_backend *be, const dnas_pool_p *p, float *dx, int acc,
                                 dnas_shape xs, const float *dy, dnas_shape ys) {
    DNAS_TRY(pool_check("avgpool_bwd", p, xs, ys));
    float *inv;
    DNAS_TRY(avg_inv_divisors(be, p, xs, ys, &inv));
    const geo g = make_geo(p, xs, ys);
    const int nt = dnas_cpu_threads(be);
    const long rows = (long)xs.n * g.H;
    DNAS_OMP_FOR(nt, dnas_shape_numel(xs) + dnas_shape_numel(ys))
    for (long r = 0; r < rows; r++) {
        int n = (int)(r / g.H), ih = (int)(r % g.H);
        int ohl, ohh;
        out_range(ih, g.k, g.s, g.pad, g.OH, &ohl, &ohh);
        const float *dyimg = dy + (size_t)n * g.OH * g.OW * g.C;
        float *dxrow = dx + (size_t)r * g.W * g.C;
        int c0 = 0;
        for (; c0 + 8 <= g.C; c0 += 8)
            avg_bwd_row(dxrow + c0, acc, dyimg + c0, inv, &g, ohl, ohh, 8);
        if (c0 < g.C) avg_bwd_row(dxrow + c0, acc, dyimg + c0, inv, &g, ohl, ohh, g.C - c0);
    }
    return DNAS_OK;
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
/* The argmax is kept as the position q in the k*k window (row-major; origin at the padded
 * window corner), which is a compile-time constant in the unrolled 3x3 code. */
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

static DNAS_INLINE void max_fwd_row(float *yrow, const float *ximg, const geo *g, int hs, int he,
                                    int cw) {
    int a = 0, b = 0;
    if (g->k == 3 && he - hs == 3) interior(g, &a, &b);
    for (int ow = 0; ow < a; ow++) max_fwd_px(yrow, ximg, g, hs, he, ow, cw);
    const size_t C = (size_t)g->C;
    const float *r0 = ximg + (size_t)hs * g->W * C, *r1 = r0 + g->W * C, *r2 = r1 + g->W * C;
    for (int ow = a; ow < b; ow++) { /* 3x3 interior: the same order, unrolled */
        size_t o = (size_t)(ow * g->s - g->pad) * C;
        dnas_v8f m = v8f_load_n(r0 + o, cw);
        max_step(v8f_load_n(r0 + o + C, cw), &m);
        max_step(v8f_load_n(r0 + o + 2 * C, cw), &m);
        max_step(v8f_load_n(r1 + o, cw), &m);
        max_step(v8f_load_n(r1 + o + C, cw), &m);
        max_step(v8f_load_n(r1 + o + 2 * C, cw), &m);
        max_step(v8f_load_n(r2 + o, cw), &m);
        max_step(v8f_load_n(r2 + o + C, cw), &m);
        max_step(v8f_load_n(r2 + o + 2 * C, cw), &m);
        v8f_store_n(yrow + (size_t)ow * C, m, cw);
    }
    for (int ow = b; ow < g->OW; ow++) max_fwd_px(yrow, ximg, g, hs, he, ow, cw);
}

dnas_status dnas_cpu_maxpool_fwd(dnas_backend *be, const dnas_pool_p *p, float *y, dnas_shape ys,
                                 const float *x, dnas_shape xs) {
    DNAS_TRY(pool_check("maxpool_fwd", p, xs, ys));
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

/* Backward, per image and channel chunk: first the argmax of every window (its window
 * position q, -1 for a window without input) into a per-thread buffer, then a gather: each dx
 * pixel adds the dy of the windows whose argmax it is, in (oh, ow) order. dx is written once
 * (no zeroing pass, no scattered read-modify-writes). */

static DNAS_INLINE dnas_v8i max_arg_px(const float *ximg, const geo *g, int hs, int he, int ow,
                                       int h0, int cw) {
    const size_t C = (size_t)g->C;
    const int k = g->k;
    int w0 = ow * g->s - g->pad, ws = imax(w0, 0), we = imin(w0 + k, g->W);
    if (hs >= he || ws >= we) return v8i_set1(-1);
    dnas_v8f b = v8f_load_n(ximg + ((size_t)hs * g->W + ws) * C, cw);
    dnas_v8i at = v8i_set1((hs - h0) * k + (ws - w0));
    for (int ih = hs; ih < he; ih++) {
        const float *r = ximg + (size_t)ih * g->W * C;
        for (int iw = ws; iw < we; iw++)
            argmax_step(v8f_load_n(r + (size_t)iw * C, cw), (ih - h0) * k + (iw - w0), &b, &at);
    }
    return at;
}

/* argmax of one output row (window rows start at h0, valid [hs, he)) into at[ow] */
static DNAS_INLINE void max_arg_row(dnas_v8i *at, const float *ximg, const geo *g, int h0, int hs,
                                    int he, int cw) {
    int a = 0, b = 0;
    if (g->k == 3 && he - hs == 3) interior(g, &a, &b);
    for (int ow = 0; ow < a; ow++) at[ow] = max_arg_px(ximg, g, hs, he, ow, h0, cw);
    const size_t C = (size_t)g->C;
    const float *r0 = ximg + (size_t)hs * g->W * C, *r1 = r0 + g->W * C, *r2 = r1 + g->W * C;
    for (int ow = a; ow < b; ow++) { /* 3x3 interior: the same order, unrolled */
        size_t o = (size_t)(ow * g->s - g->pad) * C;
        dnas_v8f m = v8f_load_n(r0 + o, cw);
        dnas_v8i t = v8i_set1(0);
        argmax_step(v8f_load_n(r0 + o + C, cw), 1, &m, &t);
        argmax_step(v8f_load_n(r0 + o + 2 * C, cw), 2, &m, &t);
        argmax_step(v8f_load_n(r1 + o, cw), 3, &m, &t);
        argmax_step(v8f_load_n(r1 + o + C, cw), 4, &m, &t);
        argmax_step(v8f_load_n(r1 + o + 2 * C, cw), 5, &m, &t);
        argmax_step(v8f_load_n(r2 + o, cw), 6, &m, &t);
        argmax_step(v8f_load_n(r2 + o + C, cw), 7, &m, &t);
        argmax_step(v8f_load_n(r2 + o + 2 * C, cw), 8, &m, &t);
        at[ow] = t;
    }
    for (int ow = b; ow < g->OW; ow++) at[ow] = max_arg_px(ximg, g, hs, he, ow, h0, cw);
}

/* dy of output o where its argmax is window position q, else 0 */
static DNAS_INLINE dnas_v8f pick(const dnas_v8i *at, const float *dyimg, size_t o, size_t C,
                                 dnas_v8i q, int cw) {
    return (dnas_v8f)((at[o] == q) & (dnas_v8i)v8f_load_n(dyimg + o * C, cw));
}

/* dx pixel iw of input row ih (contributing output rows [ohl, ohh)), any geometry */
static DNAS_INLINE void max_gather_px(float *dxrow, int acc, const dnas_v8i *at,
                                      const float *dyimg, const geo *g, int ih, int ohl, int ohh,
                                      int iw, int cw) {
    const size_t C = (size_t)g->C, OW = (size_t)g->OW;
    const int k = g->k, s = g->s, pad = g->pad;
    int owl, owh;
    out_range(iw, k, s, pad, g->OW, &owl, &owh);
    dnas_v8f v = {0};
    for (int oh = ohl; oh < ohh; oh++)
        for (int ow = owl; ow < owh; ow++)
            v += pick(at, dyimg, (size_t)oh * OW + ow, C,
                      v8i_set1((ih - (oh * s - pad)) * k + (iw - (ow * s - pad))), cw);
    float *d = dxrow + (size_t)iw * C;
    if (acc) v += v8f_load_n(d, cw);
    v8f_store_n(d, v, cw);
}

/* one dx row (input row ih, contributing output rows [ohl, ohh)) */
static DNAS_INLINE void max_gather_row(float *dxrow, int acc, const dnas_v8i *at,
                                       const float *dyimg, const geo *g, int ih, int ohl,
                                       int ohh, int cw) {
    int a = 0, b = 0;
    if (g->k == 3 && g->s == 1 && ohh - ohl == 3) {
        a = imin(imax(0, 2 - g->pad), g->W);
        b = imax(imin(g->W, g->OW - g->pad), a);
    }
    for (int iw = 0; iw < a; iw++) max_gather_px(dxrow, acc, at, dyimg, g, ih, ohl, ohh, iw, cw);
    if (a < b) {
        /* 3x3 stride 1 interior: output (ohl + r, iw + pad - 2 + c) sees this pixel at window
         * position (2 - r, 2 - c), i.e. q = 8 - 3r - c. */
        const size_t C = (size_t)g->C, OW = (size_t)g->OW;
        const dnas_v8i q0 = v8i_set1(0), q1 = v8i_set1(1), q2 = v8i_set1(2), q3 = v8i_set1(3),
                       q4 = v8i_set1(4), q5 = v8i_set1(5), q6 = v8i_set1(6), q7 = v8i_set1(7),
                       q8 = v8i_set1(8);
        size_t o = (size_t)ohl * OW + (size_t)(a + g->pad - 2);
        for (int iw = a; iw < b; iw++, o++) {
            dnas_v8f v = pick(at, dyimg, o, C, q8, cw);
            v += pick(at, dyimg, o + 1, C, q7, cw);
            v += pick(at, dyimg, o + 2, C, q6, cw);
            v += pick(at, dyimg, o + OW, C, q5, cw);
            v += pick(at, dyimg, o + OW + 1, C, q4, cw);
            v += pick(at, dyimg, o + OW + 2, C, q3, cw);
            v += pick(at, dyimg, o + 2 * OW, C, q2, cw);
            v += pick(at, dyimg, o + 2 * OW + 1, C, q1, cw);
            v += pick(at, dyimg, o + 2 * OW + 2, C, q0, cw);
            float *d = dxrow + (size_t)iw * C;
            if (acc) v += v8f_load_n(d, cw);
            v8f_store_n(d, v, cw);
        }
    }
    for (int iw = b; iw < g->W; iw++)
        max_gather_px(dxrow, acc, at, dyimg, g, ih, ohl, ohh, iw, cw);
}

static DNAS_INLINE void max_bwd_chunk(float *dximg, int acc, const float *ximg, const float *dyimg,
                                      dnas_v8i *at, const geo *g, int cw) {
    for (int oh = 0; oh < g->OH; oh++) {
        int h0 = oh * g->s - g->pad, hs = imax(h0, 0), he = imin(h0 + g->k, g->H);
        max_arg_row(at + (size_t)oh * g->OW, ximg, g, h0, hs, he, cw);
    }
    for (int ih = 0; ih < g->H; ih++) {
        int ohl, ohh;
        out_range(ih, g->k, g->s, g->pad, g->OH, &ohl, &ohh);
        max_gather_row(dximg + (size_t)ih * g->W * g->C, acc, at, dyimg, g, ih, ohl, ohh, cw);
    }
}

dnas_status dnas_cpu_maxpool_bwd(dnas_backend *be, const dnas_pool_p *p, float *dx, int acc,
                                 dnas_shape xs, const float *x, const float *dy, dnas_shape ys) {
    DNAS_TRY(pool_check("maxpool_bwd", p, xs, ys));
    const geo g = make_geo(p, xs, ys);
    const int nt = dnas_cpu_threads(be);
    const size_t img = (size_t)g.H * g.W * g.C, oimg = (size_t)g.OH * g.OW * g.C;
    const size_t per_thread = (size_t)g.OH * g.OW; /* argmax vectors per thread */
    void *ws;
    DNAS_TRY(dnas_cpu_workspace(be, sizeof(dnas_v8i) * per_thread * (size_t)nt, &ws));
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
            max_bwd_chunk(dximg + c0, acc, ximg + c0, dyimg + c0, at, &g, 8);
        if (c0 < g.C) max_bwd_chunk(dximg + c0, acc, ximg + c0, dyimg + c0, at, &g, g.C - c0);
    }
    return DNAS_OK;
}
