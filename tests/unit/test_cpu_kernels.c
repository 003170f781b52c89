/* CPU backend kernels (everything but conv) against the double-precision reference kernels.
 *
 * Inputs are random floats; the reference gets the very same values converted to double, so
 * the error measured is the kernel's own: max|ours - ref| / (max|ref| + 1e-6) per output.
 * Each case prints its worst error. Also: acc = 0 / 1, NULL gradients, running statistics,
 * bit-identical results across runs and thread counts (BN, wsum), argument errors. */
#include "test.h"
#include <stdint.h>
#include "backend/backend.h"
#include "backend/cpu/cpu_internal.h"
#include "backend/ref/ref.h"

#define TOL 1e-5
#define TOL_BN 1e-4 /* BN and xent: float mean/invstd feed every output */

static dnas_backend *be;  /* 2 threads: the configuration the trainer uses on this machine */
static dnas_backend *be1; /* 1 thread: results must not depend on the thread count */

/* ---- scratch memory freed at the end of each case ---- */
static void *t_mem[4096];
static int t_nmem;
static void *talloc(size_t bytes) {
    void *p = calloc(bytes ? bytes : 1, 1);
    if (!p || t_nmem == (int)(sizeof t_mem / sizeof t_mem[0])) {
        printf("test out of memory\n");
        exit(2);
    }
    t_mem[t_nmem++] = p;
    return p;
}
static void tfree_all(void) {
    while (t_nmem) free(t_mem[--t_nmem]);
}

/* ---- deterministic data ---- */
static uint64_t t_rng = 0x9E3779B97F4A7C15ull;
static float urand(float lo, float hi) {
    t_rng ^= t_rng << 13;
    t_rng ^= t_rng >> 7;
    t_rng ^= t_rng << 17;
    return lo + (hi - lo) * (float)((t_rng >> 40) * (1.0 / 16777216.0));
}
static float *fvec(size_t n, float lo, float hi) {
    float *v = talloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = urand(lo, hi);
    return v;
}
static float *fcopy(const float *a, size_t n) {
    float *v = talloc(n * sizeof *v);
    memcpy(v, a, n * sizeof *v);
    return v;
}
static double *dvec(const float *f, size_t n) { /* NULL stays NULL */
    if (!f) return NULL;
    double *v = talloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = f[i];
    return v;
}
static double *dzero(size_t n) { return talloc(n * sizeof(double)); }

/* ---- comparison ---- */
static double t_worst;
static char t_worst_what[160];
static void worst_reset(void) {
    t_worst = 0;
    t_worst_what[0] = 0;
}
static void worst_report(void) {
    printf("  worst error %.2e (%s)\n", t_worst, t_worst_what[0] ? t_worst_what : "all exact");
}

static void expect_close(const char *what, const float *a, const double *r, size_t n,
                         double tol) {
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - r[i]);
        if (!(d <= md)) md = d; /* NaN sticks */
        if (fabs(r[i]) > mr) mr = fabs(r[i]);
    }
    double e = md / (mr + 1e-6);
    if (!(e <= t_worst)) {
        t_worst = e;
        snprintf(t_worst_what, sizeof t_worst_what, "%s", what);
    }
    CHECK(e < tol, "%s: error %.3e >= %.0e", what, e, tol);
}

static void expect_ok(dnas_status st, const char *what) {
    CHECK(st == DNAS_OK, "%s returned %s: %s", what, dnas_status_string(st), dnas_last_error());
}

typedef struct {
    int n, h, w, c;
} shp;
/* small, odd (C not a multiple of 8, H != W), and realistic (block and thread paths) */
static const shp SHAPES[] = {{4, 8, 8, 16}, {2, 5, 7, 3}, {64, 8, 8, 64},
                             /* 8 + 4-lane tails (the DARTS net's 36 channels), 8 + 4 + 3 */
                             {3, 6, 5, 36}, {2, 4, 3, 15}};
#define NSHAPES ((int)(sizeof SHAPES / sizeof SHAPES[0]))
static dnas_shape to_shape(shp s) { return dnas_shape4(s.n, s.c, s.h, s.w); }
static const char *sname(shp s) {
    static char b[64];
    snprintf(b, sizeof b, "%dx%dx%dx%d", s.n, s.h, s.w, s.c);
    return b;
}
static char t_what[160];
#define WHAT(...) (snprintf(t_what, sizeof t_what, __VA_ARGS__), t_what)

/* ================================ backend object ================================ */

static void test_backend_create_supports(void) {
    CHECK(be && strcmp(be->name, "cpu") == 0, "name");
#ifdef _OPENMP
    const int want = 2;
#else
    const int want = 1; /* built without OpenMP: always serial */
#endif
    CHECK(dnas_cpu_threads(be) == want && dnas_cpu_threads(be1) == 1, "threads %d %d",
          dnas_cpu_threads(be), dnas_cpu_threads(be1));
    for (int k = 0; k < DNAS_K_COUNT; k++)
        CHECK(be->supports(be, (dnas_kernel_kind)k) == 1, "supports(%d)", k);
    CHECK(be->supports(be, DNAS_K_COUNT) == 0, "supports(DNAS_K_COUNT) should be 0");
    CHECK(be->conv2d_fwd && be->conv2d_bwd_data && be->conv2d_bwd_weight && be->bn_fwd_train &&
              be->bn_fwd_eval && be->bn_bwd && be->relu_fwd && be->relu_bwd &&
              be->avgpool_fwd && be->avgpool_bwd && be->maxpool_fwd && be->maxpool_bwd &&
              be->wsum_fwd && be->wsum_bwd && be->wsum_affine_fwd && be->bn_bwd_sums &&
              be->avgpool_bwd_mix && be->avgpool_bwd_mix_skip &&
              be->gap_fwd && be->gap_bwd && be->linear_fwd &&
              be->linear_bwd && be->xent_fwd && be->xent_bwd && be->chancopy,
          "vtable has a NULL kernel");
    dnas_backend *d = NULL;
    expect_ok(dnas_backend_cpu_create(0, &d), "create(0)");
    CHECK(d && dnas_cpu_threads(d) >= 1, "default thread count");
    dnas_backend_destroy(d);
    dnas_backend_destroy(NULL); /* allowed, like free(NULL) */
}

static void test_backend_workspace(void) {
    dnas_backend *b = NULL;
    expect_ok(dnas_backend_cpu_create(1, &b), "create");
    if (!b) return;
    void *p1 = NULL, *p2 = NULL, *p3 = NULL;
    expect_ok(dnas_cpu_workspace(b, 1000, &p1), "ws 1000");
    CHECK(p1 && ((uintptr_t)p1 & 63) == 0, "workspace not 64-byte aligned");
    memset(p1, 1, 1000);
    expect_ok(dnas_cpu_workspace(b, 10, &p2), "ws 10");
    CHECK(p2 == p1, "a smaller request must reuse the buffer");
    expect_ok(dnas_cpu_workspace(b, (size_t)1 << 20, &p3), "ws 1 MiB");
    CHECK(p3 != NULL, "grown workspace");
    if (p3) memset(p3, 2, (size_t)1 << 20);

    /* Growing fails cleanly with OOM and a message; the backend stays usable. */
    dnas_failing_allocator fa;
    dnas_failing_allocator_install(&fa, 1);
    void *p4 = (void *)1;
    dnas_clear_error();
    dnas_status st = dnas_cpu_workspace(b, (size_t)8 << 20, &p4);
    dnas_set_allocator(NULL);
    CHECK(st == DNAS_ERR_OOM && p4 == NULL, "expected OOM, got %s", dnas_status_string(st));
    CHECK(strstr(dnas_last_error(), "workspace") != NULL, "message: '%s'", dnas_last_error());
    expect_ok(dnas_cpu_workspace(b, (size_t)8 << 20, &p4), "ws after OOM");

    /* Creation under OOM: each allocation failing in turn is reported, nothing leaks. */
    for (long k = 1; k <= 2; k++) {
        dnas_backend *c = (dnas_backend *)1;
        dnas_failing_allocator_install(&fa, k);
        st = dnas_backend_cpu_create(1, &c);
        dnas_set_allocator(NULL);
        CHECK(st == DNAS_ERR_OOM && c == NULL, "create with allocation %ld failing: %s", k,
              dnas_status_string(st));
    }
    /* A kernel whose workspace cannot grow returns OOM instead of crashing. */
    {
        dnas_backend *c = NULL;
        expect_ok(dnas_backend_cpu_create(1, &c), "create");
        float x[3 * 4] = {0}, y[12], sm[3], si[3];
        dnas_bn_p bp = {1e-5f, 0.1f, 0};
        dnas_failing_allocator_install(&fa, 1);
        st = c->bn_fwd_train(c, &bp, y, sm, si, NULL, NULL, x, dnas_shape4(1, 3, 2, 2), NULL,
                             NULL);
        dnas_set_allocator(NULL);
        CHECK(st == DNAS_ERR_OOM, "bn with failing workspace: %s", dnas_status_string(st));
        dnas_backend_destroy(c);
    }
    dnas_backend_destroy(b);
}

/* ================================ batch norm ================================ */

