/* Kernel profile of the CPU backend: DNAS_KPROF=1 in the environment when the backend is
 * created wraps every vtable entry with a timer and, when the backend is destroyed, prints to
 * stderr the time per kernel family and per family + shape, averaged per step.
 *
 * No caller has to cooperate: a "step" is delimited by the first kernel call ever made (in a
 * training or search step that is the stem convolution's forward, called once per step). Its
 * second call resets the table, so the warm-up step (first-touch page faults, workspace
 * growth) is left out, and the step count is the number of its calls since. (A search step
 * runs two forwards, weight and arch: there "per step" means per forward + its backward.)
 * Kernels are called from one thread (each parallelises internally), so no locking. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/clock.h"
#include "cpu_kernels.h"

#define KP_MAX 768

typedef struct {
    char fam[24];   /* e.g. "dw.fwd", "pw.bwd_w", "bn.bwd" */
    char shape[48]; /* e.g. "72c 5x5 s1 d2 16x16" */
    double s;
    long n;
} kp_row;

static kp_row kp_tab[KP_MAX];
static int kp_n, kp_reset_done, kp_on;

static void kp_add(const char *fam, const char *shape, double s) {
    int i = 0;
    for (; i < kp_n; i++)
        if (!strcmp(kp_tab[i].fam, fam) && !strcmp(kp_tab[i].shape, shape)) break;
    if (i == kp_n) {
        if (kp_n == KP_MAX) return;
        snprintf(kp_tab[i].fam, sizeof kp_tab[i].fam, "%s", fam);
        snprintf(kp_tab[i].shape, sizeof kp_tab[i].shape, "%s", shape);
        kp_n++;
    }
    if (i == 0 && kp_tab[0].n == 1 && !kp_reset_done) { /* second step begins */
        for (int j = 0; j < kp_n; j++) kp_tab[j].s = 0, kp_tab[j].n = 0;
        kp_reset_done = 1;
    }
    kp_tab[i].s += s;
    kp_tab[i].n++;
}

static int kp_cmp(const void *a, const void *b) {
    const kp_row *x = a, *y = b;
    return (x->s < y->s) - (x->s > y->s);
}

static void kp_print(void) {
    if (!kp_n) return;
    const double steps = kp_tab[0].n > 0 ? (double)kp_tab[0].n : 1.0;
    kp_row fam[64];
    int nf = 0;
    double tot = 0;
    for (int i = 0; i < kp_n; i++) {
        tot += kp_tab[i].s;
        int j = 0;
        while (j < nf && strcmp(fam[j].fam, kp_tab[i].fam)) j++;
        if (j == nf) {
            if (nf == 64) continue;
            memset(&fam[nf], 0, sizeof fam[nf]);
            snprintf(fam[nf].fam, sizeof fam[nf].fam, "%s", kp_tab[i].fam);
            nf++;
        }
        fam[j].s += kp_tab[i].s;
        fam[j].n += kp_tab[i].n;
    }
    qsort(fam, (size_t)nf, sizeof fam[0], kp_cmp);
    qsort(kp_tab, (size_t)kp_n, sizeof kp_tab[0], kp_cmp);
    fprintf(stderr, "kernel profile (DNAS_KPROF): ms per step, mean of %.0f step(s) after the first\n",
            steps);
    fprintf(stderr, "%-12s %10s %6s %8s\n", "family", "ms/step", "%", "calls");
    for (int j = 0; j < nf; j++)
        fprintf(stderr, "%-12s %10.1f %6.1f %8.0f\n", fam[j].fam, 1e3 * fam[j].s / steps,
                100 * fam[j].s / tot, fam[j].n / steps);
    fprintf(stderr, "%-12s %10.1f\n", "total", 1e3 * tot / steps);
    fprintf(stderr, "\n%-12s %-28s %10s %6s %8s %9s\n", "family", "shape", "ms/step", "%", "calls",
            "us/call");
    for (int i = 0; i < kp_n; i++) {
        if (kp_tab[i].s < 0.002 * tot) break; /* the tail: under 0.2% each */
        fprintf(stderr, "%-12s %-28s %10.1f %6.1f %8.0f %9.1f\n", kp_tab[i].fam, kp_tab[i].shape,
                1e3 * kp_tab[i].s / steps, 100 * kp_tab[i].s / tot, kp_tab[i].n / steps,
                1e6 * kp_tab[i].s / (double)(kp_tab[i].n ? kp_tab[i].n : 1));
    }
}

