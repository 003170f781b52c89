/* Throughput of the memory-bound CPU kernels at the NB201 stage-1 size, 64x32x32x16 NHWC
 * (4 MiB per tensor). GB/s counts the bytes a kernel must move at least (each input read once,
 * each output written once), so it compares directly with the machine's copy bandwidth.
 *   hot:  the same tensors every call (they stay in the last-level cache);
 *   cold: calls cycle through a 144 MiB pool of tensors, so data comes from DRAM as it does
 *         in a training step.
 * Usage: bench_kernels [threads=2] [seconds per measurement=0.3]
 *        bench_kernels conv [threads=2] [rounds=9] [name filter]   (see conv_main)
 *        bench_kernels bn [threads=2] [rounds=15]                   (see bn_main)
 *        bench_kernels isa [threads=2] [rounds=9] [name filter]    (see isa_main) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend/backend.h"
#include "core/clock.h"
#include "backend/cpu/cpu_internal.h"

#define NX ((size_t)64 * 32 * 32 * 16)
#define NT 36 /* pool of tensors of NX floats: 144 MiB, well above a 32 MiB L3 */

static dnas_backend *be;
static float *T[NT];
static float *gam, *bet, *smean, *sinv, *dgam, *dbet;
static const dnas_shape XS = {64, 16, 32, 32};
static const dnas_pool_p AVG3 = {3, 1, 1, 0};

static void check(dnas_status st, const char *what) {
    if (st != DNAS_OK) {
        fprintf(stderr, "%s failed: %s\n", what, dnas_last_error());
        exit(1);
    }
}

/* Each kernel gets the tensors t[0..uses) of one set. */
static void k_bn_fwd(float **t) {
    dnas_bn_p p = {1e-5f, 0.1f, 0};
    check(be->bn_fwd_train(be, &p, t[1], smean, sinv, NULL, NULL, t[0], XS, gam, bet), "bn fwd");
}
static void k_bn_bwd(float **t) {
    check(be->bn_bwd(be, t[2], 0, dgam, dbet, t[1], 1.0f, NULL, t[0], XS, smean, sinv, gam), "bn bwd");
}
static void k_relu_fwd(float **t) { check(be->relu_fwd(be, t[1], t[0], NX), "relu fwd"); }
static void k_relu_bwd(float **t) { check(be->relu_bwd(be, t[2], 0, t[1], t[0], NX), "relu bwd"); }
static const float MIX[4] = {0.1f, 0.2f, 0.3f, 0.4f};
static void k_wsum_fwd(float **t) {
    const float *x[4] = {t[0], t[1], t[2], t[3]};
    check(be->wsum_fwd(be, t[4], NX, 4, x, MIX), "wsum fwd");
}
static void k_wsum_bwd(float **t) {
    const float *x[4] = {t[1], t[2], t[3], t[4]};
    float *dx[4] = {t[5], t[6], t[7], t[8]};
    const int acc[4] = {0, 0, 0, 0};
    float dm[4];
    check(be->wsum_bwd(be, dx, acc, dm, NX, 4, t[0], x, MIX), "wsum bwd");
}
static void k_avg_fwd(float **t) { check(be->avgpool_fwd(be, &AVG3, t[1], XS, t[0], XS), "avg"); }
static void k_avg_bwd(float **t) {
    check(be->avgpool_bwd(be, &AVG3, t[1], 0, XS, t[0], XS), "avg bwd");
}
/* A weighted sum whose 4th input is the (never stored) 3x3 average pool of its 1st, as an
 * NB201 edge's skip and pool (DNAS_K_LAZY_POOL); then the pool's mixed backward with its dot
 * product. */
static void k_wsum_pool_fwd(float **t) {
    const float *x[4] = {t[0], t[1], t[2], t[0]};
    const dnas_pool_p *pl[4] = {NULL, NULL, NULL, &AVG3};
    const dnas_shape pxs[4] = {XS, XS, XS, XS};
    check(be->wsum_affine_fwd(be, t[3], XS, 4, x, MIX, NULL, NULL, NULL, pl, pxs), "wsum pool");
}
/* An NB201 node with three incoming edges (a cell's last node): per edge its skip input, the
 * lazy BN maps of its 1x1 and 3x3 convolutions' outputs and the pool of the skip input, in
 * the graph's order: 12 terms from 9 stored tensors. */