static void bn_train_case(shp sh, int affine, int running, float off, float scale) {
    const dnas_shape xs = to_shape(sh);
    const size_t tot = dnas_shape_numel(xs), C = (size_t)sh.c;
    const dnas_bn_p p = {1e-5f, 0.1f, 0};
    float *x = fvec(tot, off - scale, off + scale);
    float *g = affine ? fvec(C, 0.5f, 1.5f) : NULL, *b = affine ? fvec(C, -0.5f, 0.5f) : NULL;
    float *rm = running ? fvec(C, -0.2f, 0.2f) : NULL, *rv = running ? fvec(C, 0.5f, 1.5f) : NULL;
    double *rmd = dvec(rm, C), *rvd = dvec(rv, C);
    float *y = fvec(tot, 0, 0), *sm = fvec(C, 0, 0), *si = fvec(C, 0, 0);
    double *yd = dzero(tot), *smd = dzero(C), *sid = dzero(C);
    expect_ok(be->bn_fwd_train(be, &p, y, sm, si, rm, rv, x, xs, g, b), "bn_fwd_train");
    dnas_ref_bn_fwd_train(&p, yd, smd, sid, rmd, rvd, dvec(x, tot), xs, dvec(g, C), dvec(b, C));
    const char *s = sname(sh);
    expect_close(WHAT("%s y", s), y, yd, tot, TOL_BN);
    expect_close(WHAT("%s save_mean", s), sm, smd, C, TOL_BN);
    expect_close(WHAT("%s save_invstd", s), si, sid, C, TOL_BN);
    if (running) {
        expect_close(WHAT("%s running_mean", s), rm, rmd, C, TOL_BN);
        expect_close(WHAT("%s running_var", s), rv, rvd, C, TOL_BN);
    }
}

static void test_bn_fwd_train_affine_running(void) {
    worst_reset();
    for (int i = 0; i < NSHAPES; i++) bn_train_case(SHAPES[i], 1, 1, 0.0f, 1.0f);
    worst_report();
    tfree_all();
}

static void test_bn_fwd_train_no_affine_no_running(void) {
    worst_reset();
    for (int i = 0; i < NSHAPES; i++) bn_train_case(SHAPES[i], 0, 0, 0.0f, 1.0f);
    worst_report();
    tfree_all();
}

/* |mean| well above std: the statistics must not lose digits to E[x^2] - E[x]^2. */
static void test_bn_fwd_train_offset_data(void) {
    worst_reset();
    for (int i = 0; i < NSHAPES; i++) bn_train_case(SHAPES[i], 1, 1, 20.0f, 0.5f);
    worst_report();
    tfree_all();
}

/* One pixel per channel: biased variance 0 and no unbiased estimate; must stay finite. */
static void test_bn_fwd_train_single_pixel(void) {
    worst_reset();
    bn_train_case((shp){1, 1, 1, 16}, 1, 1, 0.0f, 1.0f);
    worst_report();
    tfree_all();
}

static void test_bn_fwd_eval(void) {
    worst_reset();
    const dnas_bn_p p = {1e-5f, 0.1f, 0};
    for (int i = 0; i < NSHAPES; i++)
        for (int affine = 0; affine <= 1; affine++) {
            shp sh = SHAPES[i];
            const dnas_shape xs = to_shape(sh);
            const size_t tot = dnas_shape_numel(xs), C = (size_t)sh.c;
            float *x = fvec(tot, -2, 2), *rm = fvec(C, -0.5f, 0.5f), *rv = fvec(C, 0.1f, 2.0f);
            float *g = affine ? fvec(C, 0.5f, 1.5f) : NULL, *b = affine ? fvec(C, -1, 1) : NULL;
            float *y = fvec(tot, 0, 0);
            double *yd = dzero(tot);
            expect_ok(be->bn_fwd_eval(be, &p, y, x, xs, rm, rv, g, b), "bn_fwd_eval");
            dnas_ref_bn_fwd_eval(&p, yd, dvec(x, tot), xs, dvec(rm, C), dvec(rv, C), dvec(g, C),
                                 dvec(b, C));
            expect_close(WHAT("%s affine=%d y", sname(sh), affine), y, yd, tot, TOL_BN);
        }
    worst_report();
    tfree_all();
}

/* Backward with saved statistics taken from our forward (the same floats go to the
 * reference). want: bit 0 dx, bit 1 dgamma, bit 2 dbeta. The output gradient is ds * dy
 * (a weighted sum's alias, graph.h): the reference gets the product in double. */
static void bn_bwd_case_s(shp sh, int acc, int affine, int want, float ds) {
    const dnas_shape xs = to_shape(sh);
    const size_t tot = dnas_shape_numel(xs), C = (size_t)sh.c;
    const dnas_bn_p p = {1e-5f, 0.1f, 0};
    float *x = fvec(tot, -1.5f, 2.5f), *dy = fvec(tot, -1, 1);
    float *g = affine ? fvec(C, 0.5f, 1.5f) : NULL, *b = affine ? fvec(C, -0.5f, 0.5f) : NULL;
    float *y = fvec(tot, 0, 0), *sm = fvec(C, 0, 0), *si = fvec(C, 0, 0);
    expect_ok(be->bn_fwd_train(be, &p, y, sm, si, NULL, NULL, x, xs, g, b), "bn_fwd_train");

    float *dx = (want & 1) ? fvec(tot, -1, 1) : NULL; /* garbage unless acc */
    float *dg = (want & 2) ? fvec(C, -1, 1) : NULL, *db = (want & 4) ? fvec(C, -1, 1) : NULL;
    double *dxd = dvec(dx, tot), *dgd = dvec(dg, C), *dbd = dvec(db, C);
    expect_ok(be->bn_bwd(be, dx, acc, dg, db, dy, ds, NULL, x, xs, sm, si, g), "bn_bwd");
    double *dyd = dvec(dy, tot);
    for (size_t i = 0; i < tot; i++) dyd[i] *= ds;
    dnas_ref_bn_bwd(dxd, acc, dgd, dbd, dyd, dvec(x, tot), xs, dvec(sm, C),
                    dvec(si, C), dvec(g, C));
    const char *s = sname(sh);
    if (dx) expect_close(WHAT("%s acc=%d dx", s, acc), dx, dxd, tot, TOL_BN);
    if (dg) expect_close(WHAT("%s dgamma (+=)", s), dg, dgd, C, TOL_BN);
    if (db) expect_close(WHAT("%s dbeta (+=)", s), db, dbd, C, TOL_BN);
}

static void bn_bwd_case(shp sh, int acc, int affine, int want) {
    bn_bwd_case_s(sh, acc, affine, want, 1.0f);
}

static void test_bn_bwd_acc0(void) {
    worst_reset();
    for (int i = 0; i < NSHAPES; i++) bn_bwd_case(SHAPES[i], 0, 1, 7);
    worst_report();
    tfree_all();
}

static void test_bn_bwd_acc1(void) {
    worst_reset();
    for (int i = 0; i < NSHAPES; i++) bn_bwd_case(SHAPES[i], 1, 1, 7);
    for (int i = 0; i < NSHAPES; i++) bn_bwd_case_s(SHAPES[i], i % 2, 1, 7, 0.37f);
    worst_report();
    tfree_all();
}

/* NULL gradients are skipped (and gamma NULL = affine off): dx only, dgamma only, dbeta only,
 * nothing at all. */
static void test_bn_bwd_null_grads(void) {
    worst_reset();
    for (int i = 0; i < NSHAPES; i++) {
        bn_bwd_case(SHAPES[i], 0, 0, 1);
        bn_bwd_case(SHAPES[i], 1, 1, 2);
        bn_bwd_case(SHAPES[i], 0, 1, 4);
        bn_bwd_case(SHAPES[i], 0, 1, 0);
    }
    worst_report();
    tfree_all();
}

/* BN with its ReLU fused (p.relu, DNAS_K_BN_RELU) against the reference BN then ReLU: forward
 * in training and eval mode, and the backward that reads the fused output for the ReLU's
 * mask, through every gradient, acc 0/1 and an alias scale. */