/* conv family: dw (depthwise), pw (1x1 dense, groups 1), conv (anything else) */
static void conv_key(const char *dir, const dnas_conv_p *p, dnas_shape xs, dnas_shape ys,
                     char *fam, char *shape) {
    const int dw = p->groups == p->cin && p->groups == p->cout;
    const int pw = !dw && p->kh == 1 && p->kw == 1 && p->groups == 1;
    snprintf(fam, 24, "%s.%s", dw ? "dw" : pw ? "pw" : "conv", dir);
    if (dw)
        snprintf(shape, 48, "%dc %dx%d s%d d%d %dx%d n%d", p->cin, p->kh, p->kw, p->stride, p->dil,
                 xs.h, xs.w, xs.n);
    else
        snprintf(shape, 48, "%d->%d %dx%d s%d g%d %dx%d n%d", p->cin, p->cout, p->kh, p->kw,
                 p->stride, p->groups, xs.h, xs.w, xs.n);
    (void)ys;
}

#define KP_TIME(call, fam, ...)                                                               \
    do {                                                                                      \
        char sh_[48];                                                                         \
        snprintf(sh_, sizeof sh_, __VA_ARGS__);                                               \
        double t0_ = dnas_now_s();                                                            \
        dnas_status st_ = (call);                                                             \
        kp_add(fam, sh_, dnas_now_s() - t0_);                                                 \
        return st_;                                                                           \
    } while (0)

static dnas_status p_conv_fwd(dnas_backend *be, const dnas_conv_p *p, float *y, dnas_shape ys,
                              const float *x, dnas_shape xs, const float *w, const float *b) {
    char f[24], s[48];
    conv_key("fwd", p, xs, ys, f, s);
    double t0 = dnas_now_s();
    dnas_status st = dnas_cpu_conv2d_fwd(be, p, y, ys, x, xs, w, b);
    kp_add(f, s, dnas_now_s() - t0);
    return st;
}
static dnas_status p_conv_bd(dnas_backend *be, const dnas_conv_p *p, float *dx, int acc,
                             dnas_shape xs, const float *dy, dnas_shape ys, const float *w) {
    char f[24], s[48];
    conv_key("bwd_d", p, xs, ys, f, s);
    double t0 = dnas_now_s();
    dnas_status st = dnas_cpu_conv2d_bwd_data(be, p, dx, acc, xs, dy, ys, w);
    kp_add(f, s, dnas_now_s() - t0);
    return st;
}
static dnas_status p_conv_bw(dnas_backend *be, const dnas_conv_p *p, float *dw, float *db,
                             const float *x, dnas_shape xs, const float *dy, dnas_shape ys) {
    char f[24], s[48];
    conv_key("bwd_w", p, xs, ys, f, s);
    double t0 = dnas_now_s();
    dnas_status st = dnas_cpu_conv2d_bwd_weight(be, p, dw, db, x, xs, dy, ys);
    kp_add(f, s, dnas_now_s() - t0);
    return st;
}
/* Both directions in one call: a pointwise conv with both products wanted is timed as
 * "pw.bwd" (one chunked pass when oneDNN is there); anything else as its two parts. */
