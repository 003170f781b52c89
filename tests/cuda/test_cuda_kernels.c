/* CUDA backend kernels against the double-precision reference (issue #17).
 *
 * Built only when nvcc is present, into $(BUILD)/cuda/ (not $(BUILD)/tests/, so the CPU
 * suite's runner never starts it); bench/gpu-check.sh runs it on a lent GPU. Every kernel gets
 * random inputs; the reference sees the same values in double; the error is
 * max|cuda - ref| / (max|ref| + 1e-6) per output tensor. Each kernel prints its worst error,
 * then PASS/FAIL against its tolerance:
 *   TOL      1e-5  element-wise, pooling, copies, wsum, gap, xent
 *   TOL_RED  1e-4  conv (cuDNN's summation order, FMA math), linear, BN (float statistics)
 * With no device it prints one SKIP line and exits 0. DNAS_CUDA_TF32=1 would break these
 * tolerances by design: the test refuses to run with it. */
#include "test.h"
#include <stdint.h>
#include <cuda_runtime_api.h>
#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/ref/ref.h"

#define TOL 1e-5
#define TOL_RED 1e-4

static dnas_backend *be;

/* ---- memory: host scratch and device copies, all freed per case ---- */
static void *h_mem[4096], *d_mem[4096];
static int h_n, d_n;
static void *halloc(size_t b) {
    void *p = calloc(b ? b : 1, 1);
    if (!p || h_n == 4096) { printf("test out of host memory\n"); exit(2); }
    return h_mem[h_n++] = p;
}
static void free_all(void) {
    while (h_n) free(h_mem[--h_n]);
    while (d_n) cudaFree(d_mem[--d_n]);
}
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float urand(float lo, float hi) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return lo + (hi - lo) * (float)((rng >> 40) * (1.0 / 16777216.0));
}
static float *fvec(size_t n, float lo, float hi) {
    float *v = halloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = urand(lo, hi);
    return v;
}
static double *dvec(const float *f, size_t n) {
    if (!f) return NULL;
    double *v = halloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = f[i];
    return v;
}
/* device copy of a host vector (NULL stays NULL) */
static float *up(const float *h, size_t n) {
    if (!h) return NULL;
    void *d = NULL;
    if (cudaMalloc(&d, n ? n * sizeof(float) : 4) != cudaSuccess || d_n == 4096) {
        printf("cudaMalloc failed\n"); exit(2);
    }
    d_mem[d_n++] = d;
    if (n) cudaMemcpy(d, h, n * sizeof(float), cudaMemcpyHostToDevice);
    return d;
}
static float *down(const float *d, size_t n) {
    float *h = halloc(n * sizeof *h);
    if (cudaDeviceSynchronize() != cudaSuccess ||
        cudaMemcpy(h, d, n * sizeof(float), cudaMemcpyDeviceToHost) != cudaSuccess)
        printf("  cuda copy back failed: %s\n", cudaGetErrorString(cudaGetLastError()));
    return h;
}

/* ---- comparison: worst per case ---- */
static double worst;
static char worst_what[160];
static char what[160];
#define WHAT(...) (snprintf(what, sizeof what, __VA_ARGS__), what)
static void expect_close(const char *w, const float *dev, const double *r, size_t n, double tol) {
    const float *a = down(dev, n);
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - r[i]);
        if (!(d <= md)) md = d;
        if (fabs(r[i]) > mr) mr = fabs(r[i]);
    }
    const double e = md / (mr + 1e-6);
    if (!(e <= worst)) { worst = e; snprintf(worst_what, sizeof worst_what, "%s", w); }
    CHECK(e < tol, "%s: error %.3e >= %.0e", w, e, tol);
}
static void ok(dnas_status st, const char *w) {
    CHECK(st == DNAS_OK, "%s returned %s: %s", w, dnas_status_string(st), dnas_last_error());
}
static void begin(void) { worst = 0; worst_what[0] = 0; }
static void report(void) {
    printf("  worst error %.2e (%s)\n", worst, worst_what[0] ? worst_what : "all exact");
    free_all();
}