static void bn_relu_case(shp sh, int acc, int affine, float ds) {
    const dnas_shape xs = to_shape(sh);
    const size_t tot = dnas_shape_numel(xs), C = (size_t)sh.c;
    const dnas_bn_p p = {1e-5f, 0.1f, 1};
    float *x = fvec(tot, -1.5f, 2.5f), *dy = fvec(tot, -1, 1);
    float *g = affine ? fvec(C, 0.5f, 1.5f) : NULL, *b = affine ? fvec(C, -0.5f, 0.5f) : NULL;
    float *y = fvec(tot, 0, 0), *sm = fvec(C, 0, 0), *si = fvec(C, 0, 0);
    expect_ok(be->bn_fwd_train(be, &p, y, sm, si, NULL, NULL, x, xs, g, b), "bn_fwd_train relu");
    double *zd = dzero(tot), *yd = dzero(tot), *smd = dzero(C), *sid = dzero(C);
    dnas_ref_bn_fwd_train(&p, zd, smd, sid, NULL, NULL, dvec(x, tot), xs, dvec(g, C), dvec(b, C));
    dnas_ref_relu_fwd(yd, zd, tot);
    const char *s = sname(sh);
    expect_close(WHAT("%s relu y", s), y, yd, tot, TOL_BN);
    size_t off = 0;
    for (size_t i = 0; i < tot; i++) off += y[i] == 0.0f;
    CHECK(off > tot / 10 && off < tot - tot / 10, "%s: ReLU off on %zu of %zu", s, off, tot);

    float *dx = fvec(tot, -1, 1), *dg = fvec(C, -1, 1), *db = fvec(C, -1, 1);
    double *dxd = dvec(dx, tot), *dgd = dvec(dg, C), *dbd = dvec(db, C);
    expect_ok(be->bn_bwd(be, dx, acc, affine ? dg : NULL, affine ? db : NULL, dy, ds, y, x, xs,
                         sm, si, g), "bn_bwd relu");
    double *dyd = dvec(dy, tot), *dzd = dzero(tot);
    for (size_t i = 0; i < tot; i++) dyd[i] *= ds;
    dnas_ref_relu_bwd(dzd, 0, dyd, dvec(y, tot), tot); /* the mask of our own output */
    dnas_ref_bn_bwd(dxd, acc, affine ? dgd : NULL, affine ? dbd : NULL, dzd, dvec(x, tot), xs,
                    dvec(sm, C), dvec(si, C), dvec(g, C));
    expect_close(WHAT("%s relu acc=%d dx", s, acc), dx, dxd, tot, TOL_BN);
    if (affine) {
        expect_close(WHAT("%s relu dgamma (+=)", s), dg, dgd, C, TOL_BN);
        expect_close(WHAT("%s relu dbeta (+=)", s), db, dbd, C, TOL_BN);
    }

    /* eval mode with running statistics */
    float *rm = fvec(C, -0.5f, 0.5f), *rv = fvec(C, 0.1f, 2.0f), *ye = fvec(tot, 0, 0);
    double *ze = dzero(tot), *yed = dzero(tot);
    expect_ok(be->bn_fwd_eval(be, &p, ye, x, xs, rm, rv, g, b), "bn_fwd_eval relu");
    dnas_ref_bn_fwd_eval(&p, ze, dvec(x, tot), xs, dvec(rm, C), dvec(rv, C), dvec(g, C),
                         dvec(b, C));
    dnas_ref_relu_fwd(yed, ze, tot);
    expect_close(WHAT("%s relu eval y", s), ye, yed, tot, TOL_BN);
}

static void test_bn_relu_fused(void) {
    worst_reset();
    for (int i = 0; i < NSHAPES; i++) {
        bn_relu_case(SHAPES[i], i % 2, 1, 1.0f);
        bn_relu_case(SHAPES[i], (i + 1) % 2, i % 3 != 0, 0.37f);
    }
    worst_report();
    tfree_all();
}

/* ================================ relu ================================ */

static void test_relu(void) {
    worst_reset();
    const size_t sizes[] = {1, 7, 4 * 8 * 8 * 16, 64 * 8 * 8 * 64};
    for (int i = 0; i < 4; i++) {
        size_t n = sizes[i];
        float *x = fvec(n, -1, 1);
        for (size_t j = 0; j < n; j += 5) x[j] = 0.0f; /* the kink gets gradient 0 */
        float *y = fvec(n, 0, 0);
        double *yd = dzero(n);
        expect_ok(be->relu_fwd(be, y, x, n), "relu_fwd");
        dnas_ref_relu_fwd(yd, dvec(x, n), n);
        expect_close(WHAT("n=%zu fwd", n), y, yd, n, TOL);
        float *dy = fvec(n, -1, 1);
        for (int acc = 0; acc <= 1; acc++) {
            float *dx = fvec(n, -1, 1);
            double *dxd = dvec(dx, n);
            expect_ok(be->relu_bwd(be, dx, acc, dy, y, n), "relu_bwd");
            dnas_ref_relu_bwd(dxd, acc, dvec(dy, n), dvec(y, n), n);
            expect_close(WHAT("n=%zu bwd acc=%d", n, acc), dx, dxd, n, TOL);
        }
        /* in place (y == x) as an op may do */
        float *z = fcopy(x, n);
        expect_ok(be->relu_fwd(be, z, z, n), "relu_fwd in place");
        expect_close(WHAT("n=%zu fwd in place", n), z, yd, n, TOL);
    }
    worst_report();
    tfree_all();
}

/* ================================ weighted sum ================================ */

static const size_t WS_SIZES[] = {210, 4101, 64 * 8 * 8 * 64};

static void test_wsum_fwd(void) {
    worst_reset();
    const int ks[] = {1, 4, 8};
    for (int si = 0; si < 3; si++)
        for (int ki = 0; ki < 3; ki++) {
            size_t n = WS_SIZES[si];
            int k = ks[ki];
            const float *xs[8];
            const double *xd[8];
            for (int i = 0; i < k; i++) {
                float *v = fvec(n, -1, 1);
                xs[i] = v;
                xd[i] = dvec(v, n);
            }
            float *m = fvec((size_t)k, -0.5f, 1.0f), *y = fvec(n, 0, 0);
            double *yd = dzero(n);
            expect_ok(be->wsum_fwd(be, y, n, k, xs, m), "wsum_fwd");
            dnas_ref_wsum_fwd(yd, n, k, xd, dvec(m, (size_t)k));
            expect_close(WHAT("n=%zu k=%d y", n, k), y, yd, n, TOL);
        }
    worst_report();
    tfree_all();
}

/* dm written; dx[i] = or += per acc[i]; dx[2] NULL (skipped); also dm NULL. */
static void test_wsum_bwd(void) {
    worst_reset();
    const int k = 4;
    for (int si = 0; si < 3; si++)
        for (int with_dm = 0; with_dm <= 1; with_dm++) {
            size_t n = WS_SIZES[si];
            const float *xs[4];
            const double *xd[4];
            float *dx[4];
            double *dxd[4];
            int acc[4] = {0, 1, 0, 1};
            for (int i = 0; i < k; i++) {
                float *v = fvec(n, -1, 1);
                xs[i] = v;
                xd[i] = dvec(v, n);
                dx[i] = i == 2 ? NULL : fvec(n, -1, 1);
                dxd[i] = dvec(dx[i], n);
            }
            float *m = fvec((size_t)k, 0.0f, 1.0f), *dy = fvec(n, -1, 1);
            float *dm = with_dm ? fvec((size_t)k, 5, 6) : NULL;
            double *dmd = with_dm ? dzero((size_t)k) : NULL;
            expect_ok(be->wsum_bwd(be, dx, acc, dm, n, k, dy, xs, m), "wsum_bwd");
            dnas_ref_wsum_bwd(dxd, acc, dmd, n, k, dvec(dy, n), xd, dvec(m, (size_t)k));
            for (int i = 0; i < k; i++)
                if (dx[i])
                    expect_close(WHAT("n=%zu dx[%d] acc=%d", n, i, acc[i]), dx[i], dxd[i], n,
                                 TOL);
            if (dm) expect_close(WHAT("n=%zu dm", n), dm, dmd, (size_t)k, TOL);
        }
    worst_report();
    tfree_all();
}

/* The lazy-BN weighted sum (DNAS_K_LAZY_BN): inputs with and without a per-channel map, C
 * with 8-lane tails and not (3, 8, 20, 64), more than one pixel block, 1 and 2 threads
 * bit-identical, and the argument errors. */
static void test_wsum_affine_fwd(void) {
    worst_reset();
    const int Cs[] = {3, 8, 20, 64}, ks[] = {1, 3, 6};
    for (int ci = 0; ci < 4; ci++)
        for (int ki = 0; ki < 3; ki++) {
            const int C = Cs[ci], k = ks[ki];
            const size_t n = (size_t)C * 333; /* several blocks, the last one short */
            const float *xs[6], *mean[6], *a[6], *b[6];
            const double *xd[6], *md[6], *ad[6], *bd[6];
            for (int i = 0; i < k; i++) {
                float *v = fvec(n, -2, 3);
                xs[i] = v;
                xd[i] = dvec(v, n);
                int lazy = (i + ci) % 3 != 1; /* a plain input among lazy ones */
                mean[i] = lazy ? fvec((size_t)C, -1, 1) : NULL;
                a[i] = lazy ? fvec((size_t)C, 0.2f, 2) : NULL;
                b[i] = lazy ? fvec((size_t)C, -0.5f, 0.5f) : NULL;
                md[i] = dvec(mean[i], (size_t)C);
                ad[i] = dvec(a[i], (size_t)C);
                bd[i] = dvec(b[i], (size_t)C);
            }
            float *m = fvec((size_t)k, -0.5f, 1.0f), *y = fvec(n, 0, 0), *y1 = fvec(n, 0, 0);
            double *yd = dzero(n);
            const dnas_shape ys = dnas_shape4(1, C, 9, 37);
            expect_ok(be->wsum_affine_fwd(be, y, ys, k, xs, m, mean, a, b, NULL, NULL),
                      "wsum_affine_fwd");
            expect_ok(be1->wsum_affine_fwd(be1, y1, ys, k, xs, m, mean, a, b, NULL, NULL),
                      "wsum_affine_fwd 1 thread");
            dnas_ref_wsum_affine_fwd(yd, n, C, k, xd, dvec(m, (size_t)k), md, ad, bd);
            expect_close(WHAT("C=%d k=%d y", C, k), y, yd, n, TOL);
            CHECK(!memcmp(y, y1, n * sizeof *y), "C=%d k=%d: 1 and 2 threads differ", C, k);
        }
    float v[8] = {0}, mv[1] = {1};
    const float *xp[1] = {v}, *mp[1] = {v}, *np_[1] = {NULL};
    CHECK(be->wsum_affine_fwd(be, v, dnas_shape4(1, 2, 0, 4), 1, xp, mv, mp, mp, mp, NULL,
                              NULL) == DNAS_ERR_INVALID_ARG,
          "an empty shape accepted");
    CHECK(be->wsum_affine_fwd(be, v, dnas_shape4(1, 2, 2, 2), 1, xp, mv, mp, np_, mp, NULL,
                              NULL) == DNAS_ERR_INVALID_ARG,
          "a mean without a scale accepted");
    worst_report();
    tfree_all();
}

