/* CPU convolution kernels (forward, backward-data, backward-weight) against the double
 * reference kernels, over the NB201 / DARTS shapes and the odd ones: stride 2, 1x1,
 * dilation, depthwise, grouped, negative pad, channel counts that are not multiples of 8,
 * acc = 0/1, bias or not, several thread counts, and the scalar fallback (huge kernel or
 * stride). Error measure per tensor: max|ours - ref| / (max|ref| + 1e-6) < 1e-4. Also checks
 * that repeated runs with the same thread count are bit-identical. */
#include "test.h"

#include "backend/backend.h"
#include "backend/cpu/cpu_internal.h"
#include "backend/ref/ref.h"
#include "core/status.h"
#define KC_SEED 88172645463325252ull
#include "kernel_check.h"

#define TOL 1e-4
#ifdef DNAS_HAVE_DNNL
#define DNAS_HAVE_DNNL_T 1
#else
#define DNAS_HAVE_DNNL_T 0
#endif

static float *rnd(size_t n) {
    float *a = malloc((n ? n : 1) * sizeof *a);
    for (size_t i = 0; i < n; i++) a[i] = frand();
    return a;
}
static double *todbl(const float *a, size_t n) {
    double *d = malloc((n ? n : 1) * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = a ? a[i] : 0.0;
    return d;
}

typedef struct {
    const char *name;
    int n, cin, h, w, cout, kh, kw, stride, pad, dil, groups;
    int oh, ow; /* 0: symmetric-padding formula */
} conv_case;

static dnas_backend *make_be(int threads) {
    dnas_backend *be = NULL;
    if (dnas_backend_cpu_create(threads, &be) != DNAS_OK) return NULL;
    /* the kernels split work over exactly this many workers: pin it for the test */
    ((dnas_cpu_impl *)be->impl)->threads = threads;
    return be;
}

/* Runs the three kernels for one case and one thread count; returns worst scaled error. */
static double run_case(const conv_case *c, int threads, int with_bias, int acc) {
    dnas_conv_p p = {c->cin, c->cout, c->kh, c->kw, c->stride, c->pad, c->dil, c->groups};
    int oh = c->oh ? c->oh : (c->h + 2 * c->pad - c->dil * (c->kh - 1) - 1) / c->stride + 1;
    int ow = c->ow ? c->ow : (c->w + 2 * c->pad - c->dil * (c->kw - 1) - 1) / c->stride + 1;
    dnas_shape xs = dnas_shape4(c->n, c->cin, c->h, c->w);
    dnas_shape ys = dnas_shape4(c->n, c->cout, oh, ow);
    size_t nx = dnas_shape_numel(xs), ny = dnas_shape_numel(ys);
    size_t nw = (size_t)c->cout * c->kh * c->kw * (c->cin / c->groups);
    dnas_backend *be = make_be(threads);
    CHECK(be != NULL, "backend create failed");
    if (!be) return 1e9;

    float *x = rnd(nx), *w = rnd(nw), *b = with_bias ? rnd(c->cout) : NULL, *dy = rnd(ny);
    float *dx0 = rnd(nx), *dw0 = rnd(nw), *db0 = rnd(c->cout);
    double *xd = todbl(x, nx), *wd = todbl(w, nw), *bd = with_bias ? todbl(b, c->cout) : NULL;
    double *dyd = todbl(dy, ny);

    /* forward (y prefilled with garbage: it must be overwritten) */
    float *y = rnd(ny);
    double *yr = malloc((ny ? ny : 1) * sizeof *yr);
    dnas_status st = be->conv2d_fwd(be, &p, y, ys, x, xs, w, b);
    CHECK(st == DNAS_OK, "%s fwd: %s", c->name, dnas_last_error());
    dnas_ref_conv2d_fwd(&p, yr, ys, xd, xs, wd, bd);
    double ef = scaled_err(y, yr, ny);

    /* backward-data: acc adds into the prefilled dx */
    float *dx = dup(dx0, nx);
    double *dxr = todbl(dx0, nx);
    st = be->conv2d_bwd_data(be, &p, dx, acc, xs, dy, ys, w);
    CHECK(st == DNAS_OK, "%s bwd_data: %s", c->name, dnas_last_error());
    dnas_ref_conv2d_bwd_data(&p, dxr, acc, xs, dyd, ys, wd);
    double ed = scaled_err(dx, dxr, nx);

    /* backward-weight: always adds into dw / db */
    float *dw = dup(dw0, nw), *db = with_bias ? dup(db0, c->cout) : NULL;
    double *dwr = todbl(dw0, nw), *dbr = with_bias ? todbl(db0, c->cout) : NULL;
    st = be->conv2d_bwd_weight(be, &p, dw, db, x, xs, dy, ys);
    CHECK(st == DNAS_OK, "%s bwd_weight: %s", c->name, dnas_last_error());
    dnas_ref_conv2d_bwd_weight(&p, dwr, dbr, xd, xs, dyd, ys);
    double ew = scaled_err(dw, dwr, nw);
    double eb = with_bias ? scaled_err(db, dbr, c->cout) : 0.0;

    /* both products in one call (conv2d_bwd: for pointwise convs one chunked pass) */
    float *dxc = dup(dx0, nx), *dwc = dup(dw0, nw), *dbc = with_bias ? dup(db0, c->cout) : NULL;
    CHECK(be->conv2d_bwd != NULL, "cpu backend offers conv2d_bwd");
    if (be->conv2d_bwd) {
        st = be->conv2d_bwd(be, &p, dxc, acc, dwc, dbc, x, xs, dy, ys, w);
        CHECK(st == DNAS_OK, "%s bwd: %s", c->name, dnas_last_error());
        double e1 = scaled_err(dxc, dxr, nx), e2 = scaled_err(dwc, dwr, nw);
        double e3 = with_bias ? scaled_err(dbc, dbr, c->cout) : 0.0;
        CHECK(e1 < TOL && e2 < TOL && e3 < TOL, "%s combined bwd errors %.3g %.3g %.3g",
              c->name, e1, e2, e3);
    }
    free(dxc), free(dwc), free(dbc);

    /* determinism: same thread count -> bit-identical */
    float *y2 = rnd(ny), *dx2 = dup(dx0, nx), *dw2 = dup(dw0, nw);
    float *db2 = with_bias ? dup(db0, c->cout) : NULL;
    be->conv2d_fwd(be, &p, y2, ys, x, xs, w, b);
    be->conv2d_bwd_data(be, &p, dx2, acc, xs, dy, ys, w);
    be->conv2d_bwd_weight(be, &p, dw2, db2, x, xs, dy, ys);
    int same = memcmp(y, y2, ny * sizeof *y) == 0 && memcmp(dx, dx2, nx * sizeof *dx) == 0 &&
               memcmp(dw, dw2, nw * sizeof *dw) == 0 &&
               (!with_bias || memcmp(db, db2, c->cout * sizeof *db) == 0);
    CHECK(same, "%s: repeated run with %d threads is not bit-identical", c->name, threads);

    double worst = ef;
    if (ed > worst) worst = ed;
    if (ew > worst) worst = ew;
    if (eb > worst) worst = eb;
    printf("  %-34s t=%d bias=%d acc=%d  fwd %.1e  bwd_data %.1e  bwd_w %.1e  db %.1e\n",
           c->name, threads, with_bias, acc, ef, ed, ew, eb);
    CHECK(ef < TOL, "%s fwd error %.3g", c->name, ef);
    CHECK(ed < TOL, "%s bwd_data error %.3g", c->name, ed);
    CHECK(ew < TOL, "%s bwd_weight error %.3g", c->name, ew);
    CHECK(eb < TOL, "%s bias grad error %.3g", c->name, eb);

    free(x), free(w), free(b), free(dy), free(dx0), free(dw0), free(db0);
    free(xd), free(wd), free(bd), free(dyd), free(y), free(yr), free(dx), free(dxr);
    free(dw), free(db), free(dwr), free(dbr), free(y2), free(dx2), free(dw2), free(db2);
    dnas_backend_destroy(be);
    return worst;
}

/* every case with 1 and 2 threads (and 3, more workers than cores), both acc, bias on/off */
static void run_all(const conv_case *cs, int n) {
    for (int i = 0; i < n; i++) {
        run_case(&cs[i], 1, 1, 0);
        run_case(&cs[i], 2, 0, 1);
        run_case(&cs[i], 3, i & 1, i & 1 ? 0 : 1);
    }
}

static void test_nb201_shapes(void) {
    const conv_case cs[] = {
        {"16->16 3x3 @32", 2, 16, 32, 32, 16, 3, 3, 1, 1, 1, 1, 0, 0},
        {"16->16 1x1 @32", 2, 16, 32, 32, 16, 1, 1, 1, 0, 1, 1, 0, 0},
        {"32->32 3x3 @16", 2, 32, 16, 16, 32, 3, 3, 1, 1, 1, 1, 0, 0},
        {"64->64 3x3 @8", 3, 64, 8, 8, 64, 3, 3, 1, 1, 1, 1, 0, 0},
        {"32->32 1x1 @16", 2, 32, 16, 16, 32, 1, 1, 1, 0, 1, 1, 0, 0},
        {"stem 3->16 3x3 @32", 2, 3, 32, 32, 16, 3, 3, 1, 1, 1, 1, 0, 0},
    };
    run_all(cs, (int)(sizeof cs / sizeof cs[0]));
}

static void test_stride2(void) {
    const conv_case cs[] = {
        {"16->32 3x3 s2 @32", 2, 16, 32, 32, 32, 3, 3, 2, 1, 1, 1, 0, 0},
        {"32->64 3x3 s2 @16", 2, 32, 16, 16, 64, 3, 3, 2, 1, 1, 1, 0, 0},
        {"16->32 1x1 s2 @32", 2, 16, 32, 32, 32, 1, 1, 2, 0, 1, 1, 0, 0},
        {"8->8 3x3 s3 p1 @11", 2, 8, 11, 11, 8, 3, 3, 3, 1, 1, 1, 0, 0},
        {"8->8 3x3 s2 d2 p2 @9", 2, 8, 9, 9, 8, 3, 3, 2, 2, 2, 1, 0, 0},
    };
    run_all(cs, (int)(sizeof cs / sizeof cs[0]));
}

static void test_odd_channels(void) {
    const conv_case cs[] = {
        {"3->5 3x3 @7x9", 2, 3, 7, 9, 5, 3, 3, 1, 1, 1, 1, 0, 0},
        {"5->3 3x3 s2 @9x7", 2, 5, 9, 7, 3, 3, 3, 2, 1, 1, 1, 0, 0},
        {"36->36 3x3 @8", 2, 36, 8, 8, 36, 3, 3, 1, 1, 1, 1, 0, 0},
        {"36->36 1x1 @8", 2, 36, 8, 8, 36, 1, 1, 1, 0, 1, 1, 0, 0},
        {"72->72 1x1 @5", 2, 72, 5, 5, 72, 1, 1, 1, 0, 1, 1, 0, 0},
        {"144->144 1x1 @4", 1, 144, 4, 4, 144, 1, 1, 1, 0, 1, 1, 0, 0},
        {"144->36 1x1 @6", 2, 144, 6, 6, 36, 1, 1, 1, 0, 1, 1, 0, 0},
        {"576->144 1x1 @3", 2, 576, 3, 3, 144, 1, 1, 1, 0, 1, 1, 0, 0},
        {"12->20 3x3 @6", 3, 12, 6, 6, 20, 3, 3, 1, 1, 1, 1, 0, 0},
        {"1->1 5x5 @3 p2", 2, 1, 3, 3, 1, 5, 5, 1, 2, 1, 1, 0, 0},
    };
    run_all(cs, (int)(sizeof cs / sizeof cs[0]));
}

static void test_dilation(void) {
    const conv_case cs[] = {
        {"16->16 3x3 d2 p2 @12", 2, 16, 12, 12, 16, 3, 3, 1, 2, 2, 1, 0, 0},
        {"8->16 5x5 d2 p4 s2 @13", 2, 8, 13, 13, 16, 5, 5, 2, 4, 2, 1, 0, 0},
    };
    run_all(cs, (int)(sizeof cs / sizeof cs[0]));
}

static void test_depthwise(void) {
    const conv_case cs[] = {
        {"dw 36 3x3 p1 @8", 2, 36, 8, 8, 36, 3, 3, 1, 1, 1, 36, 0, 0},
        {"dw 36 3x3 s2 p1 @16", 2, 36, 16, 16, 36, 3, 3, 2, 1, 1, 36, 0, 0},
        {"dw 16 5x5 p2 @16", 2, 16, 16, 16, 16, 5, 5, 1, 2, 1, 16, 0, 0},
        {"dw 20 3x3 d2 p2 @9", 2, 20, 9, 9, 20, 3, 3, 1, 2, 2, 20, 0, 0},
        {"dw 72 5x5 d2 p4 s2 @10", 2, 72, 10, 10, 72, 5, 5, 2, 4, 2, 72, 0, 0},
        {"dw 144 5x5 d2 p4 @4", 1, 144, 4, 4, 144, 5, 5, 1, 4, 2, 144, 0, 0},
        {"dw 3 3x3 p1 @5", 2, 3, 5, 5, 3, 3, 3, 1, 1, 1, 3, 0, 0},
        /* the DARTS net's dil_conv / sep_conv shapes with the 4-channel tail of 36 */
        {"dw 36 5x5 d2 p4 @12", 2, 36, 12, 12, 36, 5, 5, 1, 4, 2, 36, 0, 0},
        {"dw 36 5x5 s2 p2 @11", 2, 36, 11, 11, 36, 5, 5, 2, 2, 1, 36, 0, 0},
        {"dw 36 3x3 d2 s2 p2 @10", 2, 36, 10, 10, 36, 3, 3, 2, 2, 2, 36, 0, 0},
        {"dw 144 3x3 s2 p1 @8", 2, 144, 8, 8, 144, 3, 3, 2, 1, 1, 144, 0, 0},
        {"dw 72 3x3 d2 p2 @8", 2, 72, 8, 8, 72, 3, 3, 1, 2, 2, 72, 0, 0},
    };
    run_all(cs, (int)(sizeof cs / sizeof cs[0]));
}

static void test_grouped(void) {
    const conv_case cs[] = {
        {"g4 16->32 3x3 @8", 2, 16, 8, 8, 32, 3, 3, 1, 1, 1, 4, 0, 0},
        {"g3 12->12 3x3 s2 @9", 2, 12, 9, 9, 12, 3, 3, 2, 1, 1, 3, 0, 0},
        {"g2 36->72 1x1 @6", 2, 36, 6, 6, 72, 1, 1, 1, 0, 1, 2, 0, 0},
        {"g8 8->16 3x3 (mult 2) @7", 2, 8, 7, 7, 16, 3, 3, 1, 1, 1, 8, 0, 0},
    };
    run_all(cs, (int)(sizeof cs / sizeof cs[0]));
}

/* FactorizedReduce's shifted branch: 1x1 stride 2, pad -1 reads pixels 1, 3, 5, ... */
static void test_negative_pad(void) {
    const conv_case cs[] = {
        {"FR 16->8 1x1 s2 p-1 @8", 2, 16, 8, 8, 8, 1, 1, 2, -1, 1, 1, 4, 4},
        {"FR 36->18 1x1 s2 p-1 @16", 2, 36, 16, 16, 18, 1, 1, 2, -1, 1, 1, 8, 8},
        {"FR odd 16->8 s2 p-1 @7", 2, 16, 7, 7, 8, 1, 1, 2, -1, 1, 1, 4, 4},
        {"3x3 p-1 @10", 2, 8, 10, 10, 8, 3, 3, 1, -1, 1, 1, 0, 0},
        {"big ys 3x3 p0 reads past end", 2, 8, 6, 6, 8, 3, 3, 1, 0, 1, 1, 6, 7},
    };
    run_all(cs, (int)(sizeof cs / sizeof cs[0]));
}

static void test_nonsquare_kernel(void) {
    const conv_case cs[] = {
        {"1x3 p1 @6x8", 2, 8, 6, 8, 16, 1, 3, 1, 1, 1, 1, 0, 0},
        {"3x1 p1 s2 @7x5", 2, 16, 7, 5, 8, 3, 1, 2, 1, 1, 1, 0, 0},
        {"dw 1x5 p2 @6", 2, 24, 6, 6, 24, 1, 5, 1, 2, 1, 24, 0, 0},
    };
    run_all(cs, (int)(sizeof cs / sizeof cs[0]));
}

/* Beyond the fast paths' limits: kernel > 16 or stride > 8 use the scalar fallback. */
static void test_fallback(void) {
    const conv_case cs[] = {
        {"17x17 p8 @9", 2, 2, 9, 9, 3, 17, 17, 1, 8, 1, 1, 0, 0},
        {"1x1 s9 @20", 2, 4, 20, 20, 5, 1, 1, 9, 0, 1, 1, 0, 0},
        {"dw 3x3 s9 p1 @20", 2, 4, 20, 20, 4, 3, 3, 9, 1, 1, 4, 0, 0},
    };
    run_all(cs, (int)(sizeof cs / sizeof cs[0]));
}

/* N=1 with more workers than bands, and a larger odd batch. */
static void test_batch_split(void) {
    const conv_case cs[] = {
        {"N=1 16->16 3x3 @8", 1, 16, 8, 8, 16, 3, 3, 1, 1, 1, 1, 0, 0},
        {"N=5 16->16 3x3 @32", 5, 16, 32, 32, 16, 3, 3, 1, 1, 1, 1, 0, 0},
    };
    run_all(cs, (int)(sizeof cs / sizeof cs[0]));
    const conv_case big = {"N=1 16->16 3x3 @8 t=7", 1, 16, 8, 8, 16, 3, 3, 1, 1, 1, 1, 0, 0};
    run_case(&big, 7, 1, 0);
}

/* Pointwise backward over several pixel chunks (conv2d_bwd): against the reference, and, where
 * the chunked oneDNN path runs, bit-identical at 1, 2 and 3 threads, since the chunks depend on
 * the shape only (without oneDNN it is the two kernels above, whose dW split follows T). */
static void test_pw_bwd_chunks(void) {
    const int shapes[][5] = {{4, 36, 32, 32, 36}, {6, 144, 16, 16, 36}, {9, 72, 15, 17, 144}};
    for (int k = 0; k < 3; k++) {
        const int N = shapes[k][0], ci = shapes[k][1], H = shapes[k][2], W = shapes[k][3];
        const int co = shapes[k][4];
        dnas_conv_p p = {ci, co, 1, 1, 1, 0, 1, 1};
        dnas_shape xs = dnas_shape4(N, ci, H, W), ys = dnas_shape4(N, co, H, W);
        size_t nx = dnas_shape_numel(xs), ny = dnas_shape_numel(ys), nw = (size_t)ci * co;
        float *x = rnd(nx), *w = rnd(nw), *dy = rnd(ny), *dx0 = rnd(nx), *dw0 = rnd(nw);
        float *db0 = rnd(co);
        double *dxr = todbl(dx0, nx), *dwr = todbl(dw0, nw), *xd = todbl(x, nx);
        double *wd = todbl(w, nw), *dyd = todbl(dy, ny), *dbr = todbl(db0, co);
        dnas_ref_conv2d_bwd_data(&p, dxr, 1, xs, dyd, ys, wd);
        dnas_ref_conv2d_bwd_weight(&p, dwr, dbr, xd, xs, dyd, ys);
        float *dx1 = NULL, *dw1 = NULL, *db1 = NULL;
        for (int T = 1; T <= 3; T++) {
            dnas_backend *be = make_be(T);
            CHECK(be != NULL, "backend");
            if (!be) break;
            /* the second shape with a bias (NB201's 1x1 convs have one) */
            float *dx = dup(dx0, nx), *dw = dup(dw0, nw), *db = k == 1 ? dup(db0, co) : NULL;
            CHECK(be->conv2d_bwd(be, &p, dx, 1, dw, db, x, xs, dy, ys, w) == DNAS_OK,
                  "pw bwd: %s", dnas_last_error());
            double e1 = scaled_err(dx, dxr, nx), e2 = scaled_err(dw, dwr, nw);
            double e3 = db ? scaled_err(db, dbr, co) : 0.0;
            printf("  pw %d->%d %dx%d n%d t=%d  dx %.1e  dw %.1e  db %.1e\n", ci, co, H, W, N, T,
                   e1, e2, e3);
            CHECK(e1 < TOL && e2 < TOL && e3 < TOL, "pw bwd errors %.3g %.3g %.3g", e1, e2, e3);
            if (!dx1) {
                dx1 = dx, dw1 = dw, db1 = db;
            } else if (!DNAS_HAVE_DNNL_T) {
                free(dx), free(dw), free(db);
            } else {
                CHECK(!memcmp(dx, dx1, nx * sizeof *dx) && !memcmp(dw, dw1, nw * sizeof *dw) &&
                          (!db || !memcmp(db, db1, co * sizeof *db)),
                      "pw %d->%d: %d threads differ from 1 thread", ci, co, T);
                free(dx), free(dw), free(db);
            }
            dnas_backend_destroy(be);
        }
        free(x), free(w), free(dy), free(dx0), free(dw0), free(dxr), free(dwr), free(xd);
        free(wd), free(dyd), free(dx1), free(dw1), free(db0), free(dbr), free(db1);
    }
}

/* NULL gradients are skipped; bad shapes are refused with a message. */
static void test_nulls_and_errors(void) {
    dnas_backend *be = make_be(2);
    CHECK(be != NULL, "backend");
    if (!be) return;
    dnas_conv_p p = {4, 6, 3, 3, 1, 1, 1, 1};
    dnas_shape xs = dnas_shape4(2, 4, 5, 5), ys = dnas_shape4(2, 6, 5, 5);
    size_t nx = dnas_shape_numel(xs), ny = dnas_shape_numel(ys), nw = 6 * 9 * 4;
    float *x = rnd(nx), *dy = rnd(ny), *db = calloc(6, sizeof *db);
    double *xd = todbl(x, nx), *dyd = todbl(dy, ny), dbr[6] = {0};
    CHECK(be->conv2d_bwd_weight(be, &p, NULL, db, x, xs, dy, ys) == DNAS_OK, "db only");
    dnas_ref_conv2d_bwd_weight(&p, NULL, dbr, xd, xs, dyd, ys);
    CHECK(scaled_err(db, dbr, 6) < TOL, "db only: error %.3g", scaled_err(db, dbr, 6));
    CHECK(be->conv2d_bwd_data(be, &p, NULL, 0, xs, dy, ys, x) == DNAS_OK, "dx NULL");
    dnas_shape bad = dnas_shape4(2, 5, 5, 5);
    float *y = rnd(ny), *w = rnd(nw);
    CHECK(be->conv2d_fwd(be, &p, y, ys, x, bad, w, NULL) == DNAS_ERR_INVALID_ARG, "cin mismatch");
    CHECK(strlen(dnas_last_error()) > 0, "message");
    dnas_conv_p pg = {4, 6, 3, 3, 1, 1, 1, 4};
    CHECK(be->conv2d_fwd(be, &pg, y, ys, x, xs, w, NULL) == DNAS_ERR_INVALID_ARG,
          "groups must divide cout");
    free(x), free(dy), free(db), free(xd), free(dyd), free(y), free(w);
    dnas_backend_destroy(be);
}

int main(void) {
    RUN(test_nb201_shapes);
    RUN(test_stride2);
    RUN(test_odd_channels);
    RUN(test_dilation);
    RUN(test_depthwise);
    RUN(test_grouped);
    RUN(test_negative_pad);
    RUN(test_nonsquare_kernel);
    RUN(test_fallback);
    RUN(test_batch_split);
    RUN(test_pw_bwd_chunks);
    RUN(test_nulls_and_errors);
    TEST_EXIT();
}
