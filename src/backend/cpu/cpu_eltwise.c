/* Element-wise kernels: relu, the weighted sum of a mixed edge (wsum) and channel-block copy
 * (plain or through a ReLU).
 * All are one pass over memory; the weighted sum works on L1-sized blocks so that each input
 * is read once and the output written once whatever k is. */
#include "cpu_kernels.h"
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Floats per wsum block: 8 KiB, so the block of y (or of dy) stays in L1 while the k inputs
 * stream past it. */
#define WS_BLOCK 2048

dnas_status dnas_cpu_relu_fwd(dnas_backend *be, float *y, const float *x, size_t n) {
    const int nt = dnas_cpu_threads(be);
    /* x < 0 ? 0 : x rather than max(x, 0): NaN propagates (as in PyTorch) instead of being
     * silently turned into 0. */
    DNAS_OMP_FOR(nt, n)
    for (size_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
    return DNAS_OK;
}

dnas_status dnas_cpu_relu_bwd(dnas_backend *be, float *dx, int acc, const float *dy,
                              const float *y, size_t n) {
    const int nt = dnas_cpu_threads(be);
    if (acc) {
        DNAS_OMP_FOR(nt, n)
        for (size_t i = 0; i < n; i++) dx[i] += y[i] > 0.0f ? dy[i] : 0.0f;
    } else {
        DNAS_OMP_FOR(nt, n)
        for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
    }
    return DNAS_OK;
}

static dnas_status wsum_check(const char *who, int k, const float *m) {
    if (k < 0) return dnas_fail(DNAS_ERR_INVALID_ARG, "%s: k = %d < 0", who, k);
    if (k > 0 && !m) return dnas_fail(DNAS_ERR_INVALID_ARG, "%s: weights m are NULL", who);
    return DNAS_OK;
}

/* Inputs are combined in groups of up to WS_GROUP per loop so that all their streams advance
 * together (the hardware prefetcher keeps every stream going) and the partial result never
 * leaves registers. */
#define WS_GROUP 4
/* The most inputs a lazy weighted sum takes (the graph's DNAS_MAX_IN is below it). */
#define WS_MAX_IN 64

/* out[j] = (prev ? prev[j] : 0) + sum_{i<gk} m[i]*x[i][j], left to right. */
static DNAS_INLINE void wsum_fwd_grp(float *out, const float *prev, size_t len, int gk,
                                     const float *const *x, const float *m) {
    dnas_v8f mv[WS_GROUP];
    for (int i = 0; i < gk; i++) mv[i] = v8f_set1(m[i]);
    size_t j = 0;
    for (; j + 8 <= len; j += 8) {
        dnas_v8f a = prev ? v8f_load(prev + j) + mv[0] * v8f_load(x[0] + j)
                          : mv[0] * v8f_load(x[0] + j);
        for (int i = 1; i < gk; i++) a += mv[i] * v8f_load(x[i] + j);
        v8f_store(out + j, a);
    }
    for (; j < len; j++) {
        float a = prev ? prev[j] + m[0] * x[0][j] : m[0] * x[0][j];
        for (int i = 1; i < gk; i++) a += m[i] * x[i][j];
        out[j] = a;
    }
}

/* The group size as a literal, so the loop over inputs unrolls and stays in registers. */
static void wsum_fwd_block(float *out, const float *prev, size_t len, int gk,
                           const float *const *x, const float *m) {
    switch (gk) {
    case 1: wsum_fwd_grp(out, prev, len, 1, x, m); break;
    case 2: wsum_fwd_grp(out, prev, len, 2, x, m); break;
    case 3: wsum_fwd_grp(out, prev, len, 3, x, m); break;
    default: wsum_fwd_grp(out, prev, len, 4, x, m); break;
    }
}

dnas_status dnas_cpu_wsum_fwd(dnas_backend *be, float *y, size_t n, int k, const float *const *x,
                              const float *m) {
    DNAS_TRY(wsum_check("wsum_fwd", k, m));
    const int nt = dnas_cpu_threads(be);
    const long nb = (long)((n + WS_BLOCK - 1) / WS_BLOCK);
    DNAS_OMP_FOR(nt, n * (size_t)(k + 1))
    for (long b = 0; b < nb; b++) {
        size_t j0 = (size_t)b * WS_BLOCK, len = n - j0 < WS_BLOCK ? n - j0 : WS_BLOCK;
        if (k == 0) {
            memset(y + j0, 0, len * sizeof(float));
            continue;
        }
        /* More than one group: partial sums in an L1 block, y written by the last group
         * only, so y may even alias an input. */
        float t[WS_BLOCK];
        const float *xb[WS_GROUP];
        const float *prev = NULL;
        for (int g = 0; g < k; g += WS_GROUP) {
            int gk = k - g < WS_GROUP ? k - g : WS_GROUP;
            for (int i = 0; i < gk; i++) xb[i] = x[g + i] + j0;
            float *out = g + gk == k ? y + j0 : t;
            wsum_fwd_block(out, prev, len, gk, xb, m + g);
            prev = t;
        }
    }
    return DNAS_OK;
}

/* Up to WS_GROUP inputs of a lazy-BN weighted sum over np pixels of C channels:
 * y (= or +=, per add) sum_i (x[i] - M[i]) * A[i] + B[i], per 8-channel chunk with the
 * chunk's coefficients in registers (as BN's own affine pass), terms added in input order. A
 * plain input comes with M = B = 0 and A = its weight, which gives exactly x * m. */
static DNAS_INLINE void waff_grp(float *y, int add, size_t np, int C, int gk,
                                 const float *const *x, const float *const *M,
                                 const float *const *A, const float *const *B) {
    int c0 = 0;
    for (; c0 + 8 <= C; c0 += 8) {
        dnas_v8f mv[WS_GROUP], av[WS_GROUP], bv[WS_GROUP];
        for (int i = 0; i < gk; i++) {
            mv[i] = v8f_load(M[i] + c0);
            av[i] = v8f_load(A[i] + c0);
            bv[i] = v8f_load(B[i] + c0);
        }
        size_t o = (size_t)c0;
        for (size_t p = 0; p < np; p++, o += (size_t)C) {
            dnas_v8f acc = (v8f_load(x[0] + o) - mv[0]) * av[0] + bv[0];
            if (add) acc = v8f_load(y + o) + acc;
            for (int i = 1; i < gk; i++) acc += (v8f_load(x[i] + o) - mv[i]) * av[i] + bv[i];
            v8f_store(y + o, acc);
        }
    }
    for (; c0 < C; c0++) {
        size_t o = (size_t)c0;
        for (size_t p = 0; p < np; p++, o += (size_t)C) {
            float acc = (x[0][o] - M[0][c0]) * A[0][c0] + B[0][c0];
            if (add) acc = y[o] + acc;
            for (int i = 1; i < gk; i++) acc += (x[i][o] - M[i][c0]) * A[i][c0] + B[i][c0];
            y[o] = acc;
        }
    }
}

/* The group size as a literal, so the loop over inputs unrolls and stays in registers. */
static void waff_block(float *y, int add, size_t np, int C, int gk, const float *const *x,
                       const float *const *M, const float *const *A, const float *const *B) {
    switch (gk) {
    case 1: waff_grp(y, add, np, C, 1, x, M, A, B); break;
    case 2: waff_grp(y, add, np, C, 2, x, M, A, B); break;
    case 3: waff_grp(y, add, np, C, 3, x, M, A, B); break;
    default: waff_grp(y, add, np, C, 4, x, M, A, B); break;
    }
}

/* Pool inputs (DNAS_K_LAZY_POOL) are computed per block into a per-thread L1/L2 buffer from
 * the pool's input and then summed like a plain input: blocks are then whole output rows of
 * one image (rb rows, about WS_BLOCK floats), so the pool reads its input rows while the
 * sum's other inputs stream past. */
dnas_status dnas_cpu_wsum_affine_fwd(dnas_backend *be, float *y, dnas_shape ys, int k,
                                     const float *const *x, const float *m,
                                     const float *const *mean, const float *const *a,
                                     const float *const *b, const dnas_pool_p *const *pool,
                                     const dnas_shape *pool_xs) {
    DNAS_TRY(wsum_check("wsum_affine_fwd", k, m));
    const int C = ys.c;
    const size_t n = dnas_shape_numel(ys);
    if (k < 1 || C < 1 || ys.n < 0 || ys.h < 1 || ys.w < 1)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "wsum_affine_fwd: k = %d, y (%d,%d,%d,%d) (want "
                         "k >= 1 and a non-empty shape)", k, ys.n, ys.c, ys.h, ys.w);
    if (k > WS_MAX_IN)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "wsum_affine_fwd: k = %d > %d", k, WS_MAX_IN);
    int n_pool = 0;
    for (int i = 0; i < k; i++) {
        if (mean && mean[i] && (!a || !a[i] || !b || !b[i]))
            return dnas_fail(DNAS_ERR_INVALID_ARG, "wsum_affine_fwd: input %d has a mean but "
                             "no scale or shift", i);
        if (pool && pool[i]) {
            if (!pool_xs || (mean && mean[i]))
                return dnas_fail(DNAS_ERR_INVALID_ARG, "wsum_affine_fwd: pool input %d without "
                                 "its input shape, or with a BN map too", i);
            DNAS_TRY(dnas_cpu_pool_check("wsum_affine_fwd", pool[i], pool_xs[i], ys));
            n_pool++;
        }
    }
    const int nt = dnas_cpu_threads(be);
    const size_t WC = (size_t)ys.w * C, HW = (size_t)ys.h * ys.w;
    const size_t rb = n_pool ? (WS_BLOCK / WC > 0 ? WS_BLOCK / WC : 1) : 0; /* rows per block */
    const size_t blkf = (rb * WC + 15) / 16 * 16, HWr = (HW + 15) / 16 * 16;
    const size_t coef_f = (3 * (size_t)k * C + 15) / 16 * 16;
    /* Per input: M, A = m*a, B = m*b (C floats each; a plain or pool input M = B = 0, A = m),
     * so each term is one subtract and one multiply-add. Then each pool input's divisors,
     * then WS_GROUP pool row buffers per thread. */
    void *ws;
    DNAS_TRY(dnas_cpu_workspace(be, sizeof(float) * (coef_f + (size_t)n_pool * HWr +
                                                     (n_pool ? (size_t)nt * WS_GROUP * blkf : 0)),
                                &ws));
    float *coef = ws, *invs = coef + coef_f, *tbuf = invs + (size_t)n_pool * HWr;
    const float *inv_of[WS_MAX_IN];
    for (int i = 0, q = 0; i < k; i++) {
        float *Mi = coef + (size_t)3 * i * C, *Ai = Mi + C, *Bi = Ai + C;
        const int lz = mean && mean[i];
        for (int c = 0; c < C; c++) {
            Mi[c] = lz ? mean[i][c] : 0.0f;
            Ai[c] = lz ? m[i] * a[i][c] : m[i];
            Bi[c] = lz ? m[i] * b[i][c] : 0.0f;
        }
        inv_of[i] = NULL;
        if (pool && pool[i]) {
            float *inv = invs + (size_t)q++ * HWr;
            dnas_cpu_avgpool_divisors(pool[i], pool_xs[i], ys, inv);
            inv_of[i] = inv;
        }
    }
    /* Pixel blocks of about WS_BLOCK floats, one per task (with pools: rb rows of one image);
     * groups of WS_GROUP inputs add into y's block while it is in L1 (y must not alias an
     * input). */
    const size_t npix = n / (size_t)C, bp = WS_BLOCK / (size_t)C > 0 ? WS_BLOCK / (size_t)C : 1;
    const long nbh = n_pool ? (long)((ys.h + rb - 1) / rb) : 0;
    const long nb = n_pool ? (long)ys.n * nbh : (long)((npix + bp - 1) / bp);
    DNAS_OMP_FOR(nt, n * (size_t)(k + 1))
    for (long blk = 0; blk < nb; blk++) {
        size_t p0, np;
        int img = 0, h0 = 0, h1 = 0;
        if (n_pool) {
            img = (int)(blk / nbh);
            h0 = (int)((size_t)(blk % nbh) * rb);
            h1 = h0 + (int)rb < ys.h ? h0 + (int)rb : ys.h;
            p0 = ((size_t)img * ys.h + h0) * ys.w;
            np = (size_t)(h1 - h0) * ys.w;
        } else {
            p0 = (size_t)blk * bp;
            np = npix - p0 < bp ? npix - p0 : bp;
        }
        float *tb = tbuf;
#ifdef _OPENMP
        if (n_pool) tb += (size_t)omp_get_thread_num() * WS_GROUP * blkf;
#endif
        for (int g = 0, gk; g < k; g += gk) {
            /* A pool input starts a group: the inputs before it (an NB201 edge's skip input,
             * the same tensor) are then summed first, several streams at once, and the pool
             * finds its rows in cache. Pooling first, it was the one to bring them from DRAM,
             * one row at a time: a node's three pools took longer than the rest of its sum
             * (bench_kernels' NB201 node). Terms are still added in input order. */
            gk = 1;
            while (gk < WS_GROUP && g + gk < k && !inv_of[g + gk]) gk++;
            const float *xs[WS_GROUP], *M[WS_GROUP], *A[WS_GROUP], *B[WS_GROUP];
            for (int i = 0; i < gk; i++) {
                if (inv_of[g + i]) {
                    float *t = tb + (size_t)i * blkf;
                    dnas_cpu_avgpool_rows(pool[g + i], pool_xs[g + i], ys, inv_of[g + i],
                                          x[g + i], img, h0, h1, t);
                    xs[i] = t;
                } else {
                    xs[i] = x[g + i] + p0 * C;
                }
                M[i] = coef + (size_t)3 * (g + i) * C;
                A[i] = M[i] + C;
                B[i] = A[i] + C;
            }
            waff_block(y + p0 * C, g > 0, np, C, gk, xs, M, A, B);
        }
    }
    return DNAS_OK;
}