/* The lazy-pool weighted sum (DNAS_K_LAZY_POOL): average-pool inputs (3x3 stride 1 as in
 * NB201, with and without counting padding, and 3x3 stride 2 onto a smaller output) among
 * plain and lazy-BN ones, C with and without 8-lane tails, rows wider than a block (C = 144)
 * and several rows per block, against double loops (the reference pool, then the reference
 * sum); 1 and 2 threads bit-identical; a pool input without its shape refused. */
static void test_wsum_pool_fwd(void) {
    worst_reset();
    const shp outs[] = {{2, 7, 9, 3}, {3, 8, 8, 16}, {2, 6, 5, 20}, {2, 4, 20, 144}};
    const dnas_pool_p pools[] = {{3, 1, 1, 0}, {3, 1, 1, 1}, {3, 2, 1, 0}};
    for (int si = 0; si < 4; si++)
        for (int pi = 0; pi < 3; pi++) {
            const dnas_shape ys = to_shape(outs[si]);
            const dnas_pool_p *pp = &pools[pi];
            /* the pool's input: the same size at stride 1, twice it at stride 2 */
            const dnas_shape pxs = dnas_shape4(ys.n, ys.c, ys.h * pp->stride, ys.w * pp->stride);
            const size_t n = dnas_shape_numel(ys), npx = dnas_shape_numel(pxs), C = (size_t)ys.c;
            const int k = 5;
            const float *xs[5], *mean[5], *a[5], *b[5];
            const double *xd[5], *md[5], *ad[5], *bd[5];
            const dnas_pool_p *pl[5];
            dnas_shape pl_xs[5];
            for (int i = 0; i < k; i++) {
                int kind = (i + si) % 3; /* 0 plain, 1 lazy BN, 2 pool: two pools per sum */
                if (i == 4) kind = 2;
                float *v = fvec(kind == 2 ? npx : n, -2, 3);
                xs[i] = v;
                mean[i] = a[i] = b[i] = NULL;
                pl[i] = NULL;
                if (kind == 2) {
                    pl[i] = pp;
                    pl_xs[i] = pxs;
                    double *pd = dzero(n);
                    dnas_ref_avgpool_fwd(pp, pd, ys, dvec(v, npx), pxs);
                    xd[i] = pd;
                } else {
                    xd[i] = dvec(v, n);
                }
                if (kind == 1) {
                    mean[i] = fvec(C, -1, 1);
                    a[i] = fvec(C, 0.2f, 2);
                    b[i] = fvec(C, -0.5f, 0.5f);
                }
                md[i] = dvec(mean[i], C);
                ad[i] = dvec(a[i], C);
                bd[i] = dvec(b[i], C);
            }
            float *m = fvec((size_t)k, -0.5f, 1.0f), *y = fvec(n, 0, 0), *y1 = fvec(n, 0, 0);
            double *yd = dzero(n);
            expect_ok(be->wsum_affine_fwd(be, y, ys, k, xs, m, mean, a, b, pl, pl_xs),
                      "wsum_affine_fwd with pools");
            expect_ok(be1->wsum_affine_fwd(be1, y1, ys, k, xs, m, mean, a, b, pl, pl_xs),
                      "wsum_affine_fwd with pools, 1 thread");
            dnas_ref_wsum_affine_fwd(yd, n, (int)C, k, xd, dvec(m, (size_t)k), md, ad, bd);
            expect_close(WHAT("%s k%d s%d cip%d y", sname(outs[si]), pp->k, pp->stride,
                              pp->count_include_pad), y, yd, n, TOL);
            CHECK(!memcmp(y, y1, n * sizeof *y), "%s: 1 and 2 threads differ", sname(outs[si]));
        }
    float v[16] = {0}, mv[1] = {1};
    const float *xp[1] = {v};
    const dnas_pool_p *pp[1] = {&pools[0]};
    CHECK(be->wsum_affine_fwd(be, v, dnas_shape4(1, 1, 4, 4), 1, xp, mv, NULL, NULL, NULL, pp,
                              NULL) == DNAS_ERR_INVALID_ARG,
          "a pool input without its shape accepted");
    worst_report();
    tfree_all();
}

/* bn_bwd_sums: the per-channel sums of dy and dy * (x - mean) against double loops, taken
 * alone (dx, dgamma, dbeta NULL) and beside a full backward whose outputs stay bit-identical
 * to bn_bwd's; the sums are of dy itself whatever dy_scale is. */
static void test_bn_bwd_sums(void) {
    worst_reset();
    const dnas_bn_p p = {1e-5f, 0.1f, 0};
    for (int si = 0; si < NSHAPES; si++) {
        const shp sh = SHAPES[si];
        const dnas_shape xs = to_shape(sh);
        const size_t tot = dnas_shape_numel(xs), C = (size_t)sh.c;
        float *x = fvec(tot, -1.5f, 2.5f), *dy = fvec(tot, -1, 1), *y = fvec(tot, 0, 0);
        float *g = fvec(C, 0.5f, 1.5f), *bt = fvec(C, -0.5f, 0.5f);
        float *sm = fvec(C, 0, 0), *si_ = fvec(C, 0, 0);
        expect_ok(be->bn_fwd_train(be, &p, y, sm, si_, NULL, NULL, x, xs, g, bt), "bn_fwd_train");
        double *ref = dzero(2 * C);
        for (size_t j = 0; j < tot; j++) {
            ref[j % C] += dy[j];
            ref[C + j % C] += (double)dy[j] * ((double)x[j] - sm[j % C]);
        }
        double *s1 = dzero(2 * C), *s2 = dzero(2 * C);
        float *s1f = fvec(2 * C, 0, 0);
        expect_ok(be->bn_bwd_sums(be, NULL, 0, NULL, NULL, dy, 0.7f, NULL, x, xs, sm, si_, g,
                                  s1), "bn_bwd_sums alone");
        float *dx = fvec(tot, 0, 0), *dx0 = fvec(tot, 0, 0);
        float *dg = fvec(C, 0, 0), *dg0 = fvec(C, 0, 0), *db = fvec(C, 0, 0), *db0 = fvec(C, 0, 0);
        expect_ok(be->bn_bwd_sums(be, dx, 0, dg, db, dy, 0.7f, NULL, x, xs, sm, si_, g, s2),
                  "bn_bwd_sums with dx");
        expect_ok(be->bn_bwd(be, dx0, 0, dg0, db0, dy, 0.7f, NULL, x, xs, sm, si_, g), "bn_bwd");
        for (size_t c = 0; c < 2 * C; c++) s1f[c] = (float)s1[c];
        /* Q is a difference of large terms; its scale is that of sum |dy| * |x - mean|. */
        expect_close(WHAT("%s sums alone", sname(sh)), s1f, ref, 2 * C, TOL);
        CHECK(!memcmp(s1, s2, 2 * C * sizeof *s1), "%s: sums differ with dx wanted", sname(sh));
        CHECK(!memcmp(dx, dx0, tot * sizeof *dx) && !memcmp(dg, dg0, C * sizeof *dg) &&
                  !memcmp(db, db0, C * sizeof *db),
              "%s: bn_bwd_sums' gradients differ from bn_bwd's", sname(sh));
    }
    worst_report();
    tfree_all();
}

/* ================================ chancopy ================================ */

static void test_chancopy(void) {
    worst_reset();
    const size_t npixs[] = {4 * 8 * 8, 2 * 5 * 7, 64 * 32 * 32};
    for (int pi = 0; pi < 3; pi++)
        for (int acc = 0; acc <= 1; acc++) {
            size_t np = npixs[pi];
            /* a slice of 5 channels from a 7-channel tensor into a 10-channel one */
            float *src = fvec(np * 7, -1, 1), *dst = fvec(np * 10, -1, 1);
            double *dd = dvec(dst, np * 10);
            expect_ok(be->chancopy(be, dst, 10, 3, acc, src, 7, 2, 5, np), "chancopy");
            dnas_ref_chancopy(dd, 10, 3, acc, dvec(src, np * 7), 7, 2, 5, np);
            expect_close(WHAT("npix=%zu slice acc=%d", np, acc), dst, dd, np * 10, TOL);
            /* whole tensor (the contiguous fast path when acc == 0) */
            float *s2 = fvec(np * 16, -1, 1), *d2 = fvec(np * 16, -1, 1);
            double *dd2 = dvec(d2, np * 16);
            expect_ok(be->chancopy(be, d2, 16, 0, acc, s2, 16, 0, 16, np), "chancopy");
            dnas_ref_chancopy(dd2, 16, 0, acc, dvec(s2, np * 16), 16, 0, 16, np);
            expect_close(WHAT("npix=%zu whole acc=%d", np, acc), d2, dd2, np * 16, TOL);
        }
    float a[4] = {0}, b2[4] = {0};
    CHECK(be->chancopy(be, a, 2, 1, 0, b2, 2, 0, 2, 2) == DNAS_ERR_INVALID_ARG,
          "out-of-range channel block accepted");
    worst_report();
    tfree_all();
}

