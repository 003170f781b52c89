/* The dense and depthwise convolution kernels give bit-identical results with the 8-lane AVX2 and the
 * 16-lane AVX-512 micro-kernels (dnas_cpu_isa), so runs, checkpoints and resumes agree between
 * machines with and without AVX-512. Forward, backward-data and backward-weight (+ bias grad)
 * run once per ISA on the same inputs and are compared with memcmp, and both against the double
 * reference backend (same error measure and tolerance as test_cpu_conv). Our gather engine
 * runs 1x1 too (DNAS_CONV_IMPL forced to "ours"). On a CPU without AVX-512 the forced choice
 * must fall back to the 8-lane kernels: the same comparisons then check that fallback. */
#include "test.h"

#include "backend/backend.h"
#include "backend/cpu/cpu_internal.h"
#include "backend/ref/ref.h"
#include "core/status.h"
#define KC_SEED 0x9E3779B97F4A7C15ull
#include "kernel_check.h"

#define TOL 1e-4

static float *rnd(size_t n) {
    float *a = malloc((n ? n : 1) * sizeof *a);
    for (size_t i = 0; i < n; i++) a[i] = frand();
    return a;
}
static double *todbl(const float *a, size_t n) {
    double *d = malloc((n ? n : 1) * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = a[i];
    return d;
}

typedef struct {
    const char *name;
    int n, cin, h, w, cout, k, stride, pad, dil, groups;
} icase;

static dnas_backend *make_be(int threads) {
    dnas_backend *be = NULL;
    if (dnas_backend_cpu_create(threads, &be) != DNAS_OK) return NULL;
    ((dnas_cpu_impl *)be->impl)->threads = threads; /* the split depends on it: pin it */
    return be;
}

static int n_compared; /* cases whose two ISA runs were compared */

/* Runs the three kernels with each ISA on the same inputs; outputs must match bit for bit
 * and be within TOL of the reference. */
static void check_case(const icase *c, int threads, int bias, int acc) {
    dnas_conv_p p = {c->cin, c->cout, c->k, c->k, c->stride, c->pad, c->dil, c->groups};
    const int oh = (c->h + 2 * c->pad - c->dil * (c->k - 1) - 1) / c->stride + 1;
    const int ow = (c->w + 2 * c->pad - c->dil * (c->k - 1) - 1) / c->stride + 1;
    dnas_shape xs = dnas_shape4(c->n, c->cin, c->h, c->w);
    dnas_shape ys = dnas_shape4(c->n, c->cout, oh, ow);
    const size_t nx = dnas_shape_numel(xs), ny = dnas_shape_numel(ys);
    const size_t nw = (size_t)c->cout * c->k * c->k * (c->cin / c->groups), nb = c->cout;
    dnas_backend *be = make_be(threads);
    CHECK(be != NULL, "backend create failed");
    if (!be) return;

    float *x = rnd(nx), *w = rnd(nw), *b = bias ? rnd(nb) : NULL, *dy = rnd(ny);
    float *dx0 = rnd(nx), *dw0 = rnd(nw), *db0 = rnd(nb);
    float *y[2], *dx[2], *dw[2], *db[2];
    for (int i = 0; i < 2; i++) {
        dnas_cpu_isa = i ? DNAS_ISA_AVX512 : DNAS_ISA_AVX2;
        const int used = dnas_cpu_isa_used();
        CHECK(used == (i && dnas_cpu_has_avx512() ? DNAS_ISA_AVX512 : DNAS_ISA_AVX2),
              "%s: forced isa %d runs %d", c->name, i, used);
        y[i] = rnd(ny); /* garbage: must be overwritten */
        dx[i] = dup(dx0, nx);
        dw[i] = dup(dw0, nw);
        db[i] = bias ? dup(db0, nb) : NULL;
        CHECK(be->conv2d_fwd(be, &p, y[i], ys, x, xs, w, b) == DNAS_OK, "%s fwd: %s", c->name,
              dnas_last_error());
        CHECK(be->conv2d_bwd_data(be, &p, dx[i], acc, xs, dy, ys, w) == DNAS_OK,
              "%s bwd_data: %s", c->name, dnas_last_error());
        CHECK(be->conv2d_bwd_weight(be, &p, dw[i], db[i], x, xs, dy, ys) == DNAS_OK,
              "%s bwd_weight: %s", c->name, dnas_last_error());
    }
    dnas_cpu_isa = DNAS_ISA_AUTO;
    const long fy = first_diff(y[0], y[1], ny), fx = first_diff(dx[0], dx[1], nx);
    const long fw = first_diff(dw[0], dw[1], nw), fb = bias ? first_diff(db[0], db[1], nb) : -1;
    CHECK(fy < 0, "%s t=%d: fwd differs between ISAs at %ld (%.9g vs %.9g)", c->name, threads,
          fy, fy < 0 ? 0.0 : y[0][fy], fy < 0 ? 0.0 : y[1][fy]);
    CHECK(fx < 0, "%s t=%d acc=%d: bwd_data differs between ISAs at %ld (%.9g vs %.9g)",
          c->name, threads, acc, fx, fx < 0 ? 0.0 : dx[0][fx], fx < 0 ? 0.0 : dx[1][fx]);
    CHECK(fw < 0, "%s t=%d: bwd_weight differs between ISAs at %ld (%.9g vs %.9g)", c->name,
          threads, fw, fw < 0 ? 0.0 : dw[0][fw], fw < 0 ? 0.0 : dw[1][fw]);
    CHECK(fb < 0, "%s t=%d: bias grad differs between ISAs at %ld", c->name, threads, fb);

    /* reference, in double */
    double *xd = todbl(x, nx), *wd = todbl(w, nw), *bd = bias ? todbl(b, nb) : NULL;
    double *dyd = todbl(dy, ny), *yr = malloc(ny * sizeof *yr), *dxr = todbl(dx0, nx);
    double *dwr = todbl(dw0, nw), *dbr = bias ? todbl(db0, nb) : NULL;
    dnas_ref_conv2d_fwd(&p, yr, ys, xd, xs, wd, bd);
    dnas_ref_conv2d_bwd_data(&p, dxr, acc, xs, dyd, ys, wd);
    dnas_ref_conv2d_bwd_weight(&p, dwr, dbr, xd, xs, dyd, ys);
    for (int i = 0; i < 2; i++) {
        const double ef = scaled_err(y[i], yr, ny), ed = scaled_err(dx[i], dxr, nx);
        const double ew = scaled_err(dw[i], dwr, nw), eb = bias ? scaled_err(db[i], dbr, nb) : 0;
        const char *isa = i ? "avx512" : "avx2";
        CHECK(ef < TOL && ed < TOL && ew < TOL && eb < TOL,
              "%s %s t=%d: error vs reference fwd %.3g bwd_data %.3g bwd_w %.3g db %.3g",
              c->name, isa, threads, ef, ed, ew, eb);
        if (i) printf("  %-28s t=%d bias=%d acc=%d  identical=%d  err fwd %.1e bwd_d %.1e "
                      "bwd_w %.1e\n", c->name, threads, bias, acc,
                      fy < 0 && fx < 0 && fw < 0 && fb < 0, ef, ed, ew);
    }
    n_compared++;
    for (int i = 0; i < 2; i++) free(y[i]), free(dx[i]), free(dw[i]), free(db[i]);
    free(x), free(w), free(b), free(dy), free(dx0), free(dw0), free(db0);
    free(xd), free(wd), free(bd), free(dyd), free(yr), free(dxr), free(dwr), free(dbr);
    dnas_backend_destroy(be);
}

/* 1 and 2 threads (the weight gradient's chunking depends on it), bias and acc both ways */
static void check_all(const icase *cs, int n) {
    const int prev = dnas_cpu_conv_impl;
    dnas_cpu_conv_impl = DNAS_CONV_OURS; /* our engine for 1x1 too, not oneDNN's GEMM */
    for (int i = 0; i < n; i++) {
        check_case(&cs[i], 1, 1, 0);
        check_case(&cs[i], 2, 0, 1);
        check_case(&cs[i], 2, 1, 1);
    }
    dnas_cpu_conv_impl = prev;
}

/* What this machine runs, and that forcing the choice works (on a CPU without AVX-512:
 * that asking for it falls back). */
static void test_selection(void) {
    const int have = dnas_cpu_has_avx512(), prev = dnas_cpu_isa;
    printf("  AVX-512 kernels: %s\n", have ? "built and supported by this CPU"
                                           : "not available (comparing the fallback)");
    dnas_cpu_isa = DNAS_ISA_AVX2;
    CHECK(dnas_cpu_isa_used() == DNAS_ISA_AVX2, "forced avx2");
    dnas_cpu_isa = DNAS_ISA_AVX512;
    CHECK(dnas_cpu_isa_used() == (have ? DNAS_ISA_AVX512 : DNAS_ISA_AVX2), "forced avx512");
    dnas_cpu_isa = DNAS_ISA_AUTO;
    CHECK(dnas_cpu_isa_used() == (have ? DNAS_ISA_AVX512 : DNAS_ISA_AVX2), "auto");
    /* DNAS_CPU_ISA is read when the choice is unset (-1) */
    const char *env = getenv("DNAS_CPU_ISA");
    char *saved = env ? strdup(env) : NULL;
    setenv("DNAS_CPU_ISA", "avx2", 1);
    dnas_cpu_isa = -1;
    CHECK(dnas_cpu_isa_used() == DNAS_ISA_AVX2 && dnas_cpu_isa == DNAS_ISA_AVX2, "env avx2");
    setenv("DNAS_CPU_ISA", "avx512", 1);
    dnas_cpu_isa = -1;
    CHECK(dnas_cpu_isa_used() == (have ? DNAS_ISA_AVX512 : DNAS_ISA_AVX2) &&
              dnas_cpu_isa == DNAS_ISA_AVX512,
          "env avx512");
    if (saved) setenv("DNAS_CPU_ISA", saved, 1);
    else unsetenv("DNAS_CPU_ISA");
    free(saved);
    dnas_cpu_isa = prev;
}

/* Channel counts around the 16-lane blocks: 8 (one half block), 16, 32 (a block pair), 36
 * (pair + 4-lane tail), 48 (pair + block), 64, 72 (8-lane tail), and cin != cout. */
static void test_channels_3x3(void) {
    const icase cs[] = {
        {"8->8 3x3 @9x7", 2, 8, 9, 7, 8, 3, 1, 1, 1, 1},
        {"16->16 3x3 @32", 2, 16, 32, 32, 16, 3, 1, 1, 1, 1},
        {"32->32 3x3 @16", 2, 32, 16, 16, 32, 3, 1, 1, 1, 1},
        {"36->36 3x3 @11", 3, 36, 11, 11, 36, 3, 1, 1, 1, 1},
        {"48->48 3x3 @7", 2, 48, 7, 7, 48, 3, 1, 1, 1, 1},
        {"64->64 3x3 @8", 2, 64, 8, 8, 64, 3, 1, 1, 1, 1},
        {"72->72 3x3 @5x6", 2, 72, 5, 6, 72, 3, 1, 1, 1, 1},
        {"16->36 3x3 @9", 2, 16, 9, 9, 36, 3, 1, 1, 1, 1},
        {"36->20 3x3 @13x5", 2, 36, 13, 5, 20, 3, 1, 1, 1, 1},
        {"stem 3->16 3x3 @10", 2, 3, 10, 10, 16, 3, 1, 1, 1, 1},
    };
    check_all(cs, (int)(sizeof cs / sizeof cs[0]));
}

static void test_kernels_5x5_1x1(void) {
    const icase cs[] = {
        {"16->16 5x5 @12", 2, 16, 12, 12, 16, 5, 1, 2, 1, 1},
        {"36->48 5x5 @9", 2, 36, 9, 9, 48, 5, 1, 2, 1, 1},
        {"16->16 1x1 @32", 2, 16, 32, 32, 16, 1, 1, 0, 1, 1},
        {"32->64 1x1 @15", 2, 32, 15, 15, 64, 1, 1, 0, 1, 1},
        {"36->36 1x1 @13", 2, 36, 13, 13, 36, 1, 1, 0, 1, 1},
        {"64->8 1x1 @9", 2, 64, 9, 9, 8, 1, 1, 0, 1, 1},
        {"72->72 1x1 @7", 2, 72, 7, 7, 72, 1, 1, 0, 1, 1},
    };
    check_all(cs, (int)(sizeof cs / sizeof cs[0]));
}

/* Stride 2 (backward-data walks 4 phases) and dilation 2. */
static void test_stride_dilation(void) {
    const icase cs[] = {
        {"16->32 3x3 s2 @33", 2, 16, 33, 33, 32, 3, 2, 1, 1, 1},
        {"32->64 3x3 s2 @16", 2, 32, 16, 16, 64, 3, 2, 1, 1, 1},
        {"36->36 5x5 s2 @15", 2, 36, 15, 15, 36, 5, 2, 2, 1, 1},
        {"16->32 1x1 s2 @15", 2, 16, 15, 15, 32, 1, 2, 0, 1, 1},
        {"32->32 3x3 d2 @13", 2, 32, 13, 13, 32, 3, 1, 2, 2, 1},
        {"48->16 5x5 d2 s2 @17", 2, 48, 17, 17, 16, 5, 2, 4, 2, 1},
        {"64->64 3x3 d2 @9", 2, 64, 9, 9, 64, 3, 1, 2, 2, 1},
    };
    check_all(cs, (int)(sizeof cs / sizeof cs[0]));
}

/* Grouped (not depthwise) convolutions take the dense path per group. */
static void test_groups(void) {
    const icase cs[] = {
        {"g2 32->32 3x3 @9", 2, 32, 9, 9, 32, 3, 1, 1, 1, 2},
        {"g2 72->36 1x1 @8", 2, 72, 8, 8, 36, 1, 1, 0, 1, 2},
        {"g4 64->64 3x3 s2 @11", 2, 64, 11, 11, 64, 3, 2, 1, 1, 4},
        {"g4 16->32 3x3 @8", 2, 16, 8, 8, 32, 3, 1, 1, 1, 4},
        {"dw 36 3x3 @10", 2, 36, 10, 10, 36, 3, 1, 1, 1, 36},
    };
    check_all(cs, (int)(sizeof cs / sizeof cs[0]));
}

/* Depthwise (groups = channels): 16-lane blocks under AVX-512, with tails of 8 and 4 channels
 * on the 8- / 4-lane kernels and other tails (3, 12, 20 = 16 + 4 ... ) on masked 16-lane
 * blocks; the DARTS sep_conv / dil_conv geometries (3x3, 5x5, dilation 2, stride 2 with its 4
 * backward-data phases), odd and non-square sizes, 5x5 weight gradients in tap chunks. */
static void test_depthwise(void) {
    const icase cs[] = {
        {"dw 8 3x3 @9x7", 2, 8, 9, 7, 8, 3, 1, 1, 1, 8},
        {"dw 16 5x5 @11", 2, 16, 11, 11, 16, 5, 1, 2, 1, 16},
        {"dw 16 3x3 s2 @13", 2, 16, 13, 13, 16, 3, 2, 1, 1, 16},
        {"dw 36 3x3 @13x11", 2, 36, 13, 11, 36, 3, 1, 1, 1, 36},
        {"dw 36 3x3 d2 @13x11", 2, 36, 13, 11, 36, 3, 1, 2, 2, 36},
        {"dw 36 5x5 d2 @11", 2, 36, 11, 11, 36, 5, 1, 4, 2, 36},
        {"dw 36 5x5 s2 @15", 2, 36, 15, 15, 36, 5, 2, 2, 1, 36},
        {"dw 36 3x3 d2 s2 @15", 2, 36, 15, 15, 36, 3, 2, 2, 2, 36},
        {"dw 48 3x3 s2 @9", 2, 48, 9, 9, 48, 3, 2, 1, 1, 48},
        {"dw 48 5x5 @7x9", 2, 48, 7, 9, 48, 5, 1, 2, 1, 48},
        {"dw 72 3x3 @9", 2, 72, 9, 9, 72, 3, 1, 1, 1, 72},
        {"dw 72 5x5 d2 @9", 2, 72, 9, 9, 72, 5, 1, 4, 2, 72},
        {"dw 72 3x3 d2 s2 @11", 2, 72, 11, 11, 72, 3, 2, 2, 2, 72},
        {"dw 72 5x5 s2 @17", 2, 72, 17, 17, 72, 5, 2, 2, 1, 72},
        {"dw 144 3x3 @7", 2, 144, 7, 7, 144, 3, 1, 1, 1, 144},
        {"dw 144 5x5 d2 s2 @9", 2, 144, 9, 9, 144, 5, 2, 4, 2, 144},
        {"dw 144 5x5 @5x7", 2, 144, 5, 7, 144, 5, 1, 2, 1, 144},
        {"dw 3 3x3 @7", 2, 3, 7, 7, 3, 3, 1, 1, 1, 3},
        {"dw 12 5x5 s2 @9", 2, 12, 9, 9, 12, 5, 2, 2, 1, 12},
        {"dw 20 3x3 d2 @9x5", 2, 20, 9, 5, 20, 3, 1, 2, 2, 20},
        {"dw 40 3x3 @6", 3, 40, 6, 6, 40, 3, 1, 1, 1, 40},
        {"dw 44 3x3 s2 @10", 2, 44, 10, 10, 44, 3, 2, 1, 1, 44},
        {"dw 36 3x3 no pad @8", 2, 36, 8, 8, 36, 3, 1, 0, 1, 36},
        /* stride 1 with C = 4 or 8 mod 16: rows in groups of 4 (2) pixels as full vectors
         * (dw_flat), widths with and without a row's leftover pixels */
        {"dw 36 3x3 flat @6x16", 2, 36, 6, 16, 36, 3, 1, 1, 1, 36},
        {"dw 36 5x5 d2 flat @7x4", 2, 36, 7, 4, 36, 5, 1, 4, 2, 36},
        {"dw 72 5x5 flat @5x10", 2, 72, 5, 10, 72, 5, 1, 2, 1, 72},
        {"dw 20 3x3 flat @9x12", 2, 20, 9, 12, 20, 3, 1, 1, 1, 20},
        {"dw 12 3x3 flat @4x3", 2, 12, 4, 3, 12, 3, 1, 1, 1, 12},
        {"dw 24 3x3 flat no pad @6x5", 2, 24, 6, 5, 24, 3, 1, 0, 1, 24},
    };
    check_all(cs, (int)(sizeof cs / sizeof cs[0]));
}

/* More workers than cores, and N=1 with few bands. */
static void test_threads(void) {
    const int prev = dnas_cpu_conv_impl;
    dnas_cpu_conv_impl = DNAS_CONV_OURS;
    const icase a = {"N=3 32->32 3x3 @16 t=3", 3, 32, 16, 16, 32, 3, 1, 1, 1, 1};
    const icase b = {"N=1 36->36 3x3 @8 t=4", 1, 36, 8, 8, 36, 3, 1, 1, 1, 1};
    const icase d = {"N=3 dw 36 5x5 @9 t=3", 3, 36, 9, 9, 36, 5, 1, 2, 1, 36};
    check_case(&a, 3, 1, 0);
    check_case(&b, 4, 0, 1);
    check_case(&d, 3, 1, 1);
    dnas_cpu_conv_impl = prev;
}

int main(void) {
    RUN(test_selection);
    RUN(test_channels_3x3);
    RUN(test_kernels_5x5_1x1);
    RUN(test_stride_dilation);
    RUN(test_groups);
    RUN(test_depthwise);
    RUN(test_threads);
    printf("%d cases compared between ISAs (AVX-512 %s)\n", n_compared,
           dnas_cpu_has_avx512() ? "on" : "off: fallback compared");
    TEST_EXIT();
}