static float bnm[16], bna[16], bnb[16];
static void k_wsum_node3(float **t) {
    const float *x[12];
    const float *mean[12], *a[12], *b[12];
    const dnas_pool_p *pl[12];
    dnas_shape pxs[12];
    float m[12];
    for (int e = 0; e < 3; e++) {
        const float *xe = t[e], *c1 = t[3 + 2 * e], *c3 = t[4 + 2 * e];
        const float *xi[4] = {xe, c1, c3, xe};
        for (int j = 0; j < 4; j++) {
            int i = 4 * e + j;
            x[i] = xi[j];
            m[i] = 0.05f * (float)(i + 1);
            int lz = j == 1 || j == 2;
            mean[i] = lz ? bnm : NULL, a[i] = lz ? bna : NULL, b[i] = lz ? bnb : NULL;
            pl[i] = j == 3 ? &AVG3 : NULL;
            pxs[i] = XS;
        }
    }
    check(be->wsum_affine_fwd(be, t[9], XS, 12, x, m, mean, a, b, pl, pxs), "wsum node3");
}
static void k_avg_bwd_mix(float **t) {
    double d;
    check(be->avgpool_bwd_mix(be, &AVG3, t[2], 0, XS, t[1], t[0], 0.3f, XS, &d), "avg bwd mix");
}
static void k_max_fwd(float **t) { check(be->maxpool_fwd(be, &AVG3, t[1], XS, t[0], XS), "max"); }
static void k_max_bwd(float **t) {
    check(be->maxpool_bwd(be, &AVG3, t[2], 0, XS, t[0], t[1], XS), "max bwd");
}
static void k_copy(float **t) {
    check(be->chancopy(be, t[1], 16, 0, 0, t[0], 16, 0, 16, NX / 16), "copy");
}

typedef struct {
    const char *name;
    void (*fn)(float **t);
    int uses;    /* tensors per call */
    int moved;   /* tensors of NX floats that must be read or written */
} bench;

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Fastest call in seconds (the machine may be shared: the minimum is the least disturbed);
 * cold = rotate through the whole pool. */
static double measure(const bench *b, int cold, double secs) {
    enum { MAXREP = 4096 };
    static double ts[MAXREP];
    float *t[16];
    const int sets = cold ? NT / b->uses : 1;
    int rep = 0;
    double start = dnas_now_s();
    for (int i = -2; rep < MAXREP; i++) { /* two warm-up calls */
        int s = (i < 0 ? 0 : i) % sets;
        for (int j = 0; j < b->uses; j++) t[j] = T[s * b->uses + j];
        double t0 = dnas_now_s();
        b->fn(t);
        double t1 = dnas_now_s();
        if (i >= 0) ts[rep++] = t1 - t0;
        if (rep >= 10 && t1 - start > secs) break;
    }
    qsort(ts, (size_t)rep, sizeof ts[0], cmp_d);
    return ts[0];
}

/* ---- `bench_kernels conv [threads=2] [rounds=9] [filter]`: the DARTS evaluation network's
 * convolutions at batch 96, each direction timed per implementation (dnas_cpu_conv_impl) in
 * alternating rounds (A, B, C, A, B, C, ...) so machine load hits all alike; medians.
 * DNAS_BENCH_COLD=1: caches evicted before every call (as in a step); DNAS_BENCH_BIAS=1: the
 * forward adds a bias; DNAS_BENCH_BATCH: the batch (default 96; NB201's search: 64). */