/* concat + ReLU (DNAS_K_CONCAT_RELU): three inputs of 5, 16 and 3 channels (vector bodies
 * and scalar tails), forward and masked backward (one input's dx NULL, the others = and +=)
 * against the reference, and equal bit for bit to chancopy then relu / relu_bwd then chancopy
 * (what a backend without the fusion runs). Inputs include exact zeros and a NaN. */
static void test_concat_relu(void) {
    worst_reset();
    CHECK(be->supports(be, DNAS_K_CONCAT_RELU) && be->concat_relu_fwd && be->concat_relu_bwd,
          "cpu offers concat_relu");
    const size_t npixs[] = {4 * 8 * 8, 2 * 5 * 7, 64 * 32 * 32};
    const int c[3] = {5, 16, 3}, ct = 24, off[3] = {0, 5, 21};
    for (int pi = 0; pi < 3; pi++) {
        size_t np = npixs[pi];
        float *x[3];
        const double *xd[3];
        for (int i = 0; i < 3; i++) {
            x[i] = fvec(np * c[i], -1, 1);
            for (size_t e = 0; e < np * c[i]; e += 7) x[i][e] = 0.0f;
            xd[i] = dvec(x[i], np * c[i]);
        }
        x[1][3] = NAN;
        float *y = fvec(np * ct, -1, 1), *yc = fvec(np * ct, -1, 1), *tmp = fvec(np * ct, 0, 0);
        double *yd = dzero(np * ct);
        expect_ok(be->concat_relu_fwd(be, y, 3, (const float *const *)x, c, np), "fwd");
        for (int i = 0; i < 3; i++) expect_ok(be->chancopy(be, tmp, ct, off[i], 0, x[i], c[i], 0, c[i], np), "chancopy");
        expect_ok(be->relu_fwd(be, yc, tmp, np * ct), "relu");
        CHECK(!memcmp(y, yc, np * ct * sizeof *y), "npix=%zu: fused forward differs from "
              "chancopy + relu", np);
        x[1][3] = 0.5f; /* the reference and the error measure want finite values */
        xd[1] = dvec(x[1], np * c[1]);
        y[3 + 5] = 0.5f, yc[3 + 5] = 0.5f;
        dnas_ref_concat_relu_fwd(yd, 3, xd, c, np);
        expect_close(WHAT("npix=%zu fwd", np), y, yd, np * ct, TOL);
        for (int acc = 0; acc <= 1; acc++) {
            float *dy = fvec(np * ct, -1, 1), *dx[3], *dxc[3];
            double *dxd[3];
            int accs[3] = {acc, 0, 1};
            for (int i = 0; i < 3; i++) {
                dx[i] = fvec(np * c[i], -1, 1);
                dxc[i] = fcopy(dx[i], np * c[i]);
                dxd[i] = dvec(dx[i], np * c[i]);
            }
            float *keep = fcopy(dx[2], np * c[2]);
            float *dxn[3] = {dx[0], dx[1], NULL};
            double *dxdn[3] = {dxd[0], dxd[1], NULL};
            expect_ok(be->concat_relu_bwd(be, dxn, accs, 3, c, dy, y, np), "bwd");
            dnas_ref_concat_relu_bwd(dxdn, accs, 3, c, dvec(dy, np * ct), dvec(y, np * ct), np);
            float *dr = fvec(np * ct, 0, 0);
            expect_ok(be->relu_bwd(be, dr, 0, dy, y, np * ct), "relu_bwd");
            for (int i = 0; i < 2; i++) {
                expect_close(WHAT("npix=%zu bwd input %d acc=%d", np, i, accs[i]), dx[i], dxd[i],
                             np * c[i], TOL);
                expect_ok(be->chancopy(be, dxc[i], c[i], 0, accs[i], dr, ct, off[i], c[i], np),
                          "chancopy");
                CHECK(!memcmp(dx[i], dxc[i], np * c[i] * sizeof(float)), "npix=%zu input %d: "
                      "fused backward differs from relu_bwd + chancopy", np, i);
            }
            CHECK(!memcmp(dx[2], keep, np * c[2] * sizeof(float)), "a NULL dx was written");
        }
    }
    const int bad[2] = {4, 0};
    float a[8] = {0};
    const float *xa[2] = {a, a};
    CHECK(be->concat_relu_fwd(be, a, 2, xa, bad, 1) == DNAS_ERR_INVALID_ARG,
          "an input with 0 channels accepted");
    CHECK(be->concat_relu_fwd(be, a, 0, xa, bad, 1) == DNAS_ERR_INVALID_ARG, "k = 0 accepted");
    worst_report();
    tfree_all();
}

/* ================================ pooling ================================ */

/* {k, stride, pad, count_include_pad}: the 3x3 fast paths (stride 1 and 2, with and without
 * padding) and the general loop (2x2, 5x5) */
static const dnas_pool_p POOLS[] = {
    {3, 1, 1, 1}, {3, 1, 1, 0}, {3, 2, 1, 0}, {3, 2, 1, 1},
    {2, 2, 0, 0}, {3, 1, 0, 1}, {5, 2, 2, 0}, {3, 1, 2, 0},
};
#define NPOOLS ((int)(sizeof POOLS / sizeof POOLS[0]))
static dnas_shape pool_out(const dnas_pool_p *p, dnas_shape xs) {
    return dnas_shape4(xs.n, xs.c, (xs.h + 2 * p->pad - p->k) / p->stride + 1,
                       (xs.w + 2 * p->pad - p->k) / p->stride + 1);
}
/* ties: values on a coarse grid so that windows often hold several equal maxima */
static float *pool_input(size_t n, int ties) {
    float *x = fvec(n, -1, 1);
    if (ties)
        for (size_t i = 0; i < n; i++) x[i] = floorf(x[i] * 2.0f);
    return x;
}

/* the common shapes plus one only two rows high (every 3x3 window row then has 2 rows) */
static const shp POOL_SHAPES[] = {{4, 8, 8, 16}, {2, 5, 7, 3}, {64, 8, 8, 64}, {3, 2, 9, 8}};
#define NPOOL_SHAPES ((int)(sizeof POOL_SHAPES / sizeof POOL_SHAPES[0]))

/* Case ci (shape ci / NPOOLS, pool ci % NPOOLS): the pool, input and output shapes; 0 when
 * the window does not fit. */
#define NPOOL_CASES (NPOOL_SHAPES * NPOOLS)
static int pool_shapes(int ci, const dnas_pool_p **p, dnas_shape *xs, dnas_shape *ys) {
    *p = &POOLS[ci % NPOOLS];
    *xs = to_shape(POOL_SHAPES[ci / NPOOLS]);
    *ys = pool_out(*p, *xs);
    return xs->h + 2 * (*p)->pad >= (*p)->k && xs->w + 2 * (*p)->pad >= (*p)->k;
}

static void pool_case(int is_max, int bwd, int ties) {
    for (int ci = 0; ci < NPOOL_CASES; ci++) {
        const dnas_pool_p *p;
        dnas_shape xs, ys;
        if (!pool_shapes(ci, &p, &xs, &ys)) continue;
        const int si = ci / NPOOLS;
        const size_t nx = dnas_shape_numel(xs), ny = dnas_shape_numel(ys);
        float *x = pool_input(nx, ties);
        const char *s = sname(POOL_SHAPES[si]);
        if (!bwd) {
            float *y = fvec(ny, 0, 0);
            double *yd = dzero(ny);
            if (is_max) {
                expect_ok(be->maxpool_fwd(be, p, y, ys, x, xs), "maxpool_fwd");
                dnas_ref_maxpool_fwd(p, yd, ys, dvec(x, nx), xs);
            } else {
                expect_ok(be->avgpool_fwd(be, p, y, ys, x, xs), "avgpool_fwd");
                dnas_ref_avgpool_fwd(p, yd, ys, dvec(x, nx), xs);
            }
            expect_close(WHAT("%s k%d s%d p%d cip%d y", s, p->k, p->stride, p->pad,
                              p->count_include_pad),
                         y, yd, ny, TOL);
            continue;
        }
        float *dy = fvec(ny, -1, 1);
        for (int acc = 0; acc <= 1; acc++) {
            float *dx = fvec(nx, -1, 1);
            double *dxd = dvec(dx, nx);
            if (is_max) {
                expect_ok(be->maxpool_bwd(be, p, dx, acc, xs, x, dy, ys), "maxpool_bwd");
                dnas_ref_maxpool_bwd(p, dxd, acc, xs, dvec(x, nx), dvec(dy, ny), ys);
            } else {
                expect_ok(be->avgpool_bwd(be, p, dx, acc, xs, dy, ys), "avgpool_bwd");
                dnas_ref_avgpool_bwd(p, dxd, acc, xs, dvec(dy, ny), ys);
            }
            expect_close(WHAT("%s k%d s%d p%d cip%d acc=%d dx", s, p->k, p->stride, p->pad,
                              p->count_include_pad, acc),
                         dx, dxd, nx, TOL);
        }
    }
}

