/* oneDNN's direct convolution for the dense 3x3 shapes (cpu_conv_dnnl.c): in a build with
 * oneDNN it is the one chosen on NB201's shapes (so a regression that silently declines every
 * shape fails here, not only as a slower step), and its three directions agree with our engine
 * (DNAS_CONV_IMPL=ours) within rounding, with the gradients of the weights added into
 * prefilled dw / db as ours does, either of them absent. Without oneDNN nothing is chosen.
 * test_cpu_conv compares the default path (this one, for these shapes) with the double
 * reference backend. */
#include "test.h"

#include "backend/backend.h"
#include "backend/cpu/cpu_internal.h"
#include "core/status.h"
#define KC_SEED 0x2545F4914F6CDD1Dull
#include "kernel_check.h"
#include <dirent.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef DNAS_HAVE_DNNL
#define DNAS_HAVE_DNNL_BUILD 1
#else
#define DNAS_HAVE_DNNL_BUILD 0
#endif

#define TOL 1e-5 /* ours vs oneDNN: two float summation orders of the same products */

static float *rnd(size_t n) {
    float *a = malloc((n ? n : 1) * sizeof *a);
    for (size_t i = 0; i < n; i++) a[i] = frand();
    return a;
}

/* scaled_err of a against b (ours) */
static double rel_diff(const float *a, const float *b, size_t n) {
    double *d = malloc((n ? n : 1) * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = b[i];
    const double e = scaled_err(a, d, n);
    free(d);
    return e;
}

typedef struct {
    const char *name;
    int n, cin, h, w, cout;
} dcase;

/* Our engine's result and oneDNN's for one shape; dw_on / db_on: which weight gradients. */
static void check_case(const dcase *c, int threads, int bias, int dw_on, int db_on) {
    dnas_conv_p p = {c->cin, c->cout, 3, 3, 1, 1, 1, 1};
    dnas_shape xs = dnas_shape4(c->n, c->cin, c->h, c->w);
    dnas_shape ys = dnas_shape4(c->n, c->cout, c->h, c->w);
    const size_t nx = dnas_shape_numel(xs), ny = dnas_shape_numel(ys);
    const size_t nw = (size_t)c->cout * 9 * c->cin, nb = c->cout;
    dnas_backend *be = NULL;
    CHECK(dnas_backend_cpu_create(threads, &be) == DNAS_OK, "backend: %s", dnas_last_error());
    if (!be) return;
    ((dnas_cpu_impl *)be->impl)->threads = threads;
    CHECK(dnas_cpu_dnnl_conv_ok(&p, xs, ys) == DNAS_HAVE_DNNL_BUILD,
          "%s: oneDNN offered %d in a build with oneDNN %d", c->name,
          dnas_cpu_dnnl_conv_ok(&p, xs, ys), DNAS_HAVE_DNNL_BUILD);

    float *x = rnd(nx), *w = rnd(nw), *b = bias ? rnd(nb) : NULL, *dy = rnd(ny);
    float *dw0 = rnd(nw), *db0 = rnd(nb);
    float *y[2], *dx[2], *dw[2], *db[2];
    const int prev = dnas_cpu_conv_impl;
    for (int i = 0; i < 2; i++) { /* 0: ours, 1: oneDNN */
        y[i] = rnd(ny), dx[i] = rnd(nx); /* garbage: must be overwritten */
        dw[i] = dw_on ? dup(dw0, nw) : NULL, db[i] = db_on ? dup(db0, nb) : NULL;
        if (!i) {
            dnas_cpu_conv_impl = DNAS_CONV_OURS;
            CHECK(be->conv2d_fwd(be, &p, y[i], ys, x, xs, w, b) == DNAS_OK, "fwd");
            CHECK(be->conv2d_bwd_data(be, &p, dx[i], 0, xs, dy, ys, w) == DNAS_OK, "bwd_data");
            CHECK(be->conv2d_bwd_weight(be, &p, dw[i], db[i], x, xs, dy, ys) == DNAS_OK, "bwd_w");
            dnas_cpu_conv_impl = prev;
            continue;
        }
        int u[3] = {-1, -1, -1};
        CHECK(dnas_cpu_dnnl_conv_fwd(be, &p, y[i], ys, x, xs, w, b, &u[0]) == DNAS_OK,
              "%s dnnl fwd: %s", c->name, dnas_last_error());
        CHECK(dnas_cpu_dnnl_conv_bwd_data(be, &p, dx[i], xs, dy, ys, w, &u[1]) == DNAS_OK,
              "%s dnnl bwd_data: %s", c->name, dnas_last_error());
        CHECK(dnas_cpu_dnnl_conv_bwd_weight(be, &p, dw[i], db[i], x, xs, dy, ys, &u[2]) ==
                  DNAS_OK,
              "%s dnnl bwd_weight: %s", c->name, dnas_last_error());
        const int want = DNAS_HAVE_DNNL_BUILD;
        CHECK(u[0] == want && u[1] == want && u[2] == want,
              "%s: oneDNN used fwd %d bwd_data %d bwd_w %d, expected %d", c->name, u[0], u[1],
              u[2], want);
    }
    if (DNAS_HAVE_DNNL_BUILD) {
        const double ey = rel_diff(y[1], y[0], ny), ex = rel_diff(dx[1], dx[0], nx);
        const double ew = dw_on ? rel_diff(dw[1], dw[0], nw) : 0.0;
        const double eb = db_on ? rel_diff(db[1], db[0], nb) : 0.0;
        printf("  %-18s t=%d bias=%d dw=%d db=%d  fwd %.1e bwd_d %.1e bwd_w %.1e db %.1e\n",
               c->name, threads, bias, dw_on, db_on, ey, ex, ew, eb);
        CHECK(ey < TOL && ex < TOL && ew < TOL && eb < TOL,
              "%s: oneDNN vs ours fwd %.3g bwd_data %.3g bwd_w %.3g db %.3g", c->name, ey, ex,
              ew, eb);
        /* cached primitives: a second call gives the same bits */
        float *y2 = rnd(ny);
        int u = 0;
        CHECK(dnas_cpu_dnnl_conv_fwd(be, &p, y2, ys, x, xs, w, b, &u) == DNAS_OK && u,
              "second fwd");
        CHECK(!memcmp(y2, y[1], ny * sizeof *y2), "%s: repeated fwd differs", c->name);
        free(y2);
    }
    for (int i = 0; i < 2; i++) free(y[i]), free(dx[i]), free(dw[i]), free(db[i]);
    free(x), free(w), free(b), free(dy), free(dw0), free(db0);
    dnas_backend_destroy(be);
}

static const dcase NB201[] = {
    {"16->16 @32", 4, 16, 32, 32, 16},
    {"32->32 @16", 4, 32, 16, 16, 32},
    {"64->64 @8", 4, 64, 8, 8, 64},
    {"24->40 @9x7", 3, 24, 9, 7, 40}, /* channels off oneDNN's 16-blocks, odd image */
};

static void test_nb201_shapes(void) {
    for (size_t i = 0; i < sizeof NB201 / sizeof NB201[0]; i++) {
        check_case(&NB201[i], 2, 1, 1, 1);
        check_case(&NB201[i], 1, 0, 1, 0);
    }
}

/* The weight gradient with only one of dw / db wanted. */
static void test_partial_weight_grads(void) {
    check_case(&NB201[0], 2, 1, 0, 1);
    check_case(&NB201[1], 2, 1, 1, 0);
}

/* Shapes outside the measured rule stay ours. */
static void test_declined_shapes(void) {
    dnas_shape xs = dnas_shape4(2, 16, 8, 8), ys = dnas_shape4(2, 16, 8, 8);
    dnas_conv_p p = {16, 16, 3, 3, 1, 1, 1, 1};
    CHECK(dnas_cpu_dnnl_conv_ok(&p, xs, ys) == DNAS_HAVE_DNNL_BUILD, "the base shape");
    dnas_conv_p q = p;
    q.cin = 8, xs.c = 8;
    CHECK(!dnas_cpu_dnnl_conv_ok(&q, xs, ys), "8 input channels");
    xs.c = 16, q = p, q.groups = 16;
    CHECK(!dnas_cpu_dnnl_conv_ok(&q, xs, ys), "depthwise");
    q = p, q.kh = q.kw = 1, q.pad = 0;
    CHECK(!dnas_cpu_dnnl_conv_ok(&q, xs, ys), "1x1");
    q = p, q.dil = 2, q.pad = 2;
    CHECK(!dnas_cpu_dnnl_conv_ok(&q, xs, ys), "dilated");
    q = p, q.stride = 2;
    dnas_shape y2 = dnas_shape4(2, 16, 4, 4);
    CHECK(!dnas_cpu_dnnl_conv_ok(&q, xs, y2), "stride 2");
}

#ifdef _OPENMP
/* Threads of this process (Linux: /proc/self/task); -1 where that cannot be read. */
static int n_tasks(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}
#endif

/* A 1-thread backend runs oneDNN on 1 thread even where the process default is more: oneDNN
 * fixes a kernel's thread count when the primitive is created, so creating it at the default
 * ran every convolution of a `--threads 1` run on all cores (found in session 12: the 1-thread
 * step was as fast as the 2-thread one in its convolutions). Runs first in this process, so
 * that no parallel region has yet started the runtime's worker threads: the count of the
 * process's threads must not grow. */
static void test_threads_respected(void) {
#ifdef _OPENMP
    const int before = n_tasks();
    if (before < 0) SKIP_CASE("no /proc/self/task to count threads");
    const int prev = omp_get_max_threads();
    omp_set_num_threads(3); /* what a stray oneDNN kernel would run on */
    dnas_backend *be = NULL;
    CHECK(dnas_backend_cpu_create(1, &be) == DNAS_OK, "backend: %s", dnas_last_error());
    if (!be) return;
    dnas_conv_p p = {16, 16, 3, 3, 1, 1, 1, 1};
    dnas_shape xs = dnas_shape4(2, 16, 8, 8);
    const size_t nx = dnas_shape_numel(xs), nw = 16 * 9 * 16;
    float *x = rnd(nx), *y = rnd(nx), *dx = rnd(nx), *w = rnd(nw), *dw = rnd(nw);
    CHECK(be->conv2d_fwd(be, &p, y, xs, x, xs, w, NULL) == DNAS_OK, "fwd");
    CHECK(be->conv2d_bwd_data(be, &p, dx, 0, xs, y, xs, w) == DNAS_OK, "bwd_data");
    CHECK(be->conv2d_bwd_weight(be, &p, dw, NULL, x, xs, y, xs) == DNAS_OK, "bwd_weight");
    /* and oneDNN's GEMM for a 1x1 at 32 channels (its chunked combined backward too) */
    dnas_conv_p q = {32, 32, 1, 1, 1, 0, 1, 1};
    dnas_shape qs = dnas_shape4(2, 32, 4, 4);
    float *qx = rnd(1024), *qy = rnd(1024), *qdx = rnd(1024), *qw = rnd(1024), *qdw = rnd(1024);
    CHECK(be->conv2d_fwd(be, &q, qy, qs, qx, qs, qw, NULL) == DNAS_OK, "1x1 fwd");
    CHECK(be->conv2d_bwd(be, &q, qdx, 0, qdw, NULL, qx, qs, qy, qs, qw) == DNAS_OK, "1x1 bwd");
    free(qx), free(qy), free(qdx), free(qw), free(qdw);
    const int after = n_tasks();
    printf("  threads before %d, after 1-thread convolutions %d (process default 3)\n", before,
           after);
    CHECK(after == before, "a 1-thread backend's convolutions started %d threads",
          after - before);
    CHECK(omp_get_max_threads() == 3, "the process default was not restored");
    omp_set_num_threads(prev);
    free(x), free(y), free(dx), free(w), free(dw);
    dnas_backend_destroy(be);
#else
    SKIP_CASE("built without OpenMP: one thread by construction");
#endif
}

int main(void) {
    RUN(test_threads_respected);
    RUN(test_nb201_shapes);
    RUN(test_partial_weight_grads);
    RUN(test_declined_shapes);
    TEST_EXIT();
}
