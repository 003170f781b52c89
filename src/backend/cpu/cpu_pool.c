/* Average and max pooling on NHWC floats.
 *
 * Each output pixel works on chunks of 8 channels held in registers: the window's rows of x are
 * C-contiguous, so one chunk of one window position is one vector load. Average-pool backward
 * is a gather (each dx pixel sums the dy of the windows that contain it), so dx is written once
 * and needs no zeroing; max-pool backward recomputes the argmax and scatters within an image,
 * with images spread over threads (no two threads touch the same dx). */
#include "cpu_kernels.h"
#include <math.h>

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

/* One output row (fixed n, oh) for the channel chunk [c0, c0+cw). */
static DNAS_INLINE void avg_fwd_row(float *yrow, const float *ximg, const float *inv, int C, int W,
                                    int OW, int hs, int he, int k, int s, int pad, int cw) {
    for (int ow = 0; ow < OW; ow++) {
        int w0 = ow * s - pad, ws = imax(w0, 0), we = imin(w0 + k, W);
        dnas_v8f a = {0};
        for (int ih = hs; ih < he; ih++) {
            const float *r = ximg + (size_t)ih * W * C;
            for (int iw = ws; iw < we; iw++) a += v8f_load_n(r + (size_t)iw * C, cw);
        }
        v8f_store_n(yrow + (size_t)ow * C, a * v8f_set1(inv[ow]), cw);
    }
}

dnas_status dnas_cpu_avgpool_fwd(dnas_backend *be, const dnas_pool_p *p, float *y, dnas_shape ys,
                                 const float *x, dnas_shape xs) {
    DNAS_TRY(pool_check("avgpool_fwd", p, xs, ys));
    float *inv;
    DNAS_TRY(avg_inv_divisors(be, p, xs, ys, &inv));
    const int C = xs.c, H = xs.h, W = xs.w, OH = ys.h, OW = ys.w, k = p->k, s = p->stride,
              pad = p->pad, nt = dnas_cpu_threads(be);
    const long rows = (long)ys.n * OH;
    DNAS_OMP_FOR(nt, dnas_shape_numel(xs) + dnas_shape_numel(ys))
    for (long r = 0; r < rows; r++) {
        int n = (int)(r / OH), oh = (int)(r % OH);
        int h0 = oh * s - pad, hs = imax(h0, 0), he = imin(h0 + k, H);
        const float *ximg = x + (size_t)n * H * W * C;
        float *yrow = y + (size_t)r * OW * C;
        int c0 = 0;
        for (; c0 + 8 <= C; c0 += 8)
            avg_fwd_row(yrow + c0, ximg + c0, inv + (size_t)oh * OW, C, W, OW, hs, he, k, s, pad,
                        8);
        if (c0 < C)
            avg_fwd_row(yrow + c0, ximg + c0, inv + (size_t)oh * OW, C, W, OW, hs, he, k, s, pad,
                        C - c0);
    }
    return DNAS_OK;
}

/* Outputs o whose window [o*s - pad, o*s - pad + k) contains input i: o in [*lo, *hi). */
static inline void out_range(int i, int k, int s, int pad, int on, int *lo, int *hi) {
    int a = i + pad - k + 1; /* smallest o*s */
    *lo = a <= 0 ? 0 : (a + s - 1) / s;
    *hi = imin((i + pad) / s + 1, on);
}

/* One dx row (fixed n, ih) for the chunk [c0, c0+cw): gather dy * 1/divisor, in (oh, ow)
 * order. */
