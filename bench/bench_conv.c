/* Convolution benchmark: our CPU kernels vs oneDNN (when built with DNAS_HAVE_DNNL), NHWC
 * activations, batch 64, on the NB201 hot shapes (plus a few extras). For each of forward,
 * backward-data and backward-weight (with bias) it prints the median time of >= 10 runs after
 * warm-up and GFLOP/s (plus the best run), ours and oneDNN's side by side with the ratio of
 * median times (> 1: ours faster), from the same run with the two alternating.
 * oneDNN gets its preferred weight layout (format "any", reorders not timed): its best case.
 * Usage: bench_conv [threads=2] [runs=15] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "backend/backend.h"
#include "core/clock.h"
#include "core/status.h"

#ifdef DNAS_HAVE_DNNL
#include <dnnl.h>
#endif

typedef struct {
    const char *name;
    int n, cin, h, w, cout, k, stride, pad, dil, groups;
    int main_shape;
} shape_t;

static const shape_t shapes[] = {
    {"16->16 3x3 @32", 64, 16, 32, 32, 16, 3, 1, 1, 1, 1, 1},
    {"16->16 1x1 @32", 64, 16, 32, 32, 16, 1, 1, 0, 1, 1, 1},
    {"32->32 3x3 @16", 64, 32, 16, 16, 32, 3, 1, 1, 1, 1, 1},
    {"64->64 3x3 @8", 64, 64, 8, 8, 64, 3, 1, 1, 1, 1, 1},
    {"16->32 3x3 s2 @32", 64, 16, 32, 32, 32, 3, 2, 1, 1, 1, 0},
    {"32->64 3x3 s2 @16", 64, 32, 16, 16, 64, 3, 2, 1, 1, 1, 0},
    {"stem 3->16 3x3 @32", 64, 3, 32, 32, 16, 3, 1, 1, 1, 1, 0},
    {"32->32 1x1 @16", 64, 32, 16, 16, 32, 1, 1, 0, 1, 1, 0},
    {"dw 16 3x3 @32", 64, 16, 32, 32, 16, 3, 1, 1, 1, 16, 0},
    {"dw 16 5x5 d2 @32", 64, 16, 32, 32, 16, 5, 1, 4, 2, 16, 0},
    {"36->36 1x1 @16", 64, 36, 16, 16, 36, 1, 1, 0, 1, 1, 0},
};

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static float *rnd(size_t n, unsigned *s) {
    float *a = malloc(n * sizeof *a);
    for (size_t i = 0; i < n; i++) {
        *s = *s * 1664525u + 1013904223u;
        a[i] = (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
    return a;
}

typedef void (*run_fn)(void *ctx, int which);
typedef struct {
    double med, best; /* seconds */
} timing;
/* Median and best of `runs` timed calls after 3 warm-ups. With two contenders (b != NULL)
 * their calls alternate, so both see the same machine load (the machines are shared). */
static void time_pair(run_fn fa, void *a, run_fn fb, void *b, int which, int runs, timing *ta,
                      timing *tb) {
    double *t = malloc(2 * (size_t)runs * sizeof *t), *u = t + runs;
    for (int i = 0; i < 3; i++) {
        fa(a, which);
        if (fb) fb(b, which);
    }
    for (int i = 0; i < runs; i++) {
        double t0 = dnas_now_s();
        fa(a, which);
        t[i] = dnas_now_s() - t0;
        if (fb) {
            t0 = dnas_now_s();
            fb(b, which);
            u[i] = dnas_now_s() - t0;
        }
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_d);
    ta->med = t[runs / 2];
    ta->best = t[0];
    if (fb) {
        qsort(u, (size_t)runs, sizeof *u, cmp_d);
        tb->med = u[runs / 2];
        tb->best = u[0];
    }
    free(t);
}

/* ---- ours ---- */
typedef struct {
    dnas_backend *be;
    dnas_conv_p p;
    dnas_shape xs, ys;
    float *x, *w, *b, *y, *dy, *dx, *dw, *db;
} ours_t;

