/* CUDA avg / max pooling, NHWC. Forward: one thread per output element. Backward: one thread
 * per INPUT element gathering from the outputs whose window covers it, so there are no
 * atomics and the result is deterministic (and acc = 0 needs no separate zeroing pass). */
#include <math.h>
#include <stdio.h>
#include "cuda_internal.cuh"

struct pool_geo {
    int N, C, H, W, OH, OW, k, s, pad, cip;
};

/* PyTorch's divisor (avg_pool2d, ceil_mode off), as the reference: with count_include_pad
 * the window is clipped to the padded extent only, else to the image. */
__device__ inline float avg_div(const pool_geo &g, int oh, int ow) {
    const int h0 = oh * g.s - g.pad, w0 = ow * g.s - g.pad;
    int h1 = h0 + g.k, w1 = w0 + g.k;
    if (g.cip) {
        if (h1 > g.H + g.pad) h1 = g.H + g.pad;
        if (w1 > g.W + g.pad) w1 = g.W + g.pad;
        return (float)((h1 - h0) * (w1 - w0));
    }
    const int hs = h0 < 0 ? 0 : h0, ws = w0 < 0 ? 0 : w0;
    if (h1 > g.H) h1 = g.H;
    if (w1 > g.W) w1 = g.W;
    return (float)((h1 - hs) * (w1 - ws));
}

/* Outputs o whose window o*s - pad + [0,k) holds input i: [lo, hi] clipped to [0, O). */
__device__ inline void out_range(int i, int k, int s, int pad, int O, int *lo, int *hi) {
    const int t = i + pad - k + 1;
    *lo = t <= 0 ? 0 : (t + s - 1) / s;
    int h = (i + pad) / s; /* i + pad >= 0: pool padding is never negative */
    *hi = h > O - 1 ? O - 1 : h;
}

/* Calls f(ih, iw) for the in-image pixels of output (oh, ow)'s window, row-major (the order
 * max pooling's first-maximum rule relies on); padding is skipped. */
template <class F>
__device__ inline void for_window(const pool_geo &g, int oh, int ow, F f) {
    for (int kh = 0; kh < g.k; kh++) {
        const int ih = oh * g.s - g.pad + kh;
        if (ih < 0 || ih >= g.H) continue;
        for (int kw = 0; kw < g.k; kw++) {
            const int iw = ow * g.s - g.pad + kw;
            if (iw < 0 || iw >= g.W) continue;
            f(ih, iw);
        }
    }
}

__global__ void k_avgpool_fwd(float *y, const float *x, pool_geo g, size_t total) {
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x) {
        int n, oh, ow, c;
        cu_nhwc_split(t, g.OH, g.OW, g.C, &n, &oh, &ow, &c);
        float s = 0.f;
        for_window(g, oh, ow, [&](int ih, int iw) {
            s += x[(((size_t)n * g.H + ih) * g.W + iw) * g.C + c];
        });
        y[t] = s / avg_div(g, oh, ow);
    }
}

/* Flat index of the window maximum, -1 if the window holds no pixel. Padding is -inf and never
 * wins; strict '>' keeps the first maximum in row-major window order (backend.h). NaN never
 * compares greater, so a NaN does not win (the reference behaves the same). */
__device__ inline long long max_at(const float *x, const pool_geo &g, int n, int oh, int ow,
                                   int c) {
    long long best = -1;
    float bv = -INFINITY;
    for_window(g, oh, ow, [&](int ih, int iw) {
        const long long i = (((long long)n * g.H + ih) * g.W + iw) * g.C + c;
        if (best < 0 || x[i] > bv) {
            best = i;
            bv = x[i];
        }
    });
    return best;
}

__global__ void k_maxpool_fwd(float *y, const float *x, pool_geo g, size_t total) {
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x) {
        int n, oh, ow, c;
        cu_nhwc_split(t, g.OH, g.OW, g.C, &n, &oh, &ow, &c);
        const long long i = max_at(x, g, n, oh, ow, c);
        y[t] = i < 0 ? -INFINITY : x[i];
    }
}

/* Backward of both pools: each input sums dy of the outputs whose window covers it. Avg
 * weights each by 1 / that output's divisor; max takes it only where the (recomputed) argmax
 * is this very input: the same winner as the forward, by construction. x is read by max only. */