/* One group of gk inputs over one block: dot[i] = <g, x[i]> in double (if want_dot), and
 * dx[i] per mode[i]: 0 skip, 1 = m[i]*g, 2 += m[i]*g. dy is loaded once for the group. */
static DNAS_INLINE void wsum_bwd_grp(const float *g, size_t len, int gk, const float *const *x,
                                     float *const *dx, const int *mode, const float *m,
                                     int want_dot, double *dot) {
    dnas_v8f mv[WS_GROUP];
    dnas_v4d al[WS_GROUP], ah[WS_GROUP];
    for (int i = 0; i < gk; i++) {
        mv[i] = v8f_set1(m[i]);
        al[i] = v4d_set1(0.0);
        ah[i] = v4d_set1(0.0);
    }
    size_t j = 0;
    for (; j + 8 <= len; j += 8) {
        const dnas_v8f gv = v8f_load(g + j);
        if (want_dot) {
            const dnas_v4d gl = v4d_load_f(g + j), gh = v4d_load_f(g + j + 4);
            for (int i = 0; i < gk; i++) {
                al[i] += gl * v4d_load_f(x[i] + j);
                ah[i] += gh * v4d_load_f(x[i] + j + 4);
            }
        }
        for (int i = 0; i < gk; i++) {
            if (mode[i] == 1) v8f_store(dx[i] + j, mv[i] * gv);
            else if (mode[i] == 2) v8f_store(dx[i] + j, v8f_load(dx[i] + j) + mv[i] * gv);
        }
    }
    for (int i = 0; i < gk; i++) {
        double t = 0;
        for (size_t q = j; q < len; q++) {
            if (want_dot) t += (double)g[q] * (double)x[i][q];
            if (mode[i] == 1) dx[i][q] = m[i] * g[q];
            else if (mode[i] == 2) dx[i][q] += m[i] * g[q];
        }
        if (want_dot) {
            dnas_v4d v = al[i] + ah[i];
            dot[i] = ((v[0] + v[1]) + (v[2] + v[3])) + t; /* fixed order */
        }
    }
}