typedef struct {
    const char *name;
    int cin, cout, h, k, stride, pad, dil, groups;
} cshape;
static const cshape CS[] = {
    {"pw 8->8 @32", 8, 8, 32, 1, 1, 0, 1, 1},    /* --preset quick's NB201 (C = 8) */
    {"pw 16->16 @32", 16, 16, 32, 1, 1, 0, 1, 1}, /* the paper's NB201 (C = 16) */
    {"pw 32->32 @16", 32, 32, 16, 1, 1, 0, 1, 1},
    {"pw 64->64 @8", 64, 64, 8, 1, 1, 0, 1, 1},
    {"pw 36->36 @32", 36, 36, 32, 1, 1, 0, 1, 1},
    {"pw 72->72 @16", 72, 72, 16, 1, 1, 0, 1, 1},
    {"pw 144->144 @8", 144, 144, 8, 1, 1, 0, 1, 1},
    {"pw 144->36 @32", 144, 36, 32, 1, 1, 0, 1, 1},
    {"pw 288->72 @16", 288, 72, 16, 1, 1, 0, 1, 1},
    {"pw 576->144 @8", 576, 144, 8, 1, 1, 0, 1, 1},
    {"3x3 16->16 @32", 16, 16, 32, 3, 1, 1, 1, 1}, /* NB201's nor_conv_3x3 */
    {"3x3 32->32 @16", 32, 32, 16, 3, 1, 1, 1, 1},
    {"3x3 64->64 @8", 64, 64, 8, 3, 1, 1, 1, 1},
    {"dw 36 3x3 @32", 36, 36, 32, 3, 1, 1, 1, 36},
    {"dw 72 3x3 @16", 72, 72, 16, 3, 1, 1, 1, 72},
    {"dw 144 3x3 @8", 144, 144, 8, 3, 1, 1, 1, 144},
    {"dw 72 3x3 d2 @16", 72, 72, 16, 3, 1, 2, 2, 72},
    {"dw 144 5x5 @8", 144, 144, 8, 5, 1, 2, 1, 144},
    {"dw 36 5x5 s2 @32", 36, 36, 32, 5, 2, 2, 1, 36},
};
/* Writes a buffer larger than the L3 so that the next call starts with cold caches, as the
 * convolutions of a real step mostly do (DNAS_BENCH_COLD=1). */
static void evict_caches(float *buf, size_t n) {
    for (size_t i = 0; i < n; i += 16) buf[i] += 1.0f;
}

static int conv_main(int threads, int rounds, const char *filter) {
    enum { MAXR = 64 };
    const int NB = getenv("DNAS_BENCH_BATCH") ? atoi(getenv("DNAS_BENCH_BATCH")) : 96;
    const size_t cold_n = (size_t)96 << 20 >> 2; /* 96 MiB of floats */
    float *cold = getenv("DNAS_BENCH_COLD") && atoi(getenv("DNAS_BENCH_COLD"))
                      ? calloc(cold_n, sizeof(float)) : NULL;
    if (rounds > MAXR) rounds = MAXR;
    int impls[4], ni = 0;
    const char *iname[] = {"auto", "ours", "dnnl", "blas", "old"};
    for (size_t si = 0; si < sizeof CS / sizeof CS[0]; si++) {
        const cshape *c = &CS[si];
        if (filter && !strstr(c->name, filter)) continue;
        const int dw = c->groups > 1;
        ni = 0;
        if (dw) {
            impls[ni++] = DNAS_CONV_OLD;
            impls[ni++] = DNAS_CONV_AUTO;
        } else {
            impls[ni++] = DNAS_CONV_OURS;
#ifdef DNAS_HAVE_DNNL
            impls[ni++] = DNAS_CONV_DNNL;
#endif
#ifdef DNAS_HAVE_BLAS
            impls[ni++] = DNAS_CONV_BLAS;
#endif
        }
        const int oh = (c->h + 2 * c->pad - c->dil * (c->k - 1) - 1) / c->stride + 1;
        dnas_conv_p p = {c->cin, c->cout, c->k, c->k, c->stride, c->pad, c->dil, c->groups};
        dnas_shape xs = {NB, c->cin, c->h, c->h}, ys = {NB, c->cout, oh, oh};
        size_t nx = dnas_shape_numel(xs), ny = dnas_shape_numel(ys);
        size_t nw = (size_t)c->cout * c->k * c->k * (c->cin / c->groups);
        float *x = aligned_alloc(64, (nx + 16) * 4), *y = aligned_alloc(64, (ny + 16) * 4);
        float *dx = aligned_alloc(64, (nx + 16) * 4), *w = aligned_alloc(64, (nw + 16) * 4);
        float *dwt = aligned_alloc(64, (nw + 16) * 4);
        if (!x || !y || !dx || !w || !dwt) return 1;
        for (size_t j = 0; j < nx; j++) x[j] = (float)rand() / (float)RAND_MAX - 0.5f;
        for (size_t j = 0; j < ny; j++) y[j] = (float)rand() / (float)RAND_MAX - 0.5f;
        for (size_t j = 0; j < nw; j++) w[j] = (float)rand() / (float)RAND_MAX - 0.5f;
        /* DNAS_BENCH_BIAS=1: the forward with a bias (NB201's search convs have one) */
        const float *bias = getenv("DNAS_BENCH_BIAS") && atoi(getenv("DNAS_BENCH_BIAS")) ? w : NULL;
        for (int dir = 0; dir < 3; dir++) {
            static double ts[5][MAXR];
            for (int r = -1; r < rounds; r++)
                for (int i = 0; i < ni; i++) {
                    dnas_cpu_conv_impl = impls[i];
                    if (cold) evict_caches(cold, cold_n);
                    double t0 = dnas_now_s();
                    if (dir == 0) check(be->conv2d_fwd(be, &p, y, ys, x, xs, w, bias), "fwd");
                    else if (dir == 1)
                        check(be->conv2d_bwd_data(be, &p, dx, 0, xs, y, ys, w), "bwd_d");
                    else check(be->conv2d_bwd_weight(be, &p, dwt, NULL, x, xs, y, ys), "bwd_w");
                    if (r >= 0) ts[i][r] = dnas_now_s() - t0;
                }
            printf("%-18s %-5s", c->name, dir == 0 ? "fwd" : dir == 1 ? "bwd_d" : "bwd_w");
            double base = 0;
            for (int i = 0; i < ni; i++) {
                qsort(ts[i], (size_t)rounds, sizeof(double), cmp_d);
                double med = ts[i][rounds / 2];
                if (i == 0) base = med;
                printf("  %s %7.2f (min %6.2f) ms", iname[impls[i]], 1e3 * med, 1e3 * ts[i][0]);
                if (i) printf(" x%.2f", base / med);
            }
            printf("\n");
            fflush(stdout);
        }
        free(x), free(y), free(dx), free(w), free(dwt);
    }
    dnas_cpu_conv_impl = DNAS_CONV_AUTO;
    free(cold);
    (void)threads;
    return 0;
}