/* ================================ conv ================================ */
typedef struct { int cin, cout, k, s, pad, dil, groups, n, h, w; } conv_case;
static const conv_case CONVS[] = {
    {16, 16, 3, 1, 1, 1, 1, 4, 8, 8},   /* ReLUConvBN 3x3 */
    {16, 16, 3, 2, 1, 1, 16, 2, 7, 5},  /* depthwise, stride 2, odd sizes */
    {16, 16, 5, 1, 4, 2, 16, 2, 9, 9},  /* dilated depthwise (dil_conv_5x5) */
    {8, 16, 1, 2, 0, 1, 1, 4, 8, 8},    /* FactorizedReduce, first branch */
    {8, 16, 1, 2, -1, 1, 1, 4, 8, 8},   /* FactorizedReduce, shifted branch: crop */
    {12, 6, 3, 1, 1, 1, 3, 2, 6, 6},    /* grouped */
    {3, 16, 3, 1, 1, 1, 1, 8, 32, 32},  /* stem */
};
static dnas_shape conv_out(const conv_case *c) {
    const int crop = c->pad < 0 ? -c->pad : 0, pad = c->pad < 0 ? 0 : c->pad;
    const int oh = (c->h - crop + 2 * pad - c->dil * (c->k - 1) - 1) / c->s + 1;
    const int ow = (c->w - crop + 2 * pad - c->dil * (c->k - 1) - 1) / c->s + 1;
    return dnas_shape4(c->n, c->cout, oh, ow);
}
static void test_conv2d(void) {
    begin();
    for (size_t t = 0; t < sizeof CONVS / sizeof CONVS[0]; t++) {
        const conv_case *c = &CONVS[t];
        dnas_conv_p p = {c->cin, c->cout, c->k, c->k, c->s, c->pad, c->dil, c->groups};
        dnas_shape xs = dnas_shape4(c->n, c->cin, c->h, c->w), ys = conv_out(c);
        const size_t nx = dnas_shape_numel(xs), ny = dnas_shape_numel(ys);
        const size_t nw = (size_t)c->cout * c->k * c->k * (c->cin / c->groups);
        float *x = fvec(nx, -1, 1), *w = fvec(nw, -1, 1), *b = fvec(c->cout, -1, 1);
        float *dy = fvec(ny, -1, 1), *dx0 = fvec(nx, -1, 1), *dw0 = fvec(nw, -1, 1);
        float *db0 = fvec(c->cout, -1, 1);
        double *ry = dvec(fvec(ny, 0, 0), ny);
        dnas_ref_conv2d_fwd(&p, ry, ys, dvec(x, nx), xs, dvec(w, nw), dvec(b, c->cout));
        float *y = up(fvec(ny, 0, 0), ny);
        ok(be->conv2d_fwd(be, &p, y, ys, up(x, nx), xs, up(w, nw), up(b, c->cout)), "conv fwd");
        expect_close(WHAT("conv fwd case %zu", t), y, ry, ny, TOL_RED);
        for (int acc = 0; acc < 2; acc++) {
            double *rdx = dvec(dx0, nx);
            dnas_ref_conv2d_bwd_data(&p, rdx, acc, xs, dvec(dy, ny), ys, dvec(w, nw));
            float *dx = up(dx0, nx);
            ok(be->conv2d_bwd_data(be, &p, dx, acc, xs, up(dy, ny), ys, up(w, nw)), "conv bwd data");
            expect_close(WHAT("conv bwd_data case %zu acc %d", t, acc), dx, rdx, nx, TOL_RED);
        }
        double *rdw = dvec(dw0, nw), *rdb = dvec(db0, c->cout);
        dnas_ref_conv2d_bwd_weight(&p, rdw, rdb, dvec(x, nx), xs, dvec(dy, ny), ys);
        float *dw = up(dw0, nw), *db = up(db0, c->cout);
        ok(be->conv2d_bwd_weight(be, &p, dw, db, up(x, nx), xs, up(dy, ny), ys), "conv bwd weight");
        expect_close(WHAT("conv bwd_weight dw case %zu", t), dw, rdw, nw, TOL_RED);
        expect_close(WHAT("conv bwd_weight db case %zu", t), db, rdb, c->cout, TOL_RED);
    }
    report();
}