static DNAS_INLINE void avg_bwd_row(float *dxrow, int acc, const float *dyimg, const float *inv,
                                    int C, int W, int OW, int ohl, int ohh, int k, int s,
                                    int pad, int cw) {
    for (int iw = 0; iw < W; iw++) {
        int owl, owh;
        out_range(iw, k, s, pad, OW, &owl, &owh);
        dnas_v8f a = {0};
        for (int oh = ohl; oh < ohh; oh++)
            for (int ow = owl; ow < owh; ow++) {
                size_t o = (size_t)oh * OW + ow;
                a += v8f_load_n(dyimg + o * C, cw) * v8f_set1(inv[o]);
            }
        float *d = dxrow + (size_t)iw * C;
        if (acc) a += v8f_load_n(d, cw);
        v8f_store_n(d, a, cw);
    }
}

dnas_status dnas_cpu_avgpool_bwd(dnas_backend *be, const dnas_pool_p *p, float *dx, int acc,
                                 dnas_shape xs, const float *dy, dnas_shape ys) {
    DNAS_TRY(pool_check("avgpool_bwd", p, xs, ys));
    float *inv;
    DNAS_TRY(avg_inv_divisors(be, p, xs, ys, &inv));
    const int C = xs.c, H = xs.h, W = xs.w, OH = ys.h, OW = ys.w, k = p->k, s = p->stride,
              pad = p->pad, nt = dnas_cpu_threads(be);
    const long rows = (long)xs.n * H;
    DNAS_OMP_FOR(nt, dnas_shape_numel(xs) + dnas_shape_numel(ys))
    for (long r = 0; r < rows; r++) {
        int n = (int)(r / H), ih = (int)(r % H);
        int ohl, ohh;
        out_range(ih, k, s, pad, OH, &ohl, &ohh);
        const float *dyimg = dy + (size_t)n * OH * OW * C;
        float *dxrow = dx + (size_t)r * W * C;
        int c0 = 0;
        for (; c0 + 8 <= C; c0 += 8)
            avg_bwd_row(dxrow + c0, acc, dyimg + c0, inv, C, W, OW, ohl, ohh, k, s, pad, 8);
        if (c0 < C)
            avg_bwd_row(dxrow + c0, acc, dyimg + c0, inv, C, W, OW, ohl, ohh, k, s, pad, C - c0);
    }
    return DNAS_OK;
}

/* The tie / NaN rule shared by forward and backward, per lane: a value replaces the current
 * best only if strictly greater (so the first maximum in row-major window order wins), or if
 * it is NaN and the best is not (NaN propagates, as in PyTorch). Padding counts as -inf, so it
 * never wins against a real value: windows start from their first valid position and visit
 * only valid ones. */
static inline dnas_v8i max_takes(dnas_v8f v, dnas_v8f best) {
    return (v > best) | ((v != v) & (best == best));
}

/* One output row for the chunk [c0, c0+cw). */
static DNAS_INLINE void max_fwd_row(float *yrow, const float *ximg, int C, int W, int OW, int hs,
                                    int he, int k, int s, int pad, int cw) {
    for (int ow = 0; ow < OW; ow++) {
        int w0 = ow * s - pad, ws = imax(w0, 0), we = imin(w0 + k, W);
        dnas_v8f b = v8f_set1(-INFINITY);
        if (hs < he && ws < we) b = v8f_load_n(ximg + ((size_t)hs * W + ws) * C, cw);
        for (int ih = hs; ih < he; ih++) {
            const float *r = ximg + (size_t)ih * W * C;
            for (int iw = ws; iw < we; iw++) {
                dnas_v8f v = v8f_load_n(r + (size_t)iw * C, cw);
                b = v8f_select(max_takes(v, b), v, b);
            }
        }
        v8f_store_n(yrow + (size_t)ow * C, b, cw);
    }
}