static void wsum_bwd_block(const float *g, size_t len, int gk, const float *const *x,
                           float *const *dx, const int *mode, const float *m, int want_dot,
                           double *dot) {
    switch (gk) {
    case 1: wsum_bwd_grp(g, len, 1, x, dx, mode, m, want_dot, dot); break;
    case 2: wsum_bwd_grp(g, len, 2, x, dx, mode, m, want_dot, dot); break;
    case 3: wsum_bwd_grp(g, len, 3, x, dx, mode, m, want_dot, dot); break;
    default: wsum_bwd_grp(g, len, 4, x, dx, mode, m, want_dot, dot); break;
    }
}

dnas_status dnas_cpu_wsum_bwd(dnas_backend *be, float *const *dx, const int *acc, float *dm,
                              size_t n, int k, const float *dy, const float *const *x,
                              const float *m) {
    DNAS_TRY(wsum_check("wsum_bwd", k, m));
    if (k == 0) return DNAS_OK;
    const int nt = dnas_cpu_threads(be);
    /* L1-sized blocks; one dot-product partial per (block, input), summed in block order, so
     * dm is the same for every thread count. */
    const long nb = (long)((n + WS_BLOCK - 1) / WS_BLOCK);
    double *part = NULL;
    if (dm) {
        void *ws;
        DNAS_TRY(dnas_cpu_workspace(be, sizeof(double) * (size_t)(nb > 0 ? nb : 1) * k, &ws));
        part = ws;
    }
    DNAS_OMP_FOR(nt, n * (size_t)(2 * k + 1))
    for (long b = 0; b < nb; b++) {
        size_t j0 = (size_t)b * WS_BLOCK, len = n - j0 < WS_BLOCK ? n - j0 : WS_BLOCK;
        /* With several groups dy is reread: take a copy in L1 (which also keeps the result
         * right should an earlier group's dx alias dy). */
        float gcopy[WS_BLOCK];
        const float *g = dy + j0;
        if (k > WS_GROUP) {
            memcpy(gcopy, g, len * sizeof(float));
            g = gcopy;
        }
        for (int g0 = 0; g0 < k; g0 += WS_GROUP) {
            int gk = k - g0 < WS_GROUP ? k - g0 : WS_GROUP;
            const float *xb[WS_GROUP];
            float *dxb[WS_GROUP];
            int mode[WS_GROUP];
            for (int i = 0; i < gk; i++) {
                float *d = dx ? dx[g0 + i] : NULL;
                xb[i] = x[g0 + i] + j0;
                dxb[i] = d ? d + j0 : NULL;
                mode[i] = !d ? 0 : acc && acc[g0 + i] ? 2 : 1;
            }
            wsum_bwd_block(g, len, gk, xb, dxb, mode, m + g0, part != NULL,
                           part ? part + (size_t)b * k + g0 : NULL);
        }
    }
    if (dm)
        for (int i = 0; i < k; i++) {
            double s = 0; /* block order: the same sum for any thread count */
            for (long b = 0; b < nb; b++) s += part[(size_t)b * k + i];
            dm[i] = (float)s;
        }
    return DNAS_OK;
}