/* ================================ BN ================================ */
static const dnas_shape BNS[] = {{4, 16, 8, 8}, {2, 3, 5, 7}, {64, 64, 8, 8}, {1, 5, 1, 1}};
static void test_bn(void) {
    begin();
    dnas_bn_p p = {1e-5f, 0.1f, 0};
    for (size_t t = 0; t < sizeof BNS / sizeof BNS[0]; t++) {
        const dnas_shape xs = BNS[t];
        const size_t n = dnas_shape_numel(xs), C = (size_t)xs.c;
        float *x = fvec(n, -2, 3), *g = fvec(C, 0.5f, 1.5f), *bt = fvec(C, -1, 1);
        float *rm0 = fvec(C, -1, 1), *rv0 = fvec(C, 0.5f, 2), *dy = fvec(n, -1, 1);
        float *dx0 = fvec(n, -1, 1), *dg0 = fvec(C, -1, 1), *db0 = fvec(C, -1, 1);
        double *ry = dvec(fvec(n, 0, 0), n), *rmean = dvec(fvec(C, 0, 0), C);
        double *rinv = dvec(fvec(C, 0, 0), C), *rrm = dvec(rm0, C), *rrv = dvec(rv0, C);
        dnas_ref_bn_fwd_train(&p, ry, rmean, rinv, rrm, rrv, dvec(x, n), xs, dvec(g, C), dvec(bt, C));
        float *y = up(fvec(n, 0, 0), n), *mean = up(fvec(C, 0, 0), C), *inv = up(fvec(C, 0, 0), C);
        float *rm = up(rm0, C), *rv = up(rv0, C), *dxd = up(x, n);
        ok(be->bn_fwd_train(be, &p, y, mean, inv, rm, rv, dxd, xs, up(g, C), up(bt, C)), "bn train");
        expect_close(WHAT("bn train y %d", (int)t), y, ry, n, TOL_RED);
        expect_close(WHAT("bn train mean %d", (int)t), mean, rmean, C, TOL_RED);
        expect_close(WHAT("bn train invstd %d", (int)t), inv, rinv, C, TOL_RED);
        expect_close(WHAT("bn running_mean %d", (int)t), rm, rrm, C, TOL_RED);
        expect_close(WHAT("bn running_var %d", (int)t), rv, rrv, C, TOL_RED);
        /* eval with the (reference's) running stats */
        double *rye = dvec(fvec(n, 0, 0), n);
        dnas_ref_bn_fwd_eval(&p, rye, dvec(x, n), xs, dvec(rm0, C), dvec(rv0, C), dvec(g, C), NULL);
        float *ye = up(fvec(n, 0, 0), n);
        ok(be->bn_fwd_eval(be, &p, ye, dxd, xs, up(rm0, C), up(rv0, C), up(g, C), NULL), "bn eval");
        expect_close(WHAT("bn eval %d", (int)t), ye, rye, n, TOL_RED);
        /* backward from the reference's saved statistics, so only bwd's error is measured */
        float *hmean = halloc(C * sizeof(float)), *hinv = halloc(C * sizeof(float));
        for (size_t c = 0; c < C; c++) { hmean[c] = (float)rmean[c]; hinv[c] = (float)rinv[c]; }
        for (int acc = 0; acc < 2; acc++) {
            double *rdx = dvec(dx0, n), *rdg = dvec(dg0, C), *rdb = dvec(db0, C);
            dnas_ref_bn_bwd(rdx, acc, rdg, rdb, dvec(dy, n), dvec(x, n), xs, dvec(hmean, C),
                            dvec(hinv, C), dvec(g, C));
            float *ddx = up(dx0, n), *ddg = up(dg0, C), *ddb = up(db0, C);
            ok(be->bn_bwd(be, ddx, acc, ddg, ddb, up(dy, n), 1.0f, NULL, dxd, xs, up(hmean, C), up(hinv, C),
                          up(g, C)), "bn bwd");
            expect_close(WHAT("bn bwd dx %d acc %d", (int)t, acc), ddx, rdx, n, TOL_RED);
            expect_close(WHAT("bn bwd dgamma %d", (int)t), ddg, rdg, C, TOL_RED);
            expect_close(WHAT("bn bwd dbeta %d", (int)t), ddb, rdb, C, TOL_RED);
        }
    }
    report();
}

/* ================================ element-wise ================================ */
static void test_relu(void) {
    begin();
    const size_t n = 100003;
    float *x = fvec(n, -1, 1), *dy = fvec(n, -1, 1), *dx0 = fvec(n, -1, 1);
    x[0] = 0.f; /* the kink: gradient 0 */
    double *ry = dvec(fvec(n, 0, 0), n);
    dnas_ref_relu_fwd(ry, dvec(x, n), n);
    float *y = up(fvec(n, 0, 0), n);
    ok(be->relu_fwd(be, y, up(x, n), n), "relu fwd");
    expect_close("relu fwd", y, ry, n, TOL);
    for (int acc = 0; acc < 2; acc++) {
        double *rdx = dvec(dx0, n);
        dnas_ref_relu_bwd(rdx, acc, dvec(dy, n), ry, n);
        float *dx = up(dx0, n);
        ok(be->relu_bwd(be, dx, acc, up(dy, n), y, n), "relu bwd");
        expect_close(WHAT("relu bwd acc %d", acc), dx, rdx, n, TOL);
    }
    report();
}