static void ours_run(void *c, int which) {
    ours_t *o = c;
    dnas_status st = DNAS_OK;
    if (which == 0) st = o->be->conv2d_fwd(o->be, &o->p, o->y, o->ys, o->x, o->xs, o->w, o->b);
    if (which == 1)
        st = o->be->conv2d_bwd_data(o->be, &o->p, o->dx, 0, o->xs, o->dy, o->ys, o->w);
    if (which == 2)
        st = o->be->conv2d_bwd_weight(o->be, &o->p, o->dw, o->db, o->x, o->xs, o->dy, o->ys);
    if (st != DNAS_OK) {
        fprintf(stderr, "conv failed: %s\n", dnas_last_error());
        exit(1);
    }
}

/* ---- oneDNN ---- */
#ifdef DNAS_HAVE_DNNL
typedef struct {
    dnnl_engine_t eng;
    dnnl_stream_t st;
    dnnl_primitive_t prim[3];
    dnnl_memory_t mem[3][5];
    dnnl_exec_arg_t args[3][5];
    int nargs[3];
    int ok;
} dnnl_t;

#define DN(call)                                                                \
    do {                                                                        \
        dnnl_status_t s_ = (call);                                              \
        if (s_ != dnnl_success) {                                               \
            fprintf(stderr, "oneDNN: %s failed (%d)\n", #call, (int)s_);        \
            return 0;                                                           \
        }                                                                       \
    } while (0)

static int mem_for(dnnl_t *d, int which, int slot, int arg, const dnnl_memory_desc_t *md,
                   const float *init, size_t n) {
    DN(dnnl_memory_create(&d->mem[which][slot], md, d->eng, DNNL_MEMORY_ALLOCATE));
    void *h = NULL;
    DN(dnnl_memory_get_data_handle(d->mem[which][slot], &h));
    size_t bytes = dnnl_memory_desc_get_size(md);
    if (init && bytes == n * sizeof(float)) memcpy(h, init, bytes); /* plain layouts only */
    else memset(h, 0, bytes);
    d->args[which][slot].arg = arg;
    d->args[which][slot].memory = d->mem[which][slot];
    return 1;
}

static int dnnl_setup(dnnl_t *d, const shape_t *s, int oh, int ow, const ours_t *o) {
    memset(d, 0, sizeof *d);
    DN(dnnl_engine_create(&d->eng, dnnl_cpu, 0));
    DN(dnnl_stream_create(&d->st, d->eng, dnnl_stream_default_flags));
    dnnl_memory_desc_t src, dst, wany, bias;
    dnnl_dims_t sd = {s->n, s->cin, s->h, s->w}, dd = {s->n, s->cout, oh, ow};
    dnnl_dims_t bd = {s->cout};
    DN(dnnl_memory_desc_init_by_tag(&src, 4, sd, dnnl_f32, dnnl_nhwc));
    DN(dnnl_memory_desc_init_by_tag(&dst, 4, dd, dnnl_f32, dnnl_nhwc));
    DN(dnnl_memory_desc_init_by_tag(&bias, 1, bd, dnnl_f32, dnnl_x));
    if (s->groups == 1) {
        dnnl_dims_t wd = {s->cout, s->cin, s->k, s->k};
        DN(dnnl_memory_desc_init_by_tag(&wany, 4, wd, dnnl_f32, dnnl_format_tag_any));
    } else {
        dnnl_dims_t wd = {s->groups, s->cout / s->groups, s->cin / s->groups, s->k, s->k};
        DN(dnnl_memory_desc_init_by_tag(&wany, 5, wd, dnnl_f32, dnnl_format_tag_any));
    }
    dnnl_dims_t strides = {s->stride, s->stride}, dil = {s->dil - 1, s->dil - 1};
    int pr_h = (oh - 1) * s->stride - s->h + (s->k - 1) * s->dil + 1 - s->pad;
    int pr_w = (ow - 1) * s->stride - s->w + (s->k - 1) * s->dil + 1 - s->pad;
    dnnl_dims_t pl = {s->pad, s->pad}, pr = {pr_h, pr_w};
    size_t nx = (size_t)s->n * s->cin * s->h * s->w, ny = (size_t)s->n * s->cout * oh * ow;

    dnnl_convolution_desc_t cf, cbd, cbw;
    dnnl_primitive_desc_t pf, pbd, pbw;
    DN(dnnl_dilated_convolution_forward_desc_init(&cf, dnnl_forward_training,
                                                  dnnl_convolution_direct, &src, &wany, &bias,
                                                  &dst, strides, dil, pl, pr));
    DN(dnnl_primitive_desc_create(&pf, &cf, NULL, d->eng, NULL));
    DN(dnnl_dilated_convolution_backward_data_desc_init(
        &cbd, dnnl_convolution_direct, &src, &wany, &dst, strides, dil, pl, pr));
    DN(dnnl_primitive_desc_create(&pbd, &cbd, NULL, d->eng, pf));
    DN(dnnl_dilated_convolution_backward_weights_desc_init(
        &cbw, dnnl_convolution_direct, &src, &wany, &bias, &dst, strides, dil, pl, pr));
    DN(dnnl_primitive_desc_create(&pbw, &cbw, NULL, d->eng, pf));

    const dnnl_memory_desc_t *wf = dnnl_primitive_desc_query_md(pf, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *wb = dnnl_primitive_desc_query_md(pbd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *ww =
        dnnl_primitive_desc_query_md(pbw, dnnl_query_diff_weights_md, 0);
    if (!mem_for(d, 0, 0, DNNL_ARG_SRC, &src, o->x, nx) ||
        !mem_for(d, 0, 1, DNNL_ARG_WEIGHTS, wf, NULL, 0) ||
        !mem_for(d, 0, 2, DNNL_ARG_BIAS, &bias, o->b, (size_t)s->cout) ||
        !mem_for(d, 0, 3, DNNL_ARG_DST, &dst, NULL, 0))
        return 0;
    d->nargs[0] = 4;
    if (!mem_for(d, 1, 0, DNNL_ARG_DIFF_DST, &dst, o->dy, ny) ||
        !mem_for(d, 1, 1, DNNL_ARG_WEIGHTS, wb, NULL, 0) ||
        !mem_for(d, 1, 2, DNNL_ARG_DIFF_SRC, &src, NULL, 0))
        return 0;
    d->nargs[1] = 3;
    if (!mem_for(d, 2, 0, DNNL_ARG_SRC, &src, o->x, nx) ||
        !mem_for(d, 2, 1, DNNL_ARG_DIFF_DST, &dst, o->dy, ny) ||
        !mem_for(d, 2, 2, DNNL_ARG_DIFF_WEIGHTS, ww, NULL, 0) ||
        !mem_for(d, 2, 3, DNNL_ARG_DIFF_BIAS, &bias, NULL, 0))
        return 0;
    d->nargs[2] = 4;
    DN(dnnl_primitive_create(&d->prim[0], pf));
    DN(dnnl_primitive_create(&d->prim[1], pbd));
    DN(dnnl_primitive_create(&d->prim[2], pbw));
    dnnl_primitive_desc_destroy(pf);
    dnnl_primitive_desc_destroy(pbd);
    dnnl_primitive_desc_destroy(pbw);
    d->ok = 1;
    return 1;
}

static void dnnl_run(void *c, int which) {
    dnnl_t *d = c;
    dnnl_primitive_execute(d->prim[which], d->st, d->nargs[which], d->args[which]);
    dnnl_stream_wait(d->st);
}

static void dnnl_teardown(dnnl_t *d) {
    for (int i = 0; i < 3; i++) {
        if (d->prim[i]) dnnl_primitive_destroy(d->prim[i]);
        for (int j = 0; j < 5; j++)
            if (d->mem[i][j]) dnnl_memory_destroy(d->mem[i][j]);
    }
    if (d->st) dnnl_stream_destroy(d->st);
    if (d->eng) dnnl_engine_destroy(d->eng);
}
#endif

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    int runs = argc > 2 ? atoi(argv[2]) : 15;
    if (threads < 1) threads = 1;
    if (runs < 10) runs = 10;
#ifdef _OPENMP
    omp_set_num_threads(threads); /* oneDNN's OpenMP runtime follows this */
#endif
    dnas_backend *be = NULL;
    if (dnas_backend_cpu_create(threads, &be) != DNAS_OK) {
        fprintf(stderr, "backend: %s\n", dnas_last_error());
        return 1;
    }
    printf("conv bench: %d threads, median of %d runs, NHWC, batch 64, with bias\n", threads,
           runs);
#ifdef DNAS_HAVE_DNNL
    const dnnl_version_t *v = dnnl_version();
    printf("oneDNN %d.%d.%d (cpu runtime %u), weights in its preferred layout\n", v->major,
           v->minor, v->patch, v->cpu_runtime);
#else
    printf("oneDNN: not compiled in (DNAS_HAVE_DNNL unset)\n");
#endif
    printf("GFLOP/s from the median time; 'best' = from the fastest run\n");
    printf("%-20s %-9s %8s %8s %6s %8s %8s %6s %7s\n", "shape", "pass", "ours ms", "GFLOP/s",
           "best", "dnnl ms", "GFLOP/s", "best", "ratio");
    static const char *pass[3] = {"fwd", "bwd-data", "bwd-wt"};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const shape_t *s = &shapes[si];
        int oh = (s->h + 2 * s->pad - s->dil * (s->k - 1) - 1) / s->stride + 1;
        int ow = (s->w + 2 * s->pad - s->dil * (s->k - 1) - 1) / s->stride + 1;
        unsigned seed = 12345u + (unsigned)si;
        ours_t o;
        memset(&o, 0, sizeof o);
        o.be = be;
        dnas_conv_p p = {s->cin, s->cout, s->k, s->k, s->stride, s->pad, s->dil, s->groups};
        o.p = p;
        o.xs = dnas_shape4(s->n, s->cin, s->h, s->w);
        o.ys = dnas_shape4(s->n, s->cout, oh, ow);
        size_t nx = dnas_shape_numel(o.xs), ny = dnas_shape_numel(o.ys);
        size_t nw = (size_t)s->cout * s->k * s->k * (s->cin / s->groups);
        o.x = rnd(nx, &seed);
        o.w = rnd(nw, &seed);
        o.b = rnd((size_t)s->cout, &seed);
        o.dy = rnd(ny, &seed);
        o.y = calloc(ny, sizeof(float));
        o.dx = calloc(nx, sizeof(float));
        o.dw = calloc(nw, sizeof(float));
        o.db = calloc((size_t)s->cout, sizeof(float));
        double flop = 2.0 * s->n * oh * ow * s->cout * s->k * s->k * (s->cin / s->groups);
#ifdef DNAS_HAVE_DNNL
        dnnl_t d;
        int have_d = dnnl_setup(&d, s, oh, ow, &o);
#endif
        for (int which = 0; which < 3; which++) {
            timing to, td = {0, 0};
            run_fn fb = NULL;
            void *cb = NULL;
#ifdef DNAS_HAVE_DNNL
            if (have_d) {
                fb = dnnl_run;
                cb = &d;
            }
#endif
            time_pair(ours_run, &o, fb, cb, which, runs, &to, &td);
            printf("%-20s %-9s %8.3f %8.1f %6.1f", which == 0 ? s->name : "", pass[which],
                   to.med * 1e3, flop / to.med * 1e-9, flop / to.best * 1e-9);
            if (fb)
                printf(" %8.3f %8.1f %6.1f %6.2fx", td.med * 1e3, flop / td.med * 1e-9,
                       flop / td.best * 1e-9, td.med / to.med);
            else
                printf(" %8s %8s %6s %7s", "-", "-", "-", "-");
            printf("%s\n", which == 0 && s->main_shape ? "   (main)" : "");
        }
        fflush(stdout);
#ifdef DNAS_HAVE_DNNL
        dnnl_teardown(&d);
#endif
        free(o.x), free(o.w), free(o.b), free(o.dy), free(o.y), free(o.dx), free(o.dw);
        free(o.db);
    }
    dnas_backend_destroy(be);
    return 0;
}