dnas_status dnas_cpu_maxpool_fwd(dnas_backend *be, const dnas_pool_p *p, float *y, dnas_shape ys,
                                 const float *x, dnas_shape xs) {
    DNAS_TRY(pool_check("maxpool_fwd", p, xs, ys));
    const int C = xs.c, H = xs.h, W = xs.w, OH = ys.h, OW = ys.w, k = p->k, s = p->stride,
              pad = p->pad, nt = dnas_cpu_threads(be);
    const long rows = (long)ys.n * OH;
    DNAS_OMP_FOR(nt, dnas_shape_numel(xs) + dnas_shape_numel(ys))
    for (long r = 0; r < rows; r++) {
        int n = (int)(r / OH), oh = (int)(r % OH);
        int h0 = oh * s - pad, hs = imax(h0, 0), he = imin(h0 + k, H);
        const float *ximg = x + (size_t)n * H * W * C;
        float *yrow = y + (size_t)r * OW * C;
        int c0 = 0;
        for (; c0 + 8 <= C; c0 += 8)
            max_fwd_row(yrow + c0, ximg + c0, C, W, OW, hs, he, k, s, pad, 8);
        if (c0 < C) max_fwd_row(yrow + c0, ximg + c0, C, W, OW, hs, he, k, s, pad, C - c0);
    }
    return DNAS_OK;
}

/* One output row of one image for the chunk [c0, c0+cw): argmax per channel (pixel index
 * within the image), then dx[argmax] += dy. */
static DNAS_INLINE void max_bwd_row(float *dximg, const float *ximg, const float *dyrow, int C,
                                    int W, int OW, int hs, int he, int k, int s, int pad,
                                    int cw) {
    for (int ow = 0; ow < OW; ow++) {
        int w0 = ow * s - pad, ws = imax(w0, 0), we = imin(w0 + k, W);
        if (hs >= he || ws >= we) continue; /* no input pixel: the gradient goes nowhere */
        dnas_v8f b = v8f_load_n(ximg + ((size_t)hs * W + ws) * C, cw);
        dnas_v8i at = v8i_set1(hs * W + ws);
        for (int ih = hs; ih < he; ih++) {
            const float *r = ximg + (size_t)ih * W * C;
            for (int iw = ws; iw < we; iw++) {
                dnas_v8f v = v8f_load_n(r + (size_t)iw * C, cw);
                dnas_v8i t = max_takes(v, b);
                b = v8f_select(t, v, b);
                at = v8i_select(t, v8i_set1(ih * W + iw), at);
            }
        }
        int a[8];
        memcpy(a, &at, sizeof a);
        const float *g = dyrow + (size_t)ow * C;
        for (int j = 0; j < cw; j++) dximg[(size_t)a[j] * C + j] += g[j];
    }
}

dnas_status dnas_cpu_maxpool_bwd(dnas_backend *be, const dnas_pool_p *p, float *dx, int acc,
                                 dnas_shape xs, const float *x, const float *dy, dnas_shape ys) {
    DNAS_TRY(pool_check("maxpool_bwd", p, xs, ys));
    const int C = xs.c, H = xs.h, W = xs.w, OH = ys.h, OW = ys.w, k = p->k, s = p->stride,
              pad = p->pad, nt = dnas_cpu_threads(be);
    const size_t img = (size_t)H * W * C;
    DNAS_OMP_FOR(nt, 2 * dnas_shape_numel(xs) + dnas_shape_numel(ys))
    for (int n = 0; n < xs.n; n++) {
        float *dximg = dx + (size_t)n * img;
        const float *ximg = x + (size_t)n * img;
        if (!acc)
            for (size_t i = 0; i < img; i++) dximg[i] = 0.0f;
        for (int oh = 0; oh < OH; oh++) {
            int h0 = oh * s - pad, hs = imax(h0, 0), he = imin(h0 + k, H);
            const float *dyrow = dy + ((size_t)n * OH + oh) * OW * C;
            int c0 = 0;
            for (; c0 + 8 <= C; c0 += 8)
                max_bwd_row(dximg + c0, ximg + c0, dyrow + c0, C, W, OW, hs, he, k, s, pad, 8);
            if (c0 < C)
                max_bwd_row(dximg + c0, ximg + c0, dyrow + c0, C, W, OW, hs, he, k, s, pad,
                            C - c0);
        }
    }
    return DNAS_OK;
}