typedef struct { int k, s, pad, cip; dnas_shape xs; } pool_case;
static const pool_case POOLS[] = {
    {3, 1, 1, 0, {4, 16, 8, 8}}, {3, 2, 1, 0, {2, 3, 7, 5}}, {3, 1, 1, 1, {2, 8, 5, 5}},
    {2, 2, 0, 0, {2, 4, 8, 8}},  {3, 2, 1, 1, {64, 16, 8, 8}},
};
static void test_pool(int max) {
    begin();
    for (size_t t = 0; t < sizeof POOLS / sizeof POOLS[0]; t++) {
        const pool_case *c = &POOLS[t];
        dnas_pool_p p = {c->k, c->s, c->pad, c->cip};
        const dnas_shape xs = c->xs;
        const dnas_shape ys = dnas_shape4(xs.n, xs.c, (xs.h + 2 * c->pad - c->k) / c->s + 1,
                                          (xs.w + 2 * c->pad - c->k) / c->s + 1);
        const size_t nx = dnas_shape_numel(xs), ny = dnas_shape_numel(ys);
        float *x = fvec(nx, -1, 1), *dy = fvec(ny, -1, 1), *dx0 = fvec(nx, -1, 1);
        /* ties: a constant stretch exercises the first-maximum rule */
        for (size_t i = 0; i < nx / 8; i++) x[i] = 0.5f;
        double *ry = dvec(fvec(ny, 0, 0), ny);
        float *y = up(fvec(ny, 0, 0), ny), *xd = up(x, nx);
        if (max) {
            dnas_ref_maxpool_fwd(&p, ry, ys, dvec(x, nx), xs);
            ok(be->maxpool_fwd(be, &p, y, ys, xd, xs), "maxpool fwd");
        } else {
            dnas_ref_avgpool_fwd(&p, ry, ys, dvec(x, nx), xs);
            ok(be->avgpool_fwd(be, &p, y, ys, xd, xs), "avgpool fwd");
        }
        expect_close(WHAT("%s fwd case %zu", max ? "maxpool" : "avgpool", t), y, ry, ny, TOL);
        for (int acc = 0; acc < 2; acc++) {
            double *rdx = dvec(dx0, nx);
            float *dx = up(dx0, nx);
            if (max) {
                dnas_ref_maxpool_bwd(&p, rdx, acc, xs, dvec(x, nx), dvec(dy, ny), ys);
                ok(be->maxpool_bwd(be, &p, dx, acc, xs, xd, up(dy, ny), ys), "maxpool bwd");
            } else {
                dnas_ref_avgpool_bwd(&p, rdx, acc, xs, dvec(dy, ny), ys);
                ok(be->avgpool_bwd(be, &p, dx, acc, xs, up(dy, ny), ys), "avgpool bwd");
            }
            expect_close(WHAT("%s bwd case %zu acc %d", max ? "maxpool" : "avgpool", t, acc), dx,
                         rdx, nx, TOL);
        }
    }
    report();
}
static void test_avgpool(void) { test_pool(0); }
static void test_maxpool(void) { test_pool(1); }

static void test_wsum(void) {
    begin();
    const int ks[] = {1, 3, 8, 20}; /* 20 > the kernel's 16-pointer chunk */
    const size_t n = 4 * 8 * 8 * 16 + 7;
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        const int k = ks[t];
        const float *xh[32];
        const double *xr[32];
        const float *xd[32];
        float *dxd[32];
        double *rdx[32];
        int acc[32];
        float *m = fvec((size_t)k, 0, 1), *dy = fvec(n, -1, 1), *dx0 = fvec(n, -1, 1);
        for (int i = 0; i < k; i++) {
            float *xi = fvec(n, -1, 1);
            xh[i] = xi;
            xr[i] = dvec(xi, n);
            xd[i] = up(xi, n);
            acc[i] = i & 1;
            rdx[i] = i == 2 ? NULL : dvec(dx0, n); /* one gradient not wanted */
            dxd[i] = i == 2 ? NULL : up(dx0, n);
        }
        double *ry = dvec(fvec(n, 0, 0), n), *rdm = dvec(fvec((size_t)k, 0, 0), (size_t)k);
        dnas_ref_wsum_fwd(ry, n, k, xr, dvec(m, (size_t)k));
        float *y = up(fvec(n, 0, 0), n), *md = up(m, (size_t)k);
        ok(be->wsum_fwd(be, y, n, k, xd, md), "wsum fwd");
        expect_close(WHAT("wsum fwd k %d", k), y, ry, n, TOL);
        dnas_ref_wsum_bwd(rdx, acc, rdm, n, k, dvec(dy, n), xr, dvec(m, (size_t)k));
        float *dm = up(fvec((size_t)k, 0, 0), (size_t)k);
        ok(be->wsum_bwd(be, dxd, acc, dm, n, k, up(dy, n), xd, md), "wsum bwd");
        expect_close(WHAT("wsum bwd dm k %d", k), dm, rdm, (size_t)k, TOL);
        for (int i = 0; i < k; i++)
            if (dxd[i]) expect_close(WHAT("wsum bwd dx[%d] k %d", i, k), dxd[i], rdx[i], n, TOL);
        (void)xh;
    }
    report();
}