dnas_status dnas_cpu_chancopy(dnas_backend *be, float *dst, int dst_c, int doff, int acc,
                              const float *src, int src_c, int soff, int count, size_t npix) {
    if (count <= 0) return DNAS_OK;
    if (doff < 0 || soff < 0 || doff + count > dst_c || soff + count > src_c)
        return dnas_fail(DNAS_ERR_INVALID_ARG,
                         "chancopy: channels [%d,%d) of %d -> [%d,%d) of %d out of range", soff,
                         soff + count, src_c, doff, doff + count, dst_c);
    const int nt = dnas_cpu_threads(be);
    const size_t ds = (size_t)dst_c, ss = (size_t)src_c, cnt = (size_t)count;
    if (!acc && ds == cnt && ss == cnt) { /* whole tensors: one contiguous copy */
        const size_t total = npix * cnt;
        DNAS_OMP_FOR(nt, total)
        for (size_t i = 0; i < total; i++) dst[i] = src[i];
        return DNAS_OK;
    }
    DNAS_OMP_FOR(nt, npix * cnt)
    for (size_t p = 0; p < npix; p++) {
        float *d = dst + p * ds + doff;
        const float *s = src + p * ss + soff;
        if (acc)
            for (size_t i = 0; i < cnt; i++) d[i] += s[i];
        else
            for (size_t i = 0; i < cnt; i++) d[i] = s[i];
    }
    return DNAS_OK;
}