static void test_avgpool_fwd(void) {
    worst_reset();
    pool_case(0, 0, 0);
    worst_report();
    tfree_all();
}
static void test_avgpool_bwd(void) {
    worst_reset();
    pool_case(0, 1, 0);
    worst_report();
    tfree_all();
}
/* avgpool_bwd_mix: dx = (acc ? dx : 0) + s * pool^T(dy) against the reference backward, and
 * <dy, pool(x)> against double loops over the reference forward, alone (dx NULL) and with
 * dx; the dot product the same at 1 and 2 threads; a dot without x refused. */
static void test_avgpool_bwd_mix(void) {
    worst_reset();
    for (int ci = 0; ci < NPOOL_CASES; ci++) {
        const dnas_pool_p *p;
        dnas_shape xs, ys;
        if (!pool_shapes(ci, &p, &xs, &ys)) continue;
        const size_t nx = dnas_shape_numel(xs), ny = dnas_shape_numel(ys);
        float *x = fvec(nx, -1, 1), *dy = fvec(ny, -1, 1);
        const float s = 0.37f;
        double *yd = dzero(ny), ref_dot = 0;
        dnas_ref_avgpool_fwd(p, yd, ys, dvec(x, nx), xs);
        for (size_t j = 0; j < ny; j++) ref_dot += (double)dy[j] * yd[j];
        double d0 = 0, d1 = 0, d2 = 0;
        expect_ok(be->avgpool_bwd_mix(be, p, NULL, 0, xs, x, dy, s, ys, &d0), "dot only");
        expect_ok(be1->avgpool_bwd_mix(be1, p, NULL, 0, xs, x, dy, s, ys, &d1),
                  "dot only, 1 thread");
        float df[1] = {(float)d0};
        expect_close(WHAT("%s k%d s%d cip%d dot", sname(POOL_SHAPES[ci / NPOOLS]), p->k, p->stride,
                          p->count_include_pad), df, &ref_dot, 1, TOL);
        CHECK(d0 == d1, "%s: dot differs at 1 and 2 threads", sname(POOL_SHAPES[ci / NPOOLS]));
        for (int acc = 0; acc <= 1; acc++) {
            float *dx = fvec(nx, -1, 1);
            double *dxd = dzero(nx), *dx0 = dvec(dx, nx);
            expect_ok(be->avgpool_bwd_mix(be, p, dx, acc, xs, x, dy, s, ys, acc ? &d2 : NULL),
                      "avgpool_bwd_mix");
            dnas_ref_avgpool_bwd(p, dxd, 0, xs, dvec(dy, ny), ys);
            for (size_t j = 0; j < nx; j++) dxd[j] = (acc ? dx0[j] : 0.0) + s * dxd[j];
            expect_close(WHAT("%s k%d s%d cip%d acc=%d dx", sname(POOL_SHAPES[ci / NPOOLS]), p->k,
                              p->stride, p->count_include_pad, acc), dx, dxd, nx, TOL);
        }
        CHECK(d2 == d0, "%s: the dot differs beside dx", sname(POOL_SHAPES[ci / NPOOLS]));
    }
    const dnas_shape xs = dnas_shape4(1, 1, 3, 3);
    float v[9] = {0};
    double d;
    CHECK(be->avgpool_bwd_mix(be, &POOLS[0], v, 0, xs, NULL, v, 1.0f, pool_out(&POOLS[0], xs),
                              &d) == DNAS_ERR_INVALID_ARG,
          "a dot product without x accepted");
    worst_report();
    tfree_all();
}

/* avgpool_bwd_mix_skip (a stride-1 pool with the sum's skip input of x folded in) against
 * the two passes it replaces, the sum's backward writing the skip's m * dy (wsum_bwd) and
 * then avgpool_bwd_mix adding the pool's term: dx bit-identical with the skip's gradient
 * written and added, the pool's dot product identical, the skip's <dy, x> against double
 * loops; dx NULL (the dot products alone); 1 and 2 threads identical; a skip with dy shaped
 * unlike x, or no skip, refused. */
static void test_avgpool_bwd_mix_skip(void) {
    worst_reset();
    const shp shapes[] = {{2, 7, 9, 3}, {3, 8, 8, 16}, {2, 6, 5, 20}, {2, 4, 20, 144}};
    const dnas_pool_p pools[] = {{3, 1, 1, 0}, {3, 1, 1, 1}};
    for (int si = 0; si < 4; si++)
        for (int pi = 0; pi < 2; pi++) {
            const dnas_pool_p *p = &pools[pi];
            const dnas_shape xs = to_shape(shapes[si]);
            const size_t n = dnas_shape_numel(xs);
            float *x = fvec(n, -1, 1), *dy = fvec(n, -1, 1);
            const float s = 0.37f, ms = 0.21f;
            double ref_sdot = 0;
            for (size_t j = 0; j < n; j++) ref_sdot += (double)dy[j] * x[j];
            for (int acc = 0; acc <= 1; acc++) {
                float *dx_two = fvec(n, -1, 1), *dx_one = fvec(n, 0, 0), *dx_t1 = fvec(n, 0, 0);
                memcpy(dx_one, dx_two, n * sizeof(float));
                memcpy(dx_t1, dx_two, n * sizeof(float));
                float *dxp[1] = {dx_two}, dm[1];
                const float *xp[1] = {x};
                const int accp[1] = {acc};
                double d_two = 0, d_one = 0, sd_one = 0, d_t1 = 0, sd_t1 = 0;
                expect_ok(be->wsum_bwd(be, dxp, accp, dm, n, 1, dy, xp, &ms), "wsum_bwd");
                expect_ok(be->avgpool_bwd_mix(be, p, dx_two, 1, xs, x, dy, s, xs, &d_two),
                          "avgpool_bwd_mix");
                dnas_pool_skip sk = {ms, acc, &sd_one}, sk1 = {ms, acc, &sd_t1};
                expect_ok(be->avgpool_bwd_mix_skip(be, p, dx_one, xs, x, dy, s, xs, &d_one, &sk),
                          "avgpool_bwd_mix_skip");
                expect_ok(be1->avgpool_bwd_mix_skip(be1, p, dx_t1, xs, x, dy, s, xs, &d_t1, &sk1),
                          "avgpool_bwd_mix_skip, 1 thread");
                CHECK(!memcmp(dx_one, dx_two, n * sizeof(float)),
                      "%s cip%d acc=%d: dx differs from the two passes'", sname(shapes[si]),
                      p->count_include_pad, acc);
                CHECK(!memcmp(dx_one, dx_t1, n * sizeof(float)) && d_one == d_t1 &&
                          sd_one == sd_t1, "%s: 1 and 2 threads differ", sname(shapes[si]));
                CHECK(d_one == d_two, "%s: the pool's dot %.17g vs %.17g", sname(shapes[si]),
                      d_one, d_two);
                float sf[1] = {(float)sd_one};
                expect_close(WHAT("%s cip%d skip dot", sname(shapes[si]), p->count_include_pad),
                             sf, &ref_sdot, 1, TOL);
                CHECK(fabs(sd_one - (double)dm[0]) <= 1e-5 * fabs(ref_sdot) + 1e-6,
                      "%s: skip dot %.9g vs the sum's %.9g", sname(shapes[si]), sd_one, (double)dm[0]);
            }
            double d_none = -1, sd_none = -1, d_ref = 0;
            dnas_pool_skip sk = {ms, 0, &sd_none};
            expect_ok(be->avgpool_bwd_mix_skip(be, p, NULL, xs, x, dy, s, xs, &d_none, &sk),
                      "dots only");
            expect_ok(be->avgpool_bwd_mix(be, p, NULL, 0, xs, x, dy, s, xs, &d_ref), "dot only");
            CHECK(d_none == d_ref, "%s: dot without dx %.17g vs %.17g", sname(shapes[si]), d_none, d_ref);
            CHECK(fabs(sd_none - ref_sdot) <= 1e-6 * (1 + fabs(ref_sdot)), "%s: skip dot without dx",
                  sname(shapes[si]));
        }
    const dnas_shape xs = dnas_shape4(1, 2, 4, 4), ys = pool_out(&POOLS[0], xs);
    float v[32] = {0};
    dnas_pool_skip sk = {1.0f, 0, NULL};
    const dnas_pool_p half = {2, 2, 0, 0};
    const dnas_shape hs = pool_out(&half, xs);
    CHECK(be->avgpool_bwd_mix_skip(be, &half, v, xs, v, v, 1.0f, hs, NULL, &sk) ==
              DNAS_ERR_INVALID_ARG, "a skip term with dy shaped unlike x accepted");
    CHECK(be->avgpool_bwd_mix_skip(be, &POOLS[0], v, xs, v, v, 1.0f, ys, NULL, NULL) ==
              DNAS_ERR_INVALID_ARG, "no skip term accepted");
    worst_report();
    tfree_all();
}

/* The average pool's 16-lane loops (AVX-512, picked at run time) against its 8-lane ones
 * (DNAS_CPU_ISA=avx2): bit-identical forward, backward, mixed backward (dx and the dot) and
 * pooled weighted sum, at channel counts of whole 16-lane vectors, 16 + a half vector, and
 * 16 + 8 + a partial one. (On a CPU without AVX-512 both runs take the 8-lane loops.) */