static void test_gap(void) {
    begin();
    const dnas_shape xs = {64, 64, 8, 8};
    const size_t n = dnas_shape_numel(xs), nc = (size_t)xs.n * xs.c;
    float *x = fvec(n, -1, 1), *dy = fvec(nc, -1, 1), *dx0 = fvec(n, -1, 1);
    double *ry = dvec(fvec(nc, 0, 0), nc);
    dnas_ref_gap_fwd(ry, dvec(x, n), xs);
    float *y = up(fvec(nc, 0, 0), nc);
    ok(be->gap_fwd(be, y, up(x, n), xs), "gap fwd");
    expect_close("gap fwd", y, ry, nc, TOL);
    for (int acc = 0; acc < 2; acc++) {
        double *rdx = dvec(dx0, n);
        dnas_ref_gap_bwd(rdx, acc, xs, dvec(dy, nc));
        float *dx = up(dx0, n);
        ok(be->gap_bwd(be, dx, acc, xs, up(dy, nc)), "gap bwd");
        expect_close(WHAT("gap bwd acc %d", acc), dx, rdx, n, TOL);
    }
    report();
}

static void test_linear(void) {
    begin();
    const int N = 64, IN = 256, OUT = 10;
    const size_t nx = (size_t)N * IN, ny = (size_t)N * OUT, nw = (size_t)OUT * IN;
    float *x = fvec(nx, -1, 1), *w = fvec(nw, -1, 1), *b = fvec(OUT, -1, 1), *dy = fvec(ny, -1, 1);
    float *dx0 = fvec(nx, -1, 1), *dw0 = fvec(nw, -1, 1), *db0 = fvec(OUT, -1, 1);
    for (int withb = 0; withb < 2; withb++) {
        double *ry = dvec(fvec(ny, 0, 0), ny);
        dnas_ref_linear_fwd(ry, dvec(x, nx), dvec(w, nw), withb ? dvec(b, OUT) : NULL, N, IN, OUT);
        float *y = up(fvec(ny, 0, 0), ny);
        ok(be->linear_fwd(be, y, up(x, nx), up(w, nw), withb ? up(b, OUT) : NULL, N, IN, OUT),
           "linear fwd");
        expect_close(WHAT("linear fwd bias %d", withb), y, ry, ny, TOL_RED);
    }
    for (int acc = 0; acc < 2; acc++) {
        double *rdx = dvec(dx0, nx), *rdw = dvec(dw0, nw), *rdb = dvec(db0, OUT);
        dnas_ref_linear_bwd(rdx, acc, rdw, rdb, dvec(dy, ny), dvec(x, nx), dvec(w, nw), N, IN, OUT);
        float *dx = up(dx0, nx), *dw = up(dw0, nw), *db = up(db0, OUT);
        ok(be->linear_bwd(be, dx, acc, dw, db, up(dy, ny), up(x, nx), up(w, nw), N, IN, OUT),
           "linear bwd");
        expect_close(WHAT("linear bwd dx acc %d", acc), dx, rdx, nx, TOL_RED);
        expect_close("linear bwd dw", dw, rdw, nw, TOL_RED);
        expect_close("linear bwd db", db, rdb, OUT, TOL_RED);
    }
    report();
}