/* One pixel's block of the concat + ReLU: 8 channels per vector, then scalars. The forward
 * keeps NaN (x < 0 ? 0 : x, as relu_fwd); the backward passes dy where gate > 0 (as relu_bwd);
 * an AND with the compare mask does both without branches. */
static inline void catr_fwd_px(float *d, const float *s, size_t cnt) {
    const dnas_v8f z = v8f_set1(0.0f);
    size_t i = 0;
    for (; i + 8 <= cnt; i += 8) {
        const dnas_v8f v = v8f_load(s + i);
        v8f_store(d + i, (dnas_v8f)((dnas_v8i)v & ~(dnas_v8i)(v < z)));
    }
    for (; i < cnt; i++) d[i] = s[i] < 0.0f ? 0.0f : s[i];
}
static inline void catr_bwd_px(float *d, const float *s, const float *q, size_t cnt, int acc) {
    const dnas_v8f z = v8f_set1(0.0f);
    size_t i = 0;
    for (; i + 8 <= cnt; i += 8) {
        const dnas_v8f v = (dnas_v8f)((dnas_v8i)v8f_load(s + i) & (dnas_v8i)(v8f_load(q + i) > z));
        v8f_store(d + i, acc ? v8f_load(d + i) + v : v);
    }
    for (; i < cnt; i++) {
        const float v = q[i] > 0.0f ? s[i] : 0.0f;
        d[i] = acc ? d[i] + v : v;
    }
}