/* ---- `bench_kernels isa [threads=2] [rounds=9] [filter]`: our dense and depthwise
 * convolution kernels (DNAS_CONV_IMPL=ours, so 1x1 runs them too) with the 8-lane AVX2 and the
 * 16-lane AVX-512 micro-kernels (dnas_cpu_isa), alternating per round in one process; medians
 * and the ratio avx512 / avx2 (< 1: AVX-512 faster). NB201 shapes at batch 64, DARTS channel
 * counts (tails of 4 and 8 lanes) and depthwise shapes at batch 96. Also checks that both give
 * bit-identical outputs. */
typedef struct {
    const char *name;
    int n, c, h, k, pad, stride, dil, dw; /* dw: depthwise (groups = c) */
} ishape;
static const ishape IS[] = {
    {"nb201 c16 3x3 @32", 64, 16, 32, 3, 1, 1, 1, 0}, {"nb201 c16 1x1 @32", 64, 16, 32, 1, 0, 1, 1, 0},
    {"nb201 c32 3x3 @16", 64, 32, 16, 3, 1, 1, 1, 0}, {"nb201 c32 1x1 @16", 64, 32, 16, 1, 0, 1, 1, 0},
    {"nb201 c64 3x3 @8", 64, 64, 8, 3, 1, 1, 1, 0},   {"nb201 c64 1x1 @8", 64, 64, 8, 1, 0, 1, 1, 0},
    {"darts c36 3x3 @32", 96, 36, 32, 3, 1, 1, 1, 0}, {"darts c36 1x1 @32", 96, 36, 32, 1, 0, 1, 1, 0},
    {"darts c72 3x3 @16", 96, 72, 16, 3, 1, 1, 1, 0}, {"darts c72 1x1 @16", 96, 72, 16, 1, 0, 1, 1, 0},
    /* DARTS depthwise convolutions (sep_conv, dil_conv) at batch 96: normal cells at C = 36,
     * 72, 144; stride 2 in reduction cells (their inputs at 32 and 16 pixels) */
    {"dw c36 3x3 @32", 96, 36, 32, 3, 1, 1, 1, 1},
    {"dw c36 5x5 @32", 96, 36, 32, 5, 2, 1, 1, 1},
    {"dw c36 3x3 d2 @32", 96, 36, 32, 3, 2, 1, 2, 1},
    {"dw c36 5x5 d2 @32", 96, 36, 32, 5, 4, 1, 2, 1},
    {"dw c72 3x3 @16", 96, 72, 16, 3, 1, 1, 1, 1},
    {"dw c72 5x5 @16", 96, 72, 16, 5, 2, 1, 1, 1},
    {"dw c72 3x3 d2 @16", 96, 72, 16, 3, 2, 1, 2, 1},
    {"dw c72 5x5 d2 @16", 96, 72, 16, 5, 4, 1, 2, 1},
    {"dw c144 3x3 @8", 96, 144, 8, 3, 1, 1, 1, 1},
    {"dw c144 5x5 @8", 96, 144, 8, 5, 2, 1, 1, 1},
    {"dw c144 3x3 d2 @8", 96, 144, 8, 3, 2, 1, 2, 1},
    {"dw c144 5x5 d2 @8", 96, 144, 8, 5, 4, 1, 2, 1},
    {"dw c72 3x3 s2 @32", 96, 72, 32, 3, 1, 2, 1, 1},
    {"dw c72 5x5 s2 @32", 96, 72, 32, 5, 2, 2, 1, 1},
    {"dw c72 3x3 d2 s2 @32", 96, 72, 32, 3, 2, 2, 2, 1},
    {"dw c144 3x3 s2 @16", 96, 144, 16, 3, 1, 2, 1, 1},
    {"dw c144 5x5 s2 @16", 96, 144, 16, 5, 2, 2, 1, 1},
    {"dw c144 5x5 d2 s2 @16", 96, 144, 16, 5, 4, 2, 2, 1},
};
static int isa_main(int threads, int rounds, const char *filter) {
    enum { MAXR = 64 };
    if (rounds > MAXR) rounds = MAXR;
    const int have = dnas_cpu_has_avx512();
    printf("isa: %d threads, AVX-512 kernels %s; median ms per call, ratio = avx512 / avx2\n",
           threads, have ? "available" : "NOT available (both runs are avx2)");
    const int prev_impl = dnas_cpu_conv_impl;
    dnas_cpu_conv_impl = DNAS_CONV_OURS;
    int bad = 0;
    for (size_t si = 0; si < sizeof IS / sizeof IS[0]; si++) {
        const ishape *c = &IS[si];
        if (filter && !strstr(c->name, filter)) continue;
        const int st = c->stride, dil = c->dil;
        const int oh = (c->h + 2 * c->pad - dil * (c->k - 1) - 1) / st + 1;
        dnas_conv_p p = {c->c, c->c, c->k, c->k, st, c->pad, dil, c->dw ? c->c : 1};
        dnas_shape xs = {c->n, c->c, c->h, c->h}, ys = {c->n, c->c, oh, oh};
        size_t nx = dnas_shape_numel(xs), ny = dnas_shape_numel(ys);
        size_t nw = (size_t)c->c * (c->dw ? 1 : c->c) * c->k * c->k;
        size_t nout = nx > ny ? nx : ny;
        float *x = aligned_alloc(64, (nx + 16) * 4), *dy = aligned_alloc(64, (ny + 16) * 4);
        float *out[2], *dw[2];
        out[0] = aligned_alloc(64, (nout + 16) * 4), out[1] = aligned_alloc(64, (nout + 16) * 4);
        dw[0] = aligned_alloc(64, (nw + 16) * 4), dw[1] = aligned_alloc(64, (nw + 16) * 4);
        float *w = aligned_alloc(64, (nw + 16) * 4);
        if (!x || !dy || !out[0] || !out[1] || !dw[0] || !dw[1] || !w) return 1;
        for (size_t j = 0; j < nx; j++) x[j] = (float)rand() / (float)RAND_MAX - 0.5f;
        for (size_t j = 0; j < ny; j++) dy[j] = (float)rand() / (float)RAND_MAX - 0.5f;
        for (size_t j = 0; j < nw; j++) w[j] = (float)rand() / (float)RAND_MAX - 0.5f;
        for (int dir = 0; dir < 3; dir++) {
            static double ts[2][MAXR];
            for (int r = -1; r < rounds; r++)
                for (int i = 0; i < 2; i++) {
                    dnas_cpu_isa = i ? DNAS_ISA_AVX512 : DNAS_ISA_AVX2;
                    if (dir == 2) memset(dw[i], 0, nw * 4);
                    double t0 = dnas_now_s();
                    if (dir == 0) check(be->conv2d_fwd(be, &p, out[i], ys, x, xs, w, NULL), "fwd");
                    else if (dir == 1)
                        check(be->conv2d_bwd_data(be, &p, out[i], 0, xs, dy, ys, w), "bwd_d");
                    else check(be->conv2d_bwd_weight(be, &p, dw[i], NULL, x, xs, dy, ys), "bwd_w");
                    if (r >= 0) ts[i][r] = dnas_now_s() - t0;
                }
            const int same = dir == 2 ? !memcmp(dw[0], dw[1], nw * 4)
                                      : !memcmp(out[0], out[1], (dir == 0 ? ny : nx) * 4);
            bad += !same;
            double med[2];
            for (int i = 0; i < 2; i++) {
                qsort(ts[i], (size_t)rounds, sizeof(double), cmp_d);
                med[i] = ts[i][rounds / 2];
            }
            /* the ratio of the fastest calls too: on a loaded machine, the least disturbed */
            printf("%-21s %-5s  avx2 %7.2f ms  avx512 %7.2f ms  ratio %.2f (of minima %.2f)%s\n",
                   c->name, dir == 0 ? "fwd" : dir == 1 ? "bwd_d" : "bwd_w", 1e3 * med[0],
                   1e3 * med[1], med[1] / med[0], ts[1][0] / ts[0][0],
                   same ? "" : "  OUTPUTS DIFFER");
            fflush(stdout);
        }
        free(x), free(dy), free(out[0]), free(out[1]), free(dw[0]), free(dw[1]), free(w);
    }
    dnas_cpu_conv_impl = prev_impl;
    dnas_cpu_isa = DNAS_ISA_AUTO;
    return bad ? 1 : 0;
}