static void test_xent(void) {
    begin();
    const int ns[] = {64, 7}, kk[] = {10, 100};
    for (int t = 0; t < 2; t++) {
        const int N = ns[t], K = kk[t];
        const size_t nl = (size_t)N * K;
        float *l = fvec(nl, -5, 5);
        int *lab = halloc((size_t)N * sizeof(int));
        for (int r = 0; r < N; r++) lab[r] = (int)urand(0, (float)K - 0.01f);
        l[1] = l[0]; /* an argmax tie in row 0 */
        double *rp = dvec(fvec(nl, 0, 0), nl), rloss = 0;
        int rc = 0;
        dnas_ref_xent_fwd(rp, &rloss, &rc, dvec(l, nl), lab, N, K);
        float *pr = up(fvec(nl, 0, 0), nl), loss = 0;
        int correct = -1;
        ok(be->xent_fwd(be, pr, &loss, &correct, up(l, nl), lab, N, K), "xent fwd");
        expect_close(WHAT("xent probs %d", t), pr, rp, nl, TOL);
        const double le = fabs(loss - rloss) / (fabs(rloss) + 1e-6);
        if (le > worst) { worst = le; snprintf(worst_what, sizeof worst_what, "xent loss"); }
        CHECK(le < TOL, "xent loss %.7g vs %.7g", loss, rloss);
        CHECK(correct == rc, "xent correct %d vs %d", correct, rc);
        double *rdl = dvec(fvec(nl, 0, 0), nl);
        dnas_ref_xent_bwd(rdl, rp, lab, N, K, 0.5);
        float *dl = up(fvec(nl, 0, 0), nl);
        ok(be->xent_bwd(be, dl, pr, lab, N, K, 0.5f), "xent bwd");
        expect_close(WHAT("xent bwd %d", t), dl, rdl, nl, TOL);
    }
    /* a bad label is refused on the host, before any kernel */
    int bad[2] = {0, 10};
    float *pr = up(fvec(20, 0, 0), 20), loss;
    CHECK(be->xent_fwd(be, pr, &loss, NULL, pr, bad, 2, 10) == DNAS_ERR_INVALID_ARG,
          "xent_fwd accepted label 10 of 10 classes");
    report();
}

static void test_chancopy(void) {
    begin();
    const size_t npix = 4 * 8 * 8 + 3;
    const int dc = 48, sc = 32, doff = 16, soff = 8, cnt = 24;
    float *src = fvec(npix * sc, -1, 1), *dst0 = fvec(npix * dc, -1, 1);
    for (int acc = 0; acc < 2; acc++) {
        double *rd = dvec(dst0, npix * dc);
        dnas_ref_chancopy(rd, dc, doff, acc, dvec(src, npix * sc), sc, soff, cnt, npix);
        float *d = up(dst0, npix * dc);
        ok(be->chancopy(be, d, dc, doff, acc, up(src, npix * sc), sc, soff, cnt, npix), "chancopy");
        expect_close(WHAT("chancopy acc %d", acc), d, rd, npix * dc, TOL);
    }
    report();
}

static void test_backend_object(void) {
    CHECK(be && !strcmp(be->name, "cuda"), "name");
    for (int k = 0; k < DNAS_K_COUNT; k++)
        CHECK(be->supports(be, (dnas_kernel_kind)k) == 1, "supports(%s)",
              dnas_kernel_name((dnas_kernel_kind)k));
    CHECK(be->supports(be, DNAS_K_COUNT) == 0, "supports(DNAS_K_COUNT) should be 0");
    dnas_backend *b2 = NULL;
    CHECK(dnas_backend_cuda_create(9999, &b2) == DNAS_ERR_INVALID_ARG && !b2,
          "device 9999 should be refused");
}

int main(void) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        printf("SKIP test_cuda_kernels: no CUDA device (cudaGetDeviceCount: %s)\n",
               e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        return 0;
    }
    const char *tf = getenv("DNAS_CUDA_TF32");
    if (tf && tf[0] == '1') {
        printf("FAIL test_cuda_kernels: unset DNAS_CUDA_TF32 (TF32 cannot meet FP32 tolerances)\n");
        return 1;
    }
    dnas_status st = dnas_backend_cuda_create(0, &be);
    if (st != DNAS_OK) {
        printf("FAIL test_cuda_kernels: dnas_backend_cuda_create: %s\n", dnas_last_error());
        return 1;
    }
    struct cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess)
        printf("device 0: %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
    RUN(test_backend_object);
    RUN(test_conv2d);
    RUN(test_bn);
    RUN(test_relu);
    RUN(test_avgpool);
    RUN(test_maxpool);
    RUN(test_wsum);
    RUN(test_gap);
    RUN(test_linear);
    RUN(test_xent);
    RUN(test_chancopy);
    dnas_backend_destroy(be);
    TEST_EXIT();
}