template <bool MAX>
__global__ void k_pool_bwd(float *dx, int acc, const float *x, const float *dy, pool_geo g,
                           size_t total) {
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x) {
        int n, ih, iw, c;
        cu_nhwc_split(t, g.H, g.W, g.C, &n, &ih, &iw, &c);
        int oh0, oh1, ow0, ow1;
        out_range(ih, g.k, g.s, g.pad, g.OH, &oh0, &oh1);
        out_range(iw, g.k, g.s, g.pad, g.OW, &ow0, &ow1);
        float s = 0.f;
        for (int oh = oh0; oh <= oh1; oh++)
            for (int ow = ow0; ow <= ow1; ow++) {
                const float d = dy[(((size_t)n * g.OH + oh) * g.OW + ow) * g.C + c];
                if (!MAX)
                    s += d / avg_div(g, oh, ow);
                else if (max_at(x, g, n, oh, ow, c) == (long long)t)
                    s += d;
            }
        dx[t] = acc ? dx[t] + s : s;
    }
}

static dnas_status geo(const char *who, const dnas_pool_p *p, dnas_shape xs, dnas_shape ys,
                       pool_geo *g) {
    if (p->k <= 0 || p->stride <= 0 || p->pad < 0 || xs.n != ys.n || xs.c != ys.c)
        return dnas_fail(DNAS_ERR_INVALID_ARG,
                         "cuda %s: bad pool k=%d stride=%d pad=%d or shapes x %dx%dx%dx%d y "
                         "%dx%dx%dx%d",
                         who, p->k, p->stride, p->pad, xs.n, xs.h, xs.w, xs.c, ys.n, ys.h, ys.w,
                         ys.c);
    pool_geo t = {xs.n, xs.c, xs.h, xs.w, ys.h, ys.w, p->k, p->stride, p->pad,
                  p->count_include_pad};
    *g = t;
    return DNAS_OK;
}

enum pool_kind { AVG_FWD, AVG_BWD, MAX_FWD, MAX_BWD };
static const char *const pool_who[] = {"avgpool_fwd", "avgpool_bwd", "maxpool_fwd",
                                       "maxpool_bwd"};

/* The four entry points differ only in the kernel: check the geometry, size the grid by the
 * tensor each kernel writes (y forward, x backward), launch, report a failed launch. */
static dnas_status pool_launch(dnas_backend *be, pool_kind kind, const dnas_pool_p *p,
                               dnas_shape xs, dnas_shape ys, float *out, int acc,
                               const float *x, const float *dy) {
    const char *who = pool_who[kind];
    pool_geo g;
    DNAS_TRY(geo(who, p, xs, ys, &g));
    const int bwd = kind == AVG_BWD || kind == MAX_BWD;
    const size_t total = dnas_shape_numel(bwd ? xs : ys);
    if (!total || (bwd && !out)) return DNAS_OK; /* no dx wanted: nothing to do */
    const unsigned nb = cu_blocks(total);
    cudaStream_t st = cu_impl(be)->stream;
    switch (kind) {
    case AVG_FWD: k_avgpool_fwd<<<nb, CU_THREADS, 0, st>>>(out, x, g, total); break;
    case AVG_BWD: k_pool_bwd<false><<<nb, CU_THREADS, 0, st>>>(out, acc, x, dy, g, total); break;
    case MAX_FWD: k_maxpool_fwd<<<nb, CU_THREADS, 0, st>>>(out, x, g, total); break;
    case MAX_BWD: k_pool_bwd<true><<<nb, CU_THREADS, 0, st>>>(out, acc, x, dy, g, total); break;
    }
    char what[48];
    snprintf(what, sizeof what, "%s kernel launch", who);
    CU_LAUNCHED(what);
    return DNAS_OK;
}

dnas_status dnas_cuda_avgpool_fwd(dnas_backend *be, const dnas_pool_p *p, float *y, dnas_shape ys,
                                  const float *x, dnas_shape xs) {
    return pool_launch(be, AVG_FWD, p, xs, ys, y, 0, x, NULL);
}
dnas_status dnas_cuda_avgpool_bwd(dnas_backend *be, const dnas_pool_p *p, float *dx, int acc,
                                  dnas_shape xs, const float *dy, dnas_shape ys) {
    return pool_launch(be, AVG_BWD, p, xs, ys, dx, acc, NULL, dy);
}
dnas_status dnas_cuda_maxpool_fwd(dnas_backend *be, const dnas_pool_p *p, float *y, dnas_shape ys,
                                  const float *x, dnas_shape xs) {
    return pool_launch(be, MAX_FWD, p, xs, ys, y, 0, x, NULL);
}
dnas_status dnas_cuda_maxpool_bwd(dnas_backend *be, const dnas_pool_p *p, float *dx, int acc,
                                  dnas_shape xs, const float *x, const float *dy, dnas_shape ys) {
    return pool_launch(be, MAX_BWD, p, xs, ys, dx, acc, x, dy);
}