/* ---- `bench_kernels bn [threads=2] [rounds=15]`: batch norm at the DARTS evaluation
 * network's shapes (batch 96), train forward and backward, median per call. Compare builds
 * by alternating processes. */
static int bn_main(int rounds) {
    enum { MAXR = 64 };
    static const int CH[3] = {36, 72, 144}, HW[3] = {32, 16, 8};
    if (rounds > MAXR) rounds = MAXR;
    for (int si = 0; si < 3; si++) {
        dnas_shape xs = {96, CH[si], HW[si], HW[si]};
        size_t n = dnas_shape_numel(xs), C = (size_t)CH[si];
        float *x = aligned_alloc(64, n * 4), *y = aligned_alloc(64, n * 4);
        float *dx = aligned_alloc(64, n * 4), *pc = calloc(8 * C, 4);
        if (!x || !y || !dx || !pc) return 1;
        for (size_t j = 0; j < n; j++) x[j] = (float)rand() / (float)RAND_MAX - 0.5f;
        for (size_t c = 0; c < C; c++) pc[c] = 1.0f;
        dnas_bn_p p = {1e-5f, 0.1f, 0};
        double tf[MAXR], tb[MAXR];
        for (int r = -1; r < rounds; r++) {
            double t0 = dnas_now_s();
            check(be->bn_fwd_train(be, &p, y, pc + C, pc + 2 * C, NULL, NULL, x, xs, pc, NULL),
                  "bn fwd");
            double t1 = dnas_now_s();
            check(be->bn_bwd(be, dx, 0, pc + 3 * C, pc + 4 * C, x, 1.0f, NULL, y, xs, pc + C, pc + 2 * C, pc),
                  "bn bwd");
            double t2 = dnas_now_s();
            if (r >= 0) tf[r] = t1 - t0, tb[r] = t2 - t1;
        }
        qsort(tf, (size_t)rounds, sizeof(double), cmp_d);
        qsort(tb, (size_t)rounds, sizeof(double), cmp_d);
        printf("bn %3dc %2dx%-2d  fwd %7.3f ms  bwd %7.3f ms\n", CH[si], HW[si], HW[si],
               1e3 * tf[rounds / 2], 1e3 * tb[rounds / 2]);
        free(x), free(y), free(dx), free(pc);
    }
    return 0;
}