/* Concat + ReLU in one pass each way, over all inputs at once (per pixel, every input's
 * block: the concatenated tensor is streamed once instead of once per input). The forward
 * writes max(0, x) straight into the output, the backward copies dy where the output was
 * positive, so neither the raw concatenation nor the ReLU's input gradient is ever stored.
 * The same tests as relu_fwd/bwd, so the result equals concat then ReLU bit for bit. */
static dnas_status catr_check(const char *who, int k, const int *c, int *ctot) {
    *ctot = 0;
    if (k < 1) return dnas_fail(DNAS_ERR_INVALID_ARG, "%s: %d inputs", who, k);
    for (int i = 0; i < k; i++) {
        if (c[i] <= 0)
            return dnas_fail(DNAS_ERR_INVALID_ARG, "%s: input %d has %d channels", who, i, c[i]);
        *ctot += c[i];
    }
    return DNAS_OK;
}

dnas_status dnas_cpu_concat_relu_fwd(dnas_backend *be, float *y, int k, const float *const *x,
                                     const int *c, size_t npix) {
    int ct;
    DNAS_TRY(catr_check("concat_relu_fwd", k, c, &ct));
    const int nt = dnas_cpu_threads(be);
    DNAS_OMP_FOR(nt, npix * (size_t)ct)
    for (size_t p = 0; p < npix; p++) {
        float *d = y + p * (size_t)ct;
        for (int i = 0; i < k; i++) {
            catr_fwd_px(d, x[i] + p * (size_t)c[i], (size_t)c[i]);
            d += c[i];
        }
    }
    return DNAS_OK;
}

dnas_status dnas_cpu_concat_relu_bwd(dnas_backend *be, float *const *dx, const int *acc, int k,
                                     const int *c, const float *dy, const float *y, size_t npix) {
    int ct;
    DNAS_TRY(catr_check("concat_relu_bwd", k, c, &ct));
    const int nt = dnas_cpu_threads(be);
    DNAS_OMP_FOR(nt, npix * (size_t)ct)
    for (size_t p = 0; p < npix; p++) {
        size_t o = p * (size_t)ct;
        for (int i = 0; i < k; i++) {
            if (dx[i])
                catr_bwd_px(dx[i] + p * (size_t)c[i], dy + o, y + o, (size_t)c[i], acc[i]);
            o += (size_t)c[i];
        }
    }
    return DNAS_OK;
}