static void test_avgpool_isa_identical(void) {
    const shp shapes[] = {{2, 9, 7, 16}, {2, 6, 5, 24}, {3, 5, 8, 29}, {2, 4, 4, 64}};
    const dnas_pool_p pools[] = {{3, 1, 1, 0}, {3, 2, 1, 1}};
    const int prev = dnas_cpu_isa;
    for (int si = 0; si < 4; si++)
        for (int pi = 0; pi < 2; pi++) {
            const dnas_pool_p *p = &pools[pi];
            const dnas_shape xs = to_shape(shapes[si]), ys = pool_out(p, xs);
            const size_t nx = dnas_shape_numel(xs), ny = dnas_shape_numel(ys);
            float *x = fvec(nx, -1, 1), *dy = fvec(ny, -1, 1), *x2 = fvec(ny, -1, 1);
            float *out[2][4];
            double dot[2];
            for (int w = 0; w < 2; w++) {
                dnas_cpu_isa = w ? DNAS_ISA_AVX512 : DNAS_ISA_AVX2;
                out[w][0] = fvec(ny, 0, 0);
                out[w][1] = fvec(nx, 0, 0);
                out[w][2] = fvec(nx, 0, 0);
                out[w][3] = fvec(ny, 0, 0);
                expect_ok(be->avgpool_fwd(be, p, out[w][0], ys, x, xs), "avgpool_fwd");
                expect_ok(be->avgpool_bwd(be, p, out[w][1], 0, xs, dy, ys), "avgpool_bwd");
                expect_ok(be->avgpool_bwd_mix(be, p, out[w][2], 0, xs, x, dy, 0.3f, ys, &dot[w]),
                          "avgpool_bwd_mix");
                const float *in[2] = {x2, x}, m[2] = {0.6f, 0.4f};
                const dnas_pool_p *pl[2] = {NULL, p};
                const dnas_shape pxs[2] = {ys, xs};
                expect_ok(be->wsum_affine_fwd(be, out[w][3], ys, 2, in, m, NULL, NULL, NULL, pl,
                                              pxs), "wsum_affine_fwd");
            }
            const size_t len[4] = {ny, nx, nx, ny};
            for (int k = 0; k < 4; k++)
                CHECK(!memcmp(out[0][k], out[1][k], len[k] * sizeof(float)),
                      "%s pool %d: output %d differs between the 8- and 16-lane loops",
                      sname(shapes[si]), pi, k);
            CHECK(dot[0] == dot[1], "%s pool %d: the dot differs", sname(shapes[si]), pi);
        }
    dnas_cpu_isa = prev;
    tfree_all();
}
static void test_maxpool_fwd(void) {
    worst_reset();
    pool_case(1, 0, 0);
    pool_case(1, 0, 1);
    worst_report();
    tfree_all();
}
/* With ties the gradient must go to the first maximum in row-major window order. */
static void test_maxpool_bwd_ties(void) {
    worst_reset();
    pool_case(1, 1, 0);
    pool_case(1, 1, 1);
    worst_report();
    tfree_all();
}

/* The NB201 stage-1 size, 64x32x32x16, with the 3x3 stride-1 windows the search space uses
 * (count_include_pad off as in NB201): the interior fast paths carry almost all of it. */
static void test_pool_nb201_size(void) {
    worst_reset();
    const dnas_pool_p p = {3, 1, 1, 0};
    const dnas_shape xs = dnas_shape4(64, 16, 32, 32);
    const size_t n = dnas_shape_numel(xs);
    float *x = pool_input(n, 0), *dy = fvec(n, -1, 1), *y = fvec(n, 0, 0), *dx = fvec(n, 0, 0);
    double *xd = dvec(x, n), *dyd = dvec(dy, n), *yd = dzero(n), *dxd = dzero(n);
    expect_ok(be->avgpool_fwd(be, &p, y, xs, x, xs), "avgpool_fwd");
    dnas_ref_avgpool_fwd(&p, yd, xs, xd, xs);
    expect_close("avgpool y", y, yd, n, TOL);
    expect_ok(be->avgpool_bwd(be, &p, dx, 0, xs, dy, xs), "avgpool_bwd");
    dnas_ref_avgpool_bwd(&p, dxd, 0, xs, dyd, xs);
    expect_close("avgpool dx", dx, dxd, n, TOL);
    expect_ok(be->maxpool_fwd(be, &p, y, xs, x, xs), "maxpool_fwd");
    dnas_ref_maxpool_fwd(&p, yd, xs, xd, xs);
    expect_close("maxpool y", y, yd, n, TOL);
    expect_ok(be->maxpool_bwd(be, &p, dx, 0, xs, x, dy, xs), "maxpool_bwd");
    dnas_ref_maxpool_bwd(&p, dxd, 0, xs, xd, dyd, xs);
    expect_close("maxpool dx", dx, dxd, n, TOL);
    worst_report();
    tfree_all();
}

static void test_bn_nb201_size(void) {
    worst_reset();
    bn_train_case((shp){64, 32, 32, 16}, 1, 1, 0.5f, 2.0f);
    bn_bwd_case((shp){64, 32, 32, 16}, 1, 1, 7);
    worst_report();
    tfree_all();
}

static void test_pool_bad_args(void) {
    dnas_pool_p bad = {3, 0, 1, 0};
    float x[64] = {0}, y[64];
    dnas_shape xs = dnas_shape4(1, 4, 4, 4), ys = dnas_shape4(1, 4, 4, 4);
    CHECK(be->avgpool_fwd(be, &bad, y, ys, x, xs) == DNAS_ERR_INVALID_ARG, "stride 0");
    bad = (dnas_pool_p){3, 1, 3, 0};
    CHECK(be->maxpool_fwd(be, &bad, y, ys, x, xs) == DNAS_ERR_INVALID_ARG, "pad >= k");
    CHECK(strlen(dnas_last_error()) > 0, "no message");
}

/* ================================ head ================================ */

static void test_gap(void) {
    worst_reset();
    for (int si = 0; si < NSHAPES; si++) {
        const dnas_shape xs = to_shape(SHAPES[si]);
        const size_t nx = dnas_shape_numel(xs), ny = (size_t)xs.n * xs.c;
        float *x = fvec(nx, -1, 2), *y = fvec(ny, 0, 0);
        double *yd = dzero(ny);
        expect_ok(be->gap_fwd(be, y, x, xs), "gap_fwd");
        dnas_ref_gap_fwd(yd, dvec(x, nx), xs);
        expect_close(WHAT("%s fwd", sname(SHAPES[si])), y, yd, ny, TOL);
        float *dy = fvec(ny, -1, 1);
        for (int acc = 0; acc <= 1; acc++) {
            float *dx = fvec(nx, -1, 1);
            double *dxd = dvec(dx, nx);
            expect_ok(be->gap_bwd(be, dx, acc, xs, dy), "gap_bwd");
            dnas_ref_gap_bwd(dxd, acc, xs, dvec(dy, ny));
            expect_close(WHAT("%s bwd acc=%d", sname(SHAPES[si]), acc), dx, dxd, nx, TOL);
        }
    }
    worst_report();
    tfree_all();
}

static const int LIN[][3] = {{64, 64, 10}, {3, 5, 7}, {64, 256, 10}, {1, 1, 1}};

static void test_linear_fwd(void) {
    worst_reset();
    for (int li = 0; li < 4; li++)
        for (int bias = 0; bias <= 1; bias++) {
            int n = LIN[li][0], in = LIN[li][1], out = LIN[li][2];
            size_t nx = (size_t)n * in, nw = (size_t)out * in, ny = (size_t)n * out;
            float *x = fvec(nx, -1, 1), *w = fvec(nw, -1, 1);
            float *b = bias ? fvec((size_t)out, -1, 1) : NULL, *y = fvec(ny, 0, 0);
            double *yd = dzero(ny);
            expect_ok(be->linear_fwd(be, y, x, w, b, n, in, out), "linear_fwd");
            dnas_ref_linear_fwd(yd, dvec(x, nx), dvec(w, nw), dvec(b, (size_t)out), n, in, out);
            expect_close(WHAT("%dx%dx%d bias=%d y", n, in, out, bias), y, yd, ny, TOL);
        }
    worst_report();
    tfree_all();
}

/* acc 0/1 for dx; dw/db accumulate; each of dx, dw, db NULL in turn. */
static void test_linear_bwd(void) {
    worst_reset();
    for (int li = 0; li < 4; li++)
        for (int v = 0; v < 5; v++) {
            int n = LIN[li][0], in = LIN[li][1], out = LIN[li][2];
            int acc = v == 1, no_dx = v == 2, no_dw = v == 3, no_db = v == 4;
            size_t nx = (size_t)n * in, nw = (size_t)out * in, ny = (size_t)n * out;
            float *x = fvec(nx, -1, 1), *w = fvec(nw, -1, 1), *dy = fvec(ny, -1, 1);
            float *dx = no_dx ? NULL : fvec(nx, -1, 1), *dw = no_dw ? NULL : fvec(nw, -1, 1);
            float *db = no_db ? NULL : fvec((size_t)out, -1, 1);
            double *dxd = dvec(dx, nx), *dwd = dvec(dw, nw), *dbd = dvec(db, (size_t)out);
            expect_ok(be->linear_bwd(be, dx, acc, dw, db, dy, x, w, n, in, out), "linear_bwd");
            dnas_ref_linear_bwd(dxd, acc, dwd, dbd, dvec(dy, ny), dvec(x, nx), dvec(w, nw), n,
                                in, out);
            if (dx) expect_close(WHAT("%dx%dx%d dx acc=%d", n, in, out, acc), dx, dxd, nx, TOL);
            if (dw) expect_close(WHAT("%dx%dx%d dw", n, in, out), dw, dwd, nw, TOL);
            if (db) expect_close(WHAT("%dx%dx%d db", n, in, out), db, dbd, (size_t)out, TOL);
        }
    worst_report();
    tfree_all();
}