/* The machine's DRAM bandwidth for scale (y = 1.5 x over 256 MiB arrays, 8x the L3; best of
 * 5), the roof for the rows above: their "cold" pool is not evicted as thoroughly as a
 * training step's tensors are, and in a step the memory-bound kernels run near this rate
 * (session 12, engine.md). Bytes counted: one read and one write per float. */
static void dram_row(int threads) {
    const size_t n = (size_t)64 << 20;
    float *a = aligned_alloc(64, n * sizeof(float)), *b = aligned_alloc(64, n * sizeof(float));
    if (!a || !b) {
        free(a), free(b);
        return;
    }
    memset(a, 0, n * sizeof(float)), memset(b, 0, n * sizeof(float));
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        const double t0 = dnas_now_s();
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
        for (size_t i = 0; i < n; i++) b[i] = 1.5f * a[i];
        const double dt = dnas_now_s() - t0;
        if (dt < best) best = dt;
    }
    printf("%-18s %10s %9s %10.3f %9.1f   (256 MiB arrays: DRAM)\n", "dram scale", "-", "-",
           best * 1e3, 2.0 * n * sizeof(float) / best * 1e-9);
    free(a), free(b);
    (void)threads;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "bn")) {
        check(dnas_backend_cpu_create(argc > 2 ? atoi(argv[2]) : 2, &be), "create");
        srand(1);
        int rc = bn_main(argc > 3 ? atoi(argv[3]) : 15);
        dnas_backend_destroy(be);
        return rc;
    }
    if (argc > 1 && !strcmp(argv[1], "isa")) {
        int th = argc > 2 ? atoi(argv[2]) : 2, rounds = argc > 3 ? atoi(argv[3]) : 9;
        check(dnas_backend_cpu_create(th, &be), "create");
        srand(1);
        int rc = isa_main(th, rounds, argc > 4 ? argv[4] : NULL);
        dnas_backend_destroy(be);
        return rc;
    }
    if (argc > 1 && !strcmp(argv[1], "conv")) {
        int th = argc > 2 ? atoi(argv[2]) : 2, rounds = argc > 3 ? atoi(argv[3]) : 9;
        check(dnas_backend_cpu_create(th, &be), "create");
        srand(1);
        int rc = conv_main(th, rounds, argc > 4 ? argv[4] : NULL);
        dnas_backend_destroy(be);
        return rc;
    }
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    double secs = argc > 2 ? atof(argv[2]) : 0.3;
    check(dnas_backend_cpu_create(threads, &be), "create");
    srand(1);
    for (int i = 0; i < NT; i++) {
        T[i] = aligned_alloc(64, NX * sizeof(float));
        if (!T[i]) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
        for (size_t j = 0; j < NX; j++) T[i][j] = (float)rand() / (float)RAND_MAX - 0.5f;
    }
    float *small = calloc(6 * 16, sizeof(float));
    if (!small) return 1;
    gam = small, bet = small + 16, smean = small + 32, sinv = small + 48, dgam = small + 64,
    dbet = small + 80;
    for (int c = 0; c < 16; c++) gam[c] = 1.0f, sinv[c] = 1.0f;
    for (int c = 0; c < 16; c++) bnm[c] = 0.01f * c, bna[c] = 1.0f + 0.1f * c, bnb[c] = 0.02f * c;

    const bench B[] = {
        {"copy (chancopy)", k_copy, 2, 2},   {"bn fwd (train)", k_bn_fwd, 2, 2},
        {"bn bwd", k_bn_bwd, 3, 3},          {"relu fwd", k_relu_fwd, 2, 2},
        {"relu bwd", k_relu_bwd, 3, 3},      {"wsum fwd k=4", k_wsum_fwd, 5, 5},
        {"wsum bwd k=4", k_wsum_bwd, 9, 9},  {"avgpool 3x3 fwd", k_avg_fwd, 2, 2},
        {"avgpool 3x3 bwd", k_avg_bwd, 2, 2}, {"maxpool 3x3 fwd", k_max_fwd, 2, 2},
        {"maxpool 3x3 bwd", k_max_bwd, 3, 3}, {"wsum k=4 one pool", k_wsum_pool_fwd, 4, 4},
        {"avgpool bwd mix", k_avg_bwd_mix, 3, 3}, {"wsum NB201 node k=12", k_wsum_node3, 10, 10},
    };
    printf("64x32x32x16 NHWC float (%.1f MiB/tensor), %d threads\n",
           NX * sizeof(float) / 1048576.0, threads);
    printf("%-18s %10s %9s %10s %9s\n", "kernel", "hot ms", "GB/s", "cold ms", "GB/s");
    for (size_t i = 0; i < sizeof B / sizeof B[0]; i++) {
        double bytes = (double)B[i].moved * NX * sizeof(float);
        double th = measure(&B[i], 0, secs), tc = measure(&B[i], 1, secs);
        printf("%-18s %10.3f %9.1f %10.3f %9.1f\n", B[i].name, th * 1e3, bytes / th * 1e-9,
               tc * 1e3, bytes / tc * 1e-9);
    }
    dram_row(threads);
    for (int i = 0; i < NT; i++) free(T[i]);
    free(small);
    dnas_backend_destroy(be);
    return 0;
}