static dnas_status p_conv_bwd(dnas_backend *be, const dnas_conv_p *p, float *dx, int acc,
                              float *dw, float *db, const float *x, dnas_shape xs,
                              const float *dy, dnas_shape ys, const float *w) {
    char f[24], s[48];
    conv_key("bwd", p, xs, ys, f, s);
    if (strncmp(f, "pw.", 3) || !dx || !dw) {
        DNAS_TRY(p_conv_bd(be, p, dx, acc, xs, dy, ys, w));
        return p_conv_bw(be, p, dw, db, x, xs, dy, ys);
    }
    double t0 = dnas_now_s();
    dnas_status st = dnas_cpu_conv2d_bwd(be, p, dx, acc, dw, db, x, xs, dy, ys, w);
    kp_add(f, s, dnas_now_s() - t0);
    return st;
}
static dnas_status p_bn_fwd(dnas_backend *be, const dnas_bn_p *p, float *y, float *sm, float *si,
                            float *rm, float *rv, const float *x, dnas_shape xs, const float *g,
                            const float *b) {
    KP_TIME(dnas_cpu_bn_fwd_train(be, p, y, sm, si, rm, rv, x, xs, g, b), "bn.fwd",
            "%dc %dx%d n%d%s", xs.c, xs.h, xs.w, xs.n, p->relu ? " +relu" : "");
}
static dnas_status p_bn_eval(dnas_backend *be, const dnas_bn_p *p, float *y, const float *x,
                             dnas_shape xs, const float *rm, const float *rv, const float *g,
                             const float *b) {
    KP_TIME(dnas_cpu_bn_fwd_eval(be, p, y, x, xs, rm, rv, g, b), "bn.eval", "%dc %dx%d n%d",
            xs.c, xs.h, xs.w, xs.n);
}
static dnas_status p_bn_bwd(dnas_backend *be, float *dx, int acc, float *dg, float *db,
                            const float *dy, float ds, const float *ry, const float *x,
                            dnas_shape xs, const float *sm, const float *si, const float *g) {
    KP_TIME(dnas_cpu_bn_bwd(be, dx, acc, dg, db, dy, ds, ry, x, xs, sm, si, g), "bn.bwd",
            "%dc %dx%d n%d%s", xs.c, xs.h, xs.w, xs.n, ry ? " +relu" : "");
}
static dnas_status p_bn_bwd_sums(dnas_backend *be, float *dx, int acc, float *dg, float *db,
                                 const float *dy, float ds, const float *ry, const float *x,
                                 dnas_shape xs, const float *sm, const float *si,
                                 const float *g, double *sums) {
    KP_TIME(dnas_cpu_bn_bwd_sums(be, dx, acc, dg, db, dy, ds, ry, x, xs, sm, si, g, sums),
            "bn.bwd", "%dc %dx%d n%d%s", xs.c, xs.h, xs.w, xs.n,
            dx || dg || db ? " +sums" : " sums only");
}
static dnas_status p_relu_fwd(dnas_backend *be, float *y, const float *x, size_t n) {
    KP_TIME(dnas_cpu_relu_fwd(be, y, x, n), "relu.fwd", "%zu", n);
}
static dnas_status p_relu_bwd(dnas_backend *be, float *dx, int acc, const float *dy,
                              const float *y, size_t n) {
    KP_TIME(dnas_cpu_relu_bwd(be, dx, acc, dy, y, n), "relu.bwd", "%zu acc%d", n, acc);
}
static dnas_status p_wsum_fwd(dnas_backend *be, float *y, size_t n, int k, const float *const *x,
                              const float *m) {
    KP_TIME(dnas_cpu_wsum_fwd(be, y, n, k, x, m), "wsum.fwd", "%zu k%d", n, k);
}
static dnas_status p_wsum_aff(dnas_backend *be, float *y, dnas_shape ys, int k,
                              const float *const *x, const float *m, const float *const *mean,
                              const float *const *a, const float *const *b,
                              const dnas_pool_p *const *pool, const dnas_shape *pool_xs) {
    KP_TIME(dnas_cpu_wsum_affine_fwd(be, y, ys, k, x, m, mean, a, b, pool, pool_xs), "wsum.fwd",
            "%zu k%d lazy", dnas_shape_numel(ys), k);
}
static dnas_status p_wsum_bwd(dnas_backend *be, float *const *dx, const int *acc, float *dm,
                              size_t n, int k, const float *dy, const float *const *x,
                              const float *m) {
    KP_TIME(dnas_cpu_wsum_bwd(be, dx, acc, dm, n, k, dy, x, m), "wsum.bwd", "%zu k%d", n, k);
}
static dnas_status p_chancopy(dnas_backend *be, float *dst, int dst_c, int doff, int acc,
                              const float *src, int src_c, int soff, int count, size_t npix) {
    KP_TIME(dnas_cpu_chancopy(be, dst, dst_c, doff, acc, src, src_c, soff, count, npix),
            "chancopy", "%d of %d->%d px%zu acc%d", count, src_c, dst_c, npix, acc);
}
static dnas_status p_catr_fwd(dnas_backend *be, float *y, int k, const float *const *x,
                             const int *c, size_t npix) {
    KP_TIME(dnas_cpu_concat_relu_fwd(be, y, k, x, c, npix), "concat_relu.fwd", "k%d %dc px%zu",
            k, c[0], npix);
}
static dnas_status p_catr_bwd(dnas_backend *be, float *const *dx, const int *acc, int k,
                             const int *c, const float *dy, const float *y, size_t npix) {
    KP_TIME(dnas_cpu_concat_relu_bwd(be, dx, acc, k, c, dy, y, npix), "concat_relu.bwd",
            "k%d %dc px%zu", k, c[0], npix);
}
static dnas_status p_avg_fwd(dnas_backend *be, const dnas_pool_p *p, float *y, dnas_shape ys,
                             const float *x, dnas_shape xs) {
    KP_TIME(dnas_cpu_avgpool_fwd(be, p, y, ys, x, xs), "avgpool.fwd", "%dc k%d s%d %dx%d", xs.c,
            p->k, p->stride, xs.h, xs.w);
}
static dnas_status p_avg_bwd(dnas_backend *be, const dnas_pool_p *p, float *dx, int acc,
                             dnas_shape xs, const float *dy, dnas_shape ys) {
    KP_TIME(dnas_cpu_avgpool_bwd(be, p, dx, acc, xs, dy, ys), "avgpool.bwd", "%dc k%d s%d %dx%d",
            xs.c, p->k, p->stride, xs.h, xs.w);
}
static dnas_status p_avg_bwd_mix(dnas_backend *be, const dnas_pool_p *p, float *dx, int acc,
                                 dnas_shape xs, const float *x, const float *dy, float ds,
                                 dnas_shape ys, double *dot) {
    KP_TIME(dnas_cpu_avgpool_bwd_mix(be, p, dx, acc, xs, x, dy, ds, ys, dot), "avgpool.bwd",
            "%dc k%d s%d %dx%d mix%s", xs.c, p->k, p->stride, xs.h, xs.w, dx ? "" : " dot only");
}
static dnas_status p_avg_bwd_mix_skip(dnas_backend *be, const dnas_pool_p *p, float *dx,
                                      dnas_shape xs, const float *x, const float *dy, float ds,
                                      dnas_shape ys, double *dot, const dnas_pool_skip *sk) {
    KP_TIME(dnas_cpu_avgpool_bwd_mix_skip(be, p, dx, xs, x, dy, ds, ys, dot, sk), "avgpool.bwd",
            "%dc k%d s%d %dx%d mix+skip%s", xs.c, p->k, p->stride, xs.h, xs.w,
            dx ? "" : " dot only");
}
static dnas_status p_max_fwd(dnas_backend *be, const dnas_pool_p *p, float *y, dnas_shape ys,
                             const float *x, dnas_shape xs) {
    KP_TIME(dnas_cpu_maxpool_fwd(be, p, y, ys, x, xs), "maxpool.fwd", "%dc k%d s%d %dx%d", xs.c,
            p->k, p->stride, xs.h, xs.w);
}
static dnas_status p_max_bwd(dnas_backend *be, const dnas_pool_p *p, float *dx, int acc,
                             dnas_shape xs, const float *x, const float *dy, dnas_shape ys) {
    KP_TIME(dnas_cpu_maxpool_bwd(be, p, dx, acc, xs, x, dy, ys), "maxpool.bwd",
            "%dc k%d s%d %dx%d", xs.c, p->k, p->stride, xs.h, xs.w);
}
static dnas_status p_gap_fwd(dnas_backend *be, float *y, const float *x, dnas_shape xs) {
    KP_TIME(dnas_cpu_gap_fwd(be, y, x, xs), "gap.fwd", "%dc %dx%d", xs.c, xs.h, xs.w);
}
static dnas_status p_gap_bwd(dnas_backend *be, float *dx, int acc, dnas_shape xs,
                             const float *dy) {
    KP_TIME(dnas_cpu_gap_bwd(be, dx, acc, xs, dy), "gap.bwd", "%dc %dx%d", xs.c, xs.h, xs.w);
}
static dnas_status p_lin_fwd(dnas_backend *be, float *y, const float *x, const float *w,
                             const float *b, int n, int in, int out) {
    KP_TIME(dnas_cpu_linear_fwd(be, y, x, w, b, n, in, out), "linear.fwd", "%d->%d", in, out);
}
static dnas_status p_lin_bwd(dnas_backend *be, float *dx, int acc, float *dw, float *db,
                             const float *dy, const float *x, const float *w, int n, int in,
                             int out) {
    KP_TIME(dnas_cpu_linear_bwd(be, dx, acc, dw, db, dy, x, w, n, in, out), "linear.bwd",
            "%d->%d", in, out);
}