static void xent_case(int n, int k, float spread, float scale) {
    size_t nl = (size_t)n * k;
    float *l = fvec(nl, -spread, spread);
    int *lab = talloc(sizeof(int) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) lab[i] = (int)(urand(0, 1) * k) % k;
    if (n > 2) {
        lab[0] = 0; /* a row whose label is its (first of tied) argmax */
        for (int j = 0; j < k; j++) l[j] = j < 2 ? 3.0f : 1.0f;
    }
    float *pr = fvec(nl, 0, 0), loss = -1, *dl = fvec(nl, 0, 0);
    double *prd = dzero(nl), lossd = 0, *dld = dzero(nl);
    int cor = -1, cord = -2;
    expect_ok(be->xent_fwd(be, pr, &loss, &cor, l, lab, n, k), "xent_fwd");
    dnas_ref_xent_fwd(prd, &lossd, &cord, dvec(l, nl), lab, n, k);
    expect_close(WHAT("n=%d k=%d spread=%g probs", n, k, spread), pr, prd, nl, TOL_BN);
    expect_close(WHAT("n=%d k=%d spread=%g loss", n, k, spread), &loss, &lossd, 1, TOL_BN);
    CHECK(cor == cord, "correct %d, reference %d", cor, cord);
    expect_ok(be->xent_bwd(be, dl, pr, lab, n, k, scale), "xent_bwd");
    dnas_ref_xent_bwd(dld, dvec(pr, nl), lab, n, k, scale);
    expect_close(WHAT("n=%d k=%d scale=%g dlogits", n, k, scale), dl, dld, nl, TOL_BN);
}

static void test_xent(void) {
    worst_reset();
    xent_case(64, 10, 3.0f, 1.0f);
    xent_case(5, 3, 1.0f, 0.5f);
    xent_case(64, 10, 1000.0f, 2.0f); /* exp would overflow without the max shift */
    xent_case(0, 10, 1.0f, 1.0f);
    worst_report();
    tfree_all();
}

/* Labels outside [0,k) are refused before anything is read with them (ASan would catch a
 * stray read of the 2-float logit rows). */
static void test_xent_bad_labels(void) {
    float l[4] = {1, 2, 3, 4}, pr[4], loss, dl[4];
    int cor;
    const int bad[2][2] = {{0, 2}, {-1, 0}};
    for (int i = 0; i < 2; i++) {
        dnas_clear_error();
        CHECK(be->xent_fwd(be, pr, &loss, &cor, l, bad[i], 2, 2) == DNAS_ERR_INVALID_ARG,
              "fwd accepted a bad label");
        CHECK(strstr(dnas_last_error(), "label") != NULL, "message '%s'", dnas_last_error());
        CHECK(be->xent_bwd(be, dl, pr, bad[i], 2, 2, 1.0f) == DNAS_ERR_INVALID_ARG,
              "bwd accepted a bad label");
    }
}

/* ================================ determinism ================================ */

static int same_bits(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof *a) == 0;
}

/* BN forward + backward at the realistic 64x32x32x16 size: twice with 2 threads, once with 1;
 * all bit-identical (the reduction order depends only on the shape). */
static void test_bn_deterministic(void) {
    const dnas_shape xs = dnas_shape4(64, 16, 32, 32);
    const size_t tot = dnas_shape_numel(xs), C = 16;
    const dnas_bn_p p = {1e-5f, 0.1f, 0};
    float *x = fvec(tot, -1, 3), *dy = fvec(tot, -1, 1), *g = fvec(C, 0.5f, 1.5f),
          *b = fvec(C, -1, 1);
    float *out[3][7];
    dnas_backend *bes[3] = {be, be, be1};
    for (int r = 0; r < 3; r++) {
        float *y = fvec(tot, 0, 0), *sm = fvec(C, 0, 0), *si = fvec(C, 0, 0);
        float *rm = fvec(C, 0, 0), *rv = fvec(C, 1, 1);
        float *dx = fvec(tot, 0, 0), *dg = fvec(C, 0, 0), *db = fvec(C, 0, 0);
        expect_ok(bes[r]->bn_fwd_train(bes[r], &p, y, sm, si, rm, rv, x, xs, g, b), "bn fwd");
        expect_ok(bes[r]->bn_bwd(bes[r], dx, 0, dg, db, dy, 1.0f, NULL, x, xs, sm, si, g), "bn bwd");
        float *o[7] = {y, sm, si, rv, dx, dg, db};
        memcpy(out[r], o, sizeof o);
    }
    const size_t len[7] = {tot, C, C, C, tot, C, C};
    const char *nm[7] = {"y", "save_mean", "save_invstd", "running_var", "dx", "dgamma",
                         "dbeta"};
    for (int i = 0; i < 7; i++) {
        CHECK(same_bits(out[0][i], out[1][i], len[i]), "%s differs between two runs", nm[i]);
        CHECK(same_bits(out[0][i], out[2][i], len[i]), "%s differs between 2 and 1 threads",
              nm[i]);
    }
    tfree_all();
}

static void test_wsum_deterministic(void) {
    const size_t n = (size_t)64 * 32 * 32 * 16;
    const int k = 4;
    const float *xs[4];
    for (int i = 0; i < k; i++) xs[i] = fvec(n, -1, 1);
    float *m = fvec((size_t)k, 0, 1), *dy = fvec(n, -1, 1);
    float *y[3], *dm[3], *dx[3][4];
    int acc[4] = {0, 0, 0, 0};
    dnas_backend *bes[3] = {be, be, be1};
    for (int r = 0; r < 3; r++) {
        y[r] = fvec(n, 0, 0);
        dm[r] = fvec((size_t)k, 0, 0);
        for (int i = 0; i < k; i++) dx[r][i] = fvec(n, 0, 0);
        expect_ok(bes[r]->wsum_fwd(bes[r], y[r], n, k, xs, m), "wsum fwd");
        expect_ok(bes[r]->wsum_bwd(bes[r], dx[r], acc, dm[r], n, k, dy, xs, m), "wsum bwd");
    }
    for (int r = 1; r < 3; r++) {
        const char *what = r == 1 ? "between two runs" : "between 2 and 1 threads";
        CHECK(same_bits(y[0], y[r], n), "y differs %s", what);
        CHECK(same_bits(dm[0], dm[r], (size_t)k), "dm differs %s", what);
        for (int i = 0; i < k; i++) CHECK(same_bits(dx[0][i], dx[r][i], n), "dx differs %s", what);
    }
    tfree_all();
}

static void test_bn_bad_shape(void) {
    const dnas_bn_p p = {1e-5f, 0.1f, 0};
    float v[4] = {0};
    CHECK(be->bn_fwd_train(be, &p, v, v, v, NULL, NULL, v, dnas_shape4(0, 4, 1, 1), NULL,
                           NULL) == DNAS_ERR_INVALID_ARG,
          "empty batch accepted");
}

int main(void) {
    if (dnas_backend_cpu_create(2, &be) != DNAS_OK || dnas_backend_cpu_create(1, &be1) != DNAS_OK) {
        printf("FAIL create: %s\n", dnas_last_error());
        return 1;
    }
    RUN(test_backend_create_supports);
    RUN(test_backend_workspace);
    RUN(test_bn_fwd_train_affine_running);
    RUN(test_bn_fwd_train_no_affine_no_running);
    RUN(test_bn_fwd_train_offset_data);
    RUN(test_bn_fwd_train_single_pixel);
    RUN(test_bn_fwd_eval);
    RUN(test_bn_bwd_acc0);
    RUN(test_bn_bwd_acc1);
    RUN(test_bn_bwd_null_grads);
    RUN(test_bn_relu_fused);
    RUN(test_bn_nb201_size);
    RUN(test_bn_bad_shape);
    RUN(test_bn_deterministic);
    RUN(test_relu);
    RUN(test_wsum_fwd);
    RUN(test_wsum_bwd);
    RUN(test_wsum_deterministic);
    RUN(test_wsum_affine_fwd);
    RUN(test_wsum_pool_fwd);
    RUN(test_avgpool_bwd_mix);
    RUN(test_avgpool_bwd_mix_skip);
    RUN(test_avgpool_isa_identical);
    RUN(test_bn_bwd_sums);
    RUN(test_chancopy);
    RUN(test_concat_relu);
    RUN(test_avgpool_fwd);
    RUN(test_avgpool_bwd);
    RUN(test_maxpool_fwd);
    RUN(test_maxpool_bwd_ties);
    RUN(test_pool_nb201_size);
    RUN(test_pool_bad_args);
    RUN(test_gap);
    RUN(test_linear_fwd);
    RUN(test_linear_bwd);
    RUN(test_xent);
    RUN(test_xent_bad_labels);
    dnas_backend_destroy(be);
    dnas_backend_destroy(be1);
    TEST_EXIT();
}