void dnas_cpu_prof_install(dnas_backend *be) {
    const char *e = getenv("DNAS_KPROF");
    if (!e || !*e || !strcmp(e, "0")) return;
    kp_on = 1;
    be->conv2d_fwd = p_conv_fwd;
    be->conv2d_bwd_data = p_conv_bd;
    be->conv2d_bwd_weight = p_conv_bw;
    be->conv2d_bwd = p_conv_bwd;
    be->bn_fwd_train = p_bn_fwd;
    be->bn_fwd_eval = p_bn_eval;
    be->bn_bwd = p_bn_bwd;
    be->bn_bwd_sums = p_bn_bwd_sums;
    be->relu_fwd = p_relu_fwd;
    be->relu_bwd = p_relu_bwd;
    be->wsum_fwd = p_wsum_fwd;
    be->wsum_bwd = p_wsum_bwd;
    be->wsum_affine_fwd = p_wsum_aff;
    be->chancopy = p_chancopy;
    be->concat_relu_fwd = p_catr_fwd;
    be->concat_relu_bwd = p_catr_bwd;
    be->avgpool_fwd = p_avg_fwd;
    be->avgpool_bwd = p_avg_bwd;
    be->avgpool_bwd_mix = p_avg_bwd_mix;
    be->avgpool_bwd_mix_skip = p_avg_bwd_mix_skip;
    be->maxpool_fwd = p_max_fwd;
    be->maxpool_bwd = p_max_bwd;
    be->gap_fwd = p_gap_fwd;
    be->gap_bwd = p_gap_bwd;
    be->linear_fwd = p_lin_fwd;
    be->linear_bwd = p_lin_bwd;
}

void dnas_cpu_prof_report(void) {
    if (!kp_on) return;
    kp_print();
    kp_n = 0;
    kp_reset_done = 0;
}
