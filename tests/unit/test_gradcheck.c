/* Finite-difference gradient check of every reference kernel, in double (STYLE practice 6).
 *
 * For each op we take a scalar loss L = sum(y * r) with a fixed random r, so the upstream
 * gradient is dy = r, and compare the analytic gradients from the backward kernel with central
 * differences (L(p+h) - L(p-h)) / 2h, h = 1e-6, on small random shapes. The error measure is
 * max|a - n| / max(1e-8, max|n|) < 1e-6, which scales with the gradient. The worst error per
 * case is printed. Kinks (relu at 0, max-pool ties) are kept away from the sampled inputs and
 * their expected gradients are checked as explicit values instead.
 * Further cases check forward semantics that a self-consistent fwd/bwd pair could get wrong:
 * crop padding, grouping, pooling divisors, running statistics, eval BN, xent stability, and
 * the acc (= vs +=) contract. */
#include <stdint.h>
#include "test.h"
#include "backend/ref/ref.h"

#define GC_H 1e-6
#define GC_TOL 1e-6

/* ---- tiny deterministic RNG (xorshift64*) ---------------------------------------------- */
static uint64_t rng_s;
static void rng_seed(uint64_t s) { rng_s = s * 0x9E3779B97F4A7C15ull + 1; }
static uint64_t rng_next(void) {
    rng_s ^= rng_s >> 12;
    rng_s ^= rng_s << 25;
    rng_s ^= rng_s >> 27;
    return rng_s * 0x2545F4914F6CDD1Dull;
}
static double urand(void) { return (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0); }
static double srand1(void) { return 2.0 * urand() - 1.0; } /* [-1, 1) */

/* ---- per-case allocations, freed together ---------------------------------------------- */
static void *t_ptrs[64];
static int t_nptr;
static double *dalloc(size_t n) {
    if (t_nptr == (int)(sizeof t_ptrs / sizeof t_ptrs[0])) {
        fprintf(stderr, "dalloc: too many buffers\n");
        abort();
    }
    double *p = calloc(n ? n : 1, sizeof(double));
    if (!p) abort();
    t_ptrs[t_nptr++] = p;
    return p;
}
static double *drand(size_t n) {
    double *p = dalloc(n);
    for (size_t i = 0; i < n; i++) p[i] = srand1();
    return p;
}
static double *dfill(size_t n, double v) {
    double *p = dalloc(n);
    for (size_t i = 0; i < n; i++) p[i] = v;
    return p;
}
static double *dcopy(const double *a, size_t n) {
    double *p = dalloc(n);
    memcpy(p, a, n * sizeof(double));
    return p;
}
static void free_all(void) {
    while (t_nptr > 0) free(t_ptrs[--t_nptr]);
}
static double dot(const double *a, const double *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}
/* a[i] -= b[i]: turns "base + gradient" back into the gradient. */
static void sub_into(double *a, const double *b, size_t n) {
    for (size_t i = 0; i < n; i++) a[i] -= b[i];
}
/* max|a-b| / max(1e-300, max|b|); NaN-propagating so a NaN anywhere fails the check. */
static double rel_diff(const double *a, const double *b, size_t n) {
    double md = 0.0, mb = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs(a[i] - b[i]), m = fabs(b[i]);
        if (d > md || isnan(d)) md = d; /* once NaN, stays NaN */
        if (m > mb || isnan(m)) mb = m;
    }
    return md / (mb > 1e-300 ? mb : 1e-300);
}

/* ---- the gradient checker --------------------------------------------------------------- */
typedef double (*loss_fn)(void *ctx);
static double t_worst; /* worst error over the whole run, for the summary line */

/* Relative error of analytic `ana` against central differences of f w.r.t. param[0..n).
 * *maxnum receives max|numeric| so callers can refuse a vacuous (all-zero) check. */
static double gc_error(loss_fn f, void *ctx, double *param, size_t n, const double *ana,
                       double *maxnum) {
    double md = 0.0, mn = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double v = param[i];
        param[i] = v + GC_H;
        const double lp = f(ctx);
        param[i] = v - GC_H;
        const double lm = f(ctx);
        param[i] = v;
        const double num = (lp - lm) / (2.0 * GC_H);
        const double d = fabs(ana[i] - num), a = fabs(num);
        if (d > md || isnan(d)) md = d; /* once NaN, stays NaN: a NaN anywhere fails */
        if (a > mn || isnan(a)) mn = a;
    }
    if (maxnum) *maxnum = mn;
    return md / (mn > 1e-8 ? mn : 1e-8);
}

static void gc_check(const char *what, loss_fn f, void *ctx, double *param, size_t n,
                     const double *ana) {
    double mn = 0.0;
    const double e = gc_error(f, ctx, param, n, ana, &mn);
    printf("  %-10s n=%-4zu worst rel err %.2e  (max|grad| %.2e)\n", what, n, e, mn);
    if (e > t_worst || isnan(e)) t_worst = e;
    CHECK(e < GC_TOL, "%s: rel err %.3e >= %.0e", what, e, GC_TOL);
    CHECK(mn > 1e-6, "%s: numeric gradient is ~0, the check would be vacuous", what);
}

/* ---- conv2d ----------------------------------------------------------------------------- */
typedef struct {
    dnas_conv_p p;
    dnas_shape xs, ys;
    double *x, *w, *b, *y, *r;
} conv_ctx;

static double conv_loss(void *v) {
    conv_ctx *c = v;
    dnas_ref_conv2d_fwd(&c->p, c->y, c->ys, c->x, c->xs, c->w, c->b);
    return dot(c->y, c->r, dnas_shape_numel(c->ys));
}

/* Output extent with `pb` padding before and `pa` after (pb < 0 crops). */
static int out_size(int in, int pb, int pa, int k, int stride, int dil) {
    return (in + pb + pa - dil * (k - 1) - 1) / stride + 1;
}

static void conv_gradcheck(int n, int cin, int h, int w, int cout, int k, int stride, int pad,
                           int dil, int groups, int bias, uint64_t seed) {
    rng_seed(seed);
    conv_ctx c;
    c.p = (dnas_conv_p){cin, cout, k, k, stride, pad, dil, groups};
    /* pad < 0 is FactorizedReduce's shift: crop |pad| at the top/left only. */
    const int pa = pad >= 0 ? pad : 0;
    c.xs = dnas_shape4(n, cin, h, w);
    c.ys = dnas_shape4(n, cout, out_size(h, pad, pa, k, stride, dil),
                       out_size(w, pad, pa, k, stride, dil));
    const size_t nx = dnas_shape_numel(c.xs), ny = dnas_shape_numel(c.ys);
    const size_t nw = (size_t)cout * k * k * (cin / groups);
    c.x = drand(nx);
    c.w = drand(nw);
    c.b = bias ? drand(cout) : NULL;
    c.y = dalloc(ny);
    c.r = drand(ny);
    printf("  x(%d,%d,%d,%d) -> y(%d,%d,%d,%d) k%d s%d p%d d%d g%d%s\n", n, cin, h, w, n, cout,
           c.ys.h, c.ys.w, k, stride, pad, dil, groups, bias ? " +bias" : "");

    /* dx with acc=0 must overwrite the garbage; dw/db must add to a random base. */
    double *dx = dfill(nx, 7.0);
    dnas_ref_conv2d_bwd_data(&c.p, dx, 0, c.xs, c.r, c.ys, c.w);
    double *dw0 = drand(nw), *dw = dcopy(dw0, nw);
    double *db0 = bias ? drand(cout) : NULL, *db = bias ? dcopy(db0, cout) : NULL;
    dnas_ref_conv2d_bwd_weight(&c.p, dw, db, c.x, c.xs, c.r, c.ys);
    sub_into(dw, dw0, nw);
    if (bias) sub_into(db, db0, cout);

    gc_check("d/dx", conv_loss, &c, c.x, nx, dx);
    gc_check("d/dw", conv_loss, &c, c.w, nw, dw);
    if (bias) gc_check("d/db", conv_loss, &c, c.b, cout, db);
    free_all();
}

static void conv_3x3_pad1(void) { conv_gradcheck(2, 3, 5, 6, 4, 3, 1, 1, 1, 1, 0, 101); }
static void conv_1x1_bias(void) { conv_gradcheck(2, 4, 4, 3, 6, 1, 1, 0, 1, 1, 1, 102); }
static void conv_3x3_stride2(void) { conv_gradcheck(2, 3, 7, 6, 4, 3, 2, 1, 1, 1, 0, 103); }
static void conv_3x3_dil2_pad2(void) { conv_gradcheck(1, 3, 7, 8, 3, 3, 1, 2, 2, 1, 0, 104); }
static void conv_depthwise_3x3(void) { conv_gradcheck(2, 4, 5, 5, 4, 3, 1, 1, 1, 4, 0, 105); }
/* DARTS dil_conv_5x5 in a reduction cell: depthwise 5x5, dilation 2, pad 4, stride 2. */
static void conv_depthwise_5x5_dil2_s2(void) {
    conv_gradcheck(1, 3, 9, 8, 3, 5, 2, 4, 2, 3, 0, 106);
}
static void conv_grouped(void) { conv_gradcheck(2, 6, 4, 5, 4, 3, 1, 1, 1, 2, 1, 107); }
/* FactorizedReduce's shifted branch: 1x1 stride 2 on x[:, :, 1:, 1:], i.e. pad = -1. */
static void conv_crop_1x1_s2(void) { conv_gradcheck(2, 4, 8, 6, 3, 1, 2, -1, 1, 1, 0, 108); }
static void conv_crop_1x1_s2_odd(void) { conv_gradcheck(1, 2, 7, 5, 2, 1, 2, -1, 1, 1, 0, 109); }
static void conv_3_to_5_bias(void) { conv_gradcheck(2, 3, 6, 5, 5, 3, 1, 1, 1, 1, 1, 110); }

/* Forward values by hand: cross-correlation (no kernel flip), zero padding, h vs w order. */
static void conv_fwd_known_values(void) {
    /* x is 1 channel, 3 rows x 4 cols, x[h][w] = 10h + w. One tap at (kh=0, kw=1) of a 3x3
     * kernel with pad 1 reads x[oh - 1][ow], so y[oh][ow] = x[oh-1][ow] or 0 in row 0. */
    double x[12], w[9] = {0}, y[12];
    for (int h = 0; h < 3; h++)
        for (int ww = 0; ww < 4; ww++) x[h * 4 + ww] = 10 * h + ww;
    w[0 * 3 + 1] = 1.0;
    dnas_conv_p p = {1, 1, 3, 3, 1, 1, 1, 1};
    const double b = 0.5;
    dnas_ref_conv2d_fwd(&p, y, dnas_shape4(1, 1, 3, 4), x, dnas_shape4(1, 1, 3, 4), w, &b);
    for (int h = 0; h < 3; h++)
        for (int ww = 0; ww < 4; ww++) {
            const double want = (h == 0 ? 0.0 : x[(h - 1) * 4 + ww]) + 0.5;
            CHECK(y[h * 4 + ww] == want, "y[%d][%d] = %g, want %g", h, ww, y[h * 4 + ww], want);
        }
    /* All-ones 3x3, pad 1: the corner sums its 2x2 neighbourhood, the inside its 3x3. */
    for (int i = 0; i < 9; i++) w[i] = 1.0;
    dnas_ref_conv2d_fwd(&p, y, dnas_shape4(1, 1, 3, 4), x, dnas_shape4(1, 1, 3, 4), w, NULL);
    CHECK(y[0] == 0 + 1 + 10 + 11, "corner %g", y[0]);
    CHECK(y[1 * 4 + 1] == 9 * 11, "inside %g", y[5]);
}

/* pad = -1, 1x1 identity weights, stride 2: y[oh][ow] = x[2oh+1][2ow+1] exactly. */
static void conv_fwd_crop_values(void) {
    rng_seed(201);
    const int C = 3, H = 8, W = 6;
    dnas_shape xs = dnas_shape4(2, C, H, W), ys = dnas_shape4(2, C, H / 2, W / 2);
    double *x = drand(dnas_shape_numel(xs)), *y = dalloc(dnas_shape_numel(ys));
    double *w = dalloc((size_t)C * C);
    for (int i = 0; i < C; i++) w[i * C + i] = 1.0;
    dnas_conv_p p = {C, C, 1, 1, 2, -1, 1, 1};
    dnas_ref_conv2d_fwd(&p, y, ys, x, xs, w, NULL);
    int bad = 0;
    for (int n = 0; n < 2; n++)
        for (int oh = 0; oh < H / 2; oh++)
            for (int ow = 0; ow < W / 2; ow++)
                for (int c = 0; c < C; c++) {
                    const double got = y[((n * ys.h + oh) * ys.w + ow) * C + c];
                    const double want = x[((n * H + 2 * oh + 1) * W + 2 * ow + 1) * C + c];
                    bad += got != want;
                }
    CHECK(bad == 0, "%d outputs differ from x[2oh+1][2ow+1]", bad);
    free_all();
}

/* A grouped conv equals a dense conv whose weight is block-diagonal over the groups: this
 * pins down which input channels each output channel reads (OHWI, groups contiguous). */
static void grouped_vs_blockdiag(int cin, int cout, int groups, uint64_t seed) {
    rng_seed(seed);
    const int k = 3, cin_g = cin / groups, cout_g = cout / groups;
    dnas_shape xs = dnas_shape4(2, cin, 5, 4), ys = dnas_shape4(2, cout, 5, 4);
    double *x = drand(dnas_shape_numel(xs));
    double *wg = drand((size_t)cout * k * k * cin_g), *wd = dalloc((size_t)cout * k * k * cin);
    for (int co = 0; co < cout; co++)
        for (int t = 0; t < k * k; t++)
            for (int ci = 0; ci < cin_g; ci++)
                wd[((size_t)co * k * k + t) * cin + (co / cout_g) * cin_g + ci] =
                    wg[((size_t)co * k * k + t) * cin_g + ci];
    double *yg = dalloc(dnas_shape_numel(ys)), *yd = dalloc(dnas_shape_numel(ys));
    dnas_conv_p pg = {cin, cout, k, k, 1, 1, 1, groups}, pd = {cin, cout, k, k, 1, 1, 1, 1};
    dnas_ref_conv2d_fwd(&pg, yg, ys, x, xs, wg, NULL);
    dnas_ref_conv2d_fwd(&pd, yd, ys, x, xs, wd, NULL);
    const double e = rel_diff(yg, yd, dnas_shape_numel(ys));
    printf("  groups=%d cin=%d cout=%d: rel diff %.2e\n", groups, cin, cout, e);
    CHECK(e < 1e-14, "grouped conv differs from block-diagonal dense conv: %.3e", e);
    free_all();
}
static void conv_fwd_grouped_blockdiag(void) { grouped_vs_blockdiag(6, 4, 2, 202); }
static void conv_fwd_depthwise_blockdiag(void) { grouped_vs_blockdiag(5, 5, 5, 203); }

/* ---- batch norm ------------------------------------------------------------------------- */
typedef struct {
    dnas_bn_p p;
    dnas_shape xs;
    double *x, *gamma, *beta, *y, *r, *mean, *invstd;
} bn_ctx;

static double bn_loss(void *v) {
    bn_ctx *c = v;
    dnas_ref_bn_fwd_train(&c->p, c->y, c->mean, c->invstd, NULL, NULL, c->x, c->xs, c->gamma,
                          c->beta);
    return dot(c->y, c->r, dnas_shape_numel(c->xs));
}

static void bn_gradcheck(int affine, uint64_t seed) {
    rng_seed(seed);
    bn_ctx c;
    c.p = (dnas_bn_p){1e-5f, 0.1f, 0};
    c.xs = dnas_shape4(3, 4, 3, 2);
    const size_t nx = dnas_shape_numel(c.xs), C = (size_t)c.xs.c;
    c.x = drand(nx);
    for (size_t i = 0; i < nx; i++) c.x[i] = 2.0 * c.x[i] + 0.5; /* mean and scale off 0/1 */
    c.gamma = affine ? drand(C) : NULL;
    c.beta = affine ? drand(C) : NULL;
    c.y = dalloc(nx);
    c.r = drand(nx);
    c.mean = dalloc(C);
    c.invstd = dalloc(C);
    bn_loss(&c); /* fills mean / invstd for backward */

    double *dx = dfill(nx, 7.0);
    double *dg0 = drand(C), *dg = dcopy(dg0, C), *db0 = drand(C), *db = dcopy(db0, C);
    dnas_ref_bn_bwd(dx, 0, affine ? dg : NULL, affine ? db : NULL, c.r, c.x, c.xs, c.mean,
                    c.invstd, c.gamma);
    gc_check("d/dx", bn_loss, &c, c.x, nx, dx);
    if (affine) {
        sub_into(dg, dg0, C);
        sub_into(db, db0, C);
        gc_check("d/dgamma", bn_loss, &c, c.gamma, C, dg);
        gc_check("d/dbeta", bn_loss, &c, c.beta, C, db);
    } else {
        /* Affine off: the NULL gradient pointers must be left alone. */
        CHECK(rel_diff(dg, dg0, C) == 0.0 && rel_diff(db, db0, C) == 0.0, "touched dgamma");
    }
    /* dx = NULL must still give the parameter gradients. */
    double *dg2 = dalloc(C);
    dnas_ref_bn_bwd(NULL, 0, affine ? dg2 : NULL, NULL, c.r, c.x, c.xs, c.mean, c.invstd,
                    c.gamma);
    if (affine) CHECK(rel_diff(dg2, dg, C) < 1e-12, "dgamma differs when dx is NULL");
    free_all();
}
static void bn_train_affine(void) { bn_gradcheck(1, 301); }
static void bn_train_no_affine(void) { bn_gradcheck(0, 302); }

/* Saved statistics and running-stat update against a direct computation (unbiased var). */
static void bn_running_stats(void) {
    rng_seed(303);
    const dnas_bn_p p = {1e-3f, 0.25f, 0};
    const dnas_shape xs = dnas_shape4(2, 3, 2, 3);
    const size_t nx = dnas_shape_numel(xs), C = 3, M = nx / C;
    double *x = drand(nx), *y = dalloc(nx), *g = drand(C), *b = drand(C);
    double *rm0 = drand(C), *rv0 = dfill(C, 0.7), *rm = dcopy(rm0, C), *rv = dcopy(rv0, C);
    double *sm = dalloc(C), *si = dalloc(C);
    dnas_ref_bn_fwd_train(&p, y, sm, si, rm, rv, x, xs, g, b);
    double worst = 0.0;
    for (size_t c = 0; c < C; c++) {
        double s = 0.0, ss = 0.0;
        for (size_t i = 0; i < M; i++) s += x[i * C + c];
        const double mean = s / M;
        for (size_t i = 0; i < M; i++) ss += (x[i * C + c] - mean) * (x[i * C + c] - mean);
        const double vb = ss / M, vu = ss / (M - 1);
        const double mom = (double)p.momentum, eps = (double)p.eps;
        const double e[4] = {fabs(sm[c] - mean), fabs(si[c] - 1.0 / sqrt(vb + eps)),
                             fabs(rm[c] - ((1 - mom) * rm0[c] + mom * mean)),
                             fabs(rv[c] - ((1 - mom) * rv0[c] + mom * vu))};
        for (int j = 0; j < 4; j++)
            if (e[j] > worst || isnan(e[j])) worst = e[j];
        /* y normalised: mean beta, biased variance gamma^2 * vb / (vb + eps). */
        double ym = 0.0, yv = 0.0;
        for (size_t i = 0; i < M; i++) ym += y[i * C + c];
        ym /= M;
        for (size_t i = 0; i < M; i++) yv += (y[i * C + c] - ym) * (y[i * C + c] - ym);
        yv /= M;
        CHECK(fabs(ym - b[c]) < 1e-12, "channel %zu: mean(y) %g != beta %g", c, ym, b[c]);
        CHECK(fabs(yv - g[c] * g[c] * vb / (vb + eps)) < 1e-12, "channel %zu: var(y) %g", c, yv);
    }
    printf("  worst abs err of mean/invstd/running_mean/running_var: %.2e\n", worst);
    CHECK(worst < 1e-12, "statistics differ by %.3e", worst);
    free_all();
}

static void bn_eval_formula(void) {
    rng_seed(304);
    const dnas_bn_p p = {1e-5f, 0.1f, 0};
    const dnas_shape xs = dnas_shape4(2, 4, 3, 2);
    const size_t nx = dnas_shape_numel(xs), C = 4;
    double *x = drand(nx), *y = dalloc(nx), *rm = drand(C), *rv = dalloc(C), *g = drand(C),
           *b = drand(C);
    for (size_t c = 0; c < C; c++) rv[c] = 0.2 + urand();
    double worst = 0.0;
    for (int affine = 0; affine < 2; affine++) {
        dnas_ref_bn_fwd_eval(&p, y, x, xs, rm, rv, affine ? g : NULL, affine ? b : NULL);
        for (size_t i = 0; i < nx; i++) {
            const size_t c = i % C;
            double want = (x[i] - rm[c]) / sqrt(rv[c] + (double)p.eps);
            if (affine) want = want * g[c] + b[c];
            const double e = fabs(y[i] - want);
            if (e > worst || isnan(e)) worst = e;
        }
    }
    printf("  worst abs err %.2e\n", worst);
    CHECK(worst < 1e-13, "eval BN differs by %.3e", worst);
    free_all();
}

/* ---- relu ------------------------------------------------------------------------------- */
typedef struct {
    size_t n;
    double *x, *y, *r;
} relu_ctx;

static double relu_loss(void *v) {
    relu_ctx *c = v;
    dnas_ref_relu_fwd(c->y, c->x, c->n);
    return dot(c->y, c->r, c->n);
}

/* Kink rule: relu'(0) is taken as 0 (mask y > 0, as PyTorch). A central difference straddling
 * 0 would give 1/2, so sampled inputs stay at |x| >= 0.05 >> h; the value at the kink itself is
 * checked separately in relu_kink. */
static void relu_grad(void) {
    rng_seed(401);
    relu_ctx c = {60, NULL, NULL, NULL};
    c.x = drand(c.n);
    for (size_t i = 0; i < c.n; i++)
        while (fabs(c.x[i]) < 0.05) c.x[i] = srand1();
    c.y = dalloc(c.n);
    c.r = drand(c.n);
    relu_loss(&c);
    double *dx = dfill(c.n, 7.0);
    dnas_ref_relu_bwd(dx, 0, c.r, c.y, c.n);
    gc_check("d/dx", relu_loss, &c, c.x, c.n, dx);
    free_all();
}

static void relu_kink(void) {
    const double x[4] = {0.0, -0.0, 1e-300, -1e-300}, want[4] = {0.0, 0.0, 1.0, 0.0};
    const double dy[4] = {1.0, 1.0, 1.0, 1.0};
    double y[4], dx[4];
    dnas_ref_relu_fwd(y, x, 4);
    dnas_ref_relu_bwd(dx, 0, dy, y, 4);
    for (int i = 0; i < 4; i++)
        CHECK(dx[i] == want[i], "relu'(%g) = %g, want %g", x[i], dx[i], want[i]);
}

/* ---- pooling ---------------------------------------------------------------------------- */
typedef struct {
    dnas_pool_p p;
    int is_max;
    dnas_shape xs, ys;
    double *x, *y, *r;
} pool_ctx;

static double pool_loss(void *v) {
    pool_ctx *c = v;
    if (c->is_max)
        dnas_ref_maxpool_fwd(&c->p, c->y, c->ys, c->x, c->xs);
    else
        dnas_ref_avgpool_fwd(&c->p, c->y, c->ys, c->x, c->xs);
    return dot(c->y, c->r, dnas_shape_numel(c->ys));
}

static void pool_gradcheck(int is_max, int k, int stride, int pad, int cip, int h, int w,
                           uint64_t seed) {
    rng_seed(seed);
    pool_ctx c;
    c.p = (dnas_pool_p){k, stride, pad, cip};
    c.is_max = is_max;
    c.xs = dnas_shape4(2, 3, h, w);
    c.ys = dnas_shape4(2, 3, out_size(h, pad, pad, k, stride, 1),
                       out_size(w, pad, pad, k, stride, 1));
    const size_t nx = dnas_shape_numel(c.xs), ny = dnas_shape_numel(c.ys);
    c.x = dalloc(nx);
    if (is_max) {
        /* Distinct values 0.01 apart, shuffled: a +-h step never changes a window's argmax,
         * so finite differences see no kink (ties are checked in maxpool_ties). */
        for (size_t i = 0; i < nx; i++) c.x[i] = 0.01 * (double)i - 0.5;
        for (size_t i = nx - 1; i > 0; i--) {
            const size_t j = (size_t)(rng_next() % (i + 1));
            const double t = c.x[i];
            c.x[i] = c.x[j];
            c.x[j] = t;
        }
    } else {
        for (size_t i = 0; i < nx; i++) c.x[i] = srand1();
    }
    c.y = dalloc(ny);
    c.r = drand(ny);
    printf("  %s %dx%d s%d p%d%s on %dx%d -> %dx%d\n", is_max ? "max" : "avg", k, k, stride, pad,
           is_max ? "" : (cip ? " count_include_pad" : " exclude_pad"), h, w, c.ys.h, c.ys.w);
    double *dx = dfill(nx, 7.0);
    if (is_max)
        dnas_ref_maxpool_bwd(&c.p, dx, 0, c.xs, c.x, c.r, c.ys);
    else
        dnas_ref_avgpool_bwd(&c.p, dx, 0, c.xs, c.r, c.ys);
    gc_check("d/dx", pool_loss, &c, c.x, nx, dx);
    free_all();
}
static void avgpool_3x3_s1_p1_excl(void) { pool_gradcheck(0, 3, 1, 1, 0, 5, 4, 501); }
static void avgpool_3x3_s1_p1_incl(void) { pool_gradcheck(0, 3, 1, 1, 1, 5, 4, 502); }
static void avgpool_3x3_s2_p1_excl(void) { pool_gradcheck(0, 3, 2, 1, 0, 6, 5, 503); }
static void avgpool_2x2_s2(void) { pool_gradcheck(0, 2, 2, 0, 1, 5, 6, 504); }
static void maxpool_3x3_s1_p1(void) { pool_gradcheck(1, 3, 1, 1, 0, 5, 4, 505); }
static void maxpool_3x3_s2_p1(void) { pool_gradcheck(1, 3, 2, 1, 0, 7, 6, 506); }

/* Divisors by hand on a 3x3 all-ones image (one channel): with count_include_pad off every
 * output is 1; with it on the corner is 4/9, the edge 6/9, the centre 9/9. */
static void avgpool_divisor_values(void) {
    double x[9], y[9];
    for (int i = 0; i < 9; i++) x[i] = 1.0;
    const dnas_shape s = dnas_shape4(1, 1, 3, 3);
    dnas_pool_p p = {3, 1, 1, 0};
    dnas_ref_avgpool_fwd(&p, y, s, x, s);
    for (int i = 0; i < 9; i++) CHECK(fabs(y[i] - 1.0) < 1e-15, "exclude_pad y[%d] = %g", i, y[i]);
    p.count_include_pad = 1;
    dnas_ref_avgpool_fwd(&p, y, s, x, s);
    const double want[9] = {4, 6, 4, 6, 9, 6, 4, 6, 4};
    for (int i = 0; i < 9; i++)
        CHECK(fabs(y[i] - want[i] / 9.0) < 1e-15, "include_pad y[%d] = %g", i, y[i]);
}

/* Ties: on a constant image the gradient goes to the first in-bounds pixel of each window in
 * row-major order; padding (-inf) never wins even against negative inputs. */
static void maxpool_ties(void) {
    const int H = 3, W = 4;
    const dnas_shape s = dnas_shape4(1, 1, H, W);
    double x[12], y[12], dy[12], dx[12], want[12] = {0};
    for (int i = 0; i < 12; i++) {
        x[i] = -2.0;
        dy[i] = 1.0 + i; /* distinct so a misrouted gradient shows */
    }
    const dnas_pool_p p = {3, 1, 1, 0};
    dnas_ref_maxpool_fwd(&p, y, s, x, s);
    dnas_ref_maxpool_bwd(&p, dx, 0, s, x, dy, s);
    for (int oh = 0; oh < H; oh++)
        for (int ow = 0; ow < W; ow++) {
            const int h = oh > 0 ? oh - 1 : 0, w = ow > 0 ? ow - 1 : 0;
            want[h * W + w] += dy[oh * W + ow];
            CHECK(y[oh * W + ow] == -2.0, "y[%d][%d] = %g (padding won?)", oh, ow, y[oh * W + ow]);
        }
    for (int i = 0; i < 12; i++) CHECK(dx[i] == want[i], "dx[%d] = %g, want %g", i, dx[i], want[i]);
}

/* ---- wsum ------------------------------------------------------------------------------- */
#define WS_K 3
typedef struct {
    size_t n;
    const double *xs[WS_K];
    double *x[WS_K], *m, *y, *r;
} wsum_ctx;

static double wsum_loss(void *v) {
    wsum_ctx *c = v;
    dnas_ref_wsum_fwd(c->y, c->n, WS_K, c->xs, c->m);
    return dot(c->y, c->r, c->n);
}

static void wsum_grad(void) {
    rng_seed(601);
    wsum_ctx c;
    c.n = 40;
    for (int i = 0; i < WS_K; i++) c.xs[i] = c.x[i] = drand(c.n);
    c.m = drand(WS_K);
    c.y = dalloc(c.n);
    c.r = drand(c.n);
    /* dx[0]: acc=0 over garbage; dx[1]: acc=1 over a base; dm over garbage (written). */
    double *base = drand(c.n);
    double *dx[WS_K] = {dfill(c.n, 7.0), dcopy(base, c.n), dalloc(c.n)};
    const int acc[WS_K] = {0, 1, 0};
    double *dm = dfill(WS_K, 7.0);
    dnas_ref_wsum_bwd(dx, acc, dm, c.n, WS_K, c.r, c.xs, c.m);
    sub_into(dx[1], base, c.n);
    gc_check("d/dx0", wsum_loss, &c, c.x[0], c.n, dx[0]);
    gc_check("d/dx1", wsum_loss, &c, c.x[1], c.n, dx[1]);
    gc_check("d/dx2", wsum_loss, &c, c.x[2], c.n, dx[2]);
    gc_check("d/dm", wsum_loss, &c, c.m, WS_K, dm);
    /* NULL entries and dm = NULL: skipped, others unchanged. */
    double *keep = dcopy(dx[0], c.n);
    double *dx2[WS_K] = {NULL, dx[1], NULL};
    double *d1 = dcopy(dx[1], c.n);
    dnas_ref_wsum_bwd(dx2, acc, NULL, c.n, WS_K, c.r, c.xs, c.m);
    CHECK(rel_diff(dx[0], keep, c.n) == 0.0, "a NULL dx entry was written");
    sub_into(dx[1], d1, c.n); /* acc=1 again: adds the same m[1]*dy */
    CHECK(rel_diff(dx[1], d1, c.n) < 1e-14, "acc=1 did not add");
    free_all();
}

/* ---- gap -------------------------------------------------------------------------------- */
typedef struct {
    dnas_shape xs;
    double *x, *y, *r;
} gap_ctx;

static double gap_loss(void *v) {
    gap_ctx *c = v;
    dnas_ref_gap_fwd(c->y, c->x, c->xs);
    return dot(c->y, c->r, (size_t)c->xs.n * c->xs.c);
}

static void gap_grad(void) {
    rng_seed(701);
    gap_ctx c;
    c.xs = dnas_shape4(2, 3, 4, 5);
    const size_t nx = dnas_shape_numel(c.xs), ny = (size_t)c.xs.n * c.xs.c;
    c.x = drand(nx);
    c.y = dalloc(ny);
    c.r = drand(ny);
    double *dx = dfill(nx, 7.0);
    dnas_ref_gap_bwd(dx, 0, c.xs, c.r);
    gc_check("d/dx", gap_loss, &c, c.x, nx, dx);
    free_all();
}

/* ---- linear ----------------------------------------------------------------------------- */
typedef struct {
    int n, in, out;
    double *x, *w, *b, *y, *r;
} lin_ctx;

static double lin_loss(void *v) {
    lin_ctx *c = v;
    dnas_ref_linear_fwd(c->y, c->x, c->w, c->b, c->n, c->in, c->out);
    return dot(c->y, c->r, (size_t)c->n * c->out);
}

static lin_ctx lin_make(uint64_t seed) {
    rng_seed(seed);
    lin_ctx c = {3, 5, 4, NULL, NULL, NULL, NULL, NULL};
    c.x = drand((size_t)c.n * c.in);
    c.w = drand((size_t)c.out * c.in);
    c.b = drand(c.out);
    c.y = dalloc((size_t)c.n * c.out);
    c.r = drand((size_t)c.n * c.out);
    return c;
}

static void linear_grad(void) {
    lin_ctx c = lin_make(801);
    const size_t nx = (size_t)c.n * c.in, nw = (size_t)c.out * c.in;
    double *dx = dfill(nx, 7.0), *dw0 = drand(nw), *dw = dcopy(dw0, nw);
    double *db0 = drand(c.out), *db = dcopy(db0, c.out);
    dnas_ref_linear_bwd(dx, 0, dw, db, c.r, c.x, c.w, c.n, c.in, c.out);
    sub_into(dw, dw0, nw);
    sub_into(db, db0, c.out);
    gc_check("d/dx", lin_loss, &c, c.x, nx, dx);
    gc_check("d/dw", lin_loss, &c, c.w, nw, dw);
    gc_check("d/db", lin_loss, &c, c.b, c.out, db);
    free_all();
}

/* The checker itself must catch a wrong gradient: perturb one entry by 1e-4 relative. */
static void gradcheck_detects_error(void) {
    lin_ctx c = lin_make(802);
    const size_t nw = (size_t)c.out * c.in;
    double *dw = dalloc(nw);
    dnas_ref_linear_bwd(NULL, 0, dw, NULL, c.r, c.x, c.w, c.n, c.in, c.out);
    double mn = 0.0;
    const double ok = gc_error(lin_loss, &c, c.w, nw, dw, &mn);
    dw[7] += 1e-4 * mn;
    const double bad = gc_error(lin_loss, &c, c.w, nw, dw, NULL);
    dw[7] = NAN;
    const double nan = gc_error(lin_loss, &c, c.w, nw, dw, NULL);
    printf("  correct %.2e, perturbed %.2e, NaN %g\n", ok, bad, nan);
    CHECK(ok < GC_TOL, "correct gradient rejected (%.3e)", ok);
    CHECK(bad > GC_TOL, "a 1e-4 error in one entry went unnoticed (%.3e)", bad);
    CHECK(!(nan < GC_TOL), "a NaN gradient passed");
    free_all();
}

/* ---- softmax cross-entropy -------------------------------------------------------------- */
typedef struct {
    int n, k;
    const int *labels;
    double scale;
    double *logits, *probs;
} xent_ctx;

static double xent_loss(void *v) {
    xent_ctx *c = v;
    double loss = 0.0;
    dnas_ref_xent_fwd(c->probs, &loss, NULL, c->logits, c->labels, c->n, c->k);
    return c->scale * loss;
}

static void xent_grad(void) {
    rng_seed(901);
    const int labels[4] = {2, 0, 4, 1};
    xent_ctx c = {4, 5, labels, 1.7, NULL, NULL};
    const size_t nl = (size_t)c.n * c.k;
    c.logits = drand(nl);
    for (size_t i = 0; i < nl; i++) c.logits[i] *= 3.0;
    c.probs = dalloc(nl);
    xent_loss(&c);
    double *dl = dfill(nl, 7.0);
    dnas_ref_xent_bwd(dl, c.probs, c.labels, c.n, c.k, c.scale);
    gc_check("d/dlogits", xent_loss, &c, c.logits, nl, dl);
    free_all();
}

/* Forward: direct formula, huge logits (log-sum-exp must not overflow), probs sum to 1,
 * argmax count with a tie (first index wins, as torch.argmax). */
static void xent_fwd_values(void) {
    const int n = 3, k = 3, labels[3] = {0, 2, 1};
    const double logits[9] = {1000.0, 999.0, -5.0, 0.1, 0.2, 0.3, 2.0, 2.0, 1.0};
    double probs[9], loss = -1.0;
    int correct = -1;
    dnas_ref_xent_fwd(probs, &loss, &correct, logits, labels, n, k);
    double want = 0.0;
    for (int r = 0; r < n; r++) {
        const double *l = logits + r * k;
        double mx = l[0], s = 0.0, ps = 0.0;
        for (int j = 1; j < k; j++) mx = l[j] > mx ? l[j] : mx;
        for (int j = 0; j < k; j++) s += exp(l[j] - mx);
        want += log(s) + mx - l[labels[r]];
        for (int j = 0; j < k; j++) ps += probs[r * k + j];
        CHECK(fabs(ps - 1.0) < 1e-15, "row %d probs sum to %.17g", r, ps);
    }
    want /= n;
    printf("  loss %.15f (direct %.15f), correct %d\n", loss, want, correct);
    CHECK(isfinite(loss) && fabs(loss - want) < 1e-14, "loss %.17g, want %.17g", loss, want);
    /* Row 0 argmax 0 == label; row 1 argmax 2 == label; row 2 tie -> 0 != label 1. */
    CHECK(correct == 2, "correct = %d, want 2", correct);
}

/* ---- chancopy --------------------------------------------------------------------------- */
static void chancopy_semantics(void) {
    rng_seed(1001);
    const int dst_c = 7, doff = 2, src_c = 5, soff = 1, count = 3;
    const size_t npix = 6;
    double *src = drand(npix * src_c), *dst0 = drand(npix * dst_c);
    double *dst = dcopy(dst0, npix * dst_c);
    dnas_ref_chancopy(dst, dst_c, doff, 0, src, src_c, soff, count, npix);
    int bad = 0;
    for (size_t p = 0; p < npix; p++)
        for (int c = 0; c < dst_c; c++) {
            const size_t i = p * dst_c + c;
            const int in = c >= doff && c < doff + count;
            bad += dst[i] != (in ? src[p * src_c + soff + c - doff] : dst0[i]);
        }
    CHECK(bad == 0, "acc=0: %d wrong elements", bad);
    dnas_ref_chancopy(dst, dst_c, doff, 1, src, src_c, soff, count, npix);
    bad = 0;
    for (size_t p = 0; p < npix; p++)
        for (int c = 0; c < dst_c; c++) {
            const size_t i = p * dst_c + c;
            const int in = c >= doff && c < doff + count;
            bad += dst[i] != (in ? 2.0 * src[p * src_c + soff + c - doff] : dst0[i]);
        }
    CHECK(bad == 0, "acc=1: %d wrong elements", bad);
    free_all();
}

/* concat + ReLU: two inputs (3 and 4 channels) into a 7-channel relu(concat); each input's
 * gradient is the masked backward of its block, checked by central differences (inputs kept
 * off the kink, as in relu_grad). */
typedef struct {
    size_t np;
    double *a, *b, *y, *r;
} catr_ctx;

static const int catr_c[2] = {3, 4};

static double catr_loss(void *v) {
    catr_ctx *c = v;
    const double *x[2] = {c->a, c->b};
    dnas_ref_concat_relu_fwd(c->y, 2, x, catr_c, c->np);
    return dot(c->y, c->r, c->np * 7);
}

static void concat_relu_grad(void) {
    rng_seed(1003);
    catr_ctx c = {5, NULL, NULL, NULL, NULL};
    c.a = drand(c.np * 3);
    c.b = drand(c.np * 4);
    for (size_t i = 0; i < c.np * 3; i++)
        while (fabs(c.a[i]) < 0.05) c.a[i] = srand1();
    for (size_t i = 0; i < c.np * 4; i++)
        while (fabs(c.b[i]) < 0.05) c.b[i] = srand1();
    c.y = dalloc(c.np * 7);
    c.r = drand(c.np * 7);
    catr_loss(&c);
    double *da = dfill(c.np * 3, 7.0), *db = dfill(c.np * 4, 7.0);
    double *dx[2] = {da, db};
    const int acc0[2] = {0, 0}, acc1[2] = {1, 0};
    dnas_ref_concat_relu_bwd(dx, acc0, 2, catr_c, c.r, c.y, c.np);
    gc_check("d/da", catr_loss, &c, c.a, c.np * 3, da);
    gc_check("d/db", catr_loss, &c, c.b, c.np * 4, db);
    /* acc = 1 adds the same masked block; a NULL dx is skipped */
    double *da2 = dcopy(da, c.np * 3);
    double *dx2[2] = {da2, NULL};
    dnas_ref_concat_relu_bwd(dx2, acc1, 2, catr_c, c.r, c.y, c.np);
    int bad = 0;
    for (size_t i = 0; i < c.np * 3; i++) bad += da2[i] != 2.0 * da[i];
    CHECK(bad == 0, "concat_relu acc=1: %d elements are not twice the written gradient", bad);
    free_all();
}

/* ---- acc semantics: acc=1 adds exactly what acc=0 writes; parameter grads always add ---- */
static void check_acc(const char *what, const double *a0, const double *a1, const double *base,
                      size_t n) {
    /* a0: result with acc=0 over garbage; a1: result with acc=1 over base. */
    double *d = dcopy(a1, n);
    sub_into(d, base, n);
    const double e = rel_diff(d, a0, n);
    printf("  %-18s rel diff %.2e\n", what, e);
    CHECK(e < 1e-13, "%s: acc=1 is not base + (acc=0 result): %.3e", what, e);
}

static void acc_conv(void) {
    rng_seed(1101);
    const dnas_conv_p p = {4, 6, 3, 3, 2, 1, 1, 2};
    const dnas_shape xs = dnas_shape4(2, 4, 5, 6), ys = dnas_shape4(2, 6, 3, 3);
    const size_t nx = dnas_shape_numel(xs), ny = dnas_shape_numel(ys), nw = 6 * 9 * 2;
    double *x = drand(nx), *w = drand(nw), *dy = drand(ny), *base = drand(nx);
    double *a0 = dfill(nx, -3.0), *a1 = dcopy(base, nx);
    dnas_ref_conv2d_bwd_data(&p, a0, 0, xs, dy, ys, w);
    dnas_ref_conv2d_bwd_data(&p, a1, 1, xs, dy, ys, w);
    check_acc("conv bwd_data", a0, a1, base, nx);
    /* Weight grads: a second call doubles them. */
    double *dw = dalloc(nw), *db = dalloc(6);
    dnas_ref_conv2d_bwd_weight(&p, dw, db, x, xs, dy, ys);
    double *dw1 = dcopy(dw, nw), *db1 = dcopy(db, 6);
    dnas_ref_conv2d_bwd_weight(&p, dw, db, x, xs, dy, ys);
    check_acc("conv dw +=", dw1, dw, dw1, nw);
    check_acc("conv db +=", db1, db, db1, 6);
    /* db = NULL skips the bias, dw unaffected. */
    double *dw2 = dalloc(nw);
    dnas_ref_conv2d_bwd_weight(&p, dw2, NULL, x, xs, dy, ys);
    CHECK(rel_diff(dw2, dw1, nw) < 1e-15, "dw differs when db is NULL");
    free_all();
}

static void acc_bn(void) {
    rng_seed(1102);
    const dnas_bn_p p = {1e-5f, 0.1f, 0};
    const dnas_shape xs = dnas_shape4(2, 3, 2, 2);
    const size_t nx = dnas_shape_numel(xs), C = 3;
    double *x = drand(nx), *y = dalloc(nx), *g = drand(C), *b = drand(C), *dy = drand(nx);
    double *sm = dalloc(C), *si = dalloc(C), *base = drand(nx);
    dnas_ref_bn_fwd_train(&p, y, sm, si, NULL, NULL, x, xs, g, b);
    double *a0 = dfill(nx, -3.0), *a1 = dcopy(base, nx), *dg = dalloc(C), *db = dalloc(C);
    dnas_ref_bn_bwd(a0, 0, dg, db, dy, x, xs, sm, si, g);
    double *dg1 = dcopy(dg, C), *db1 = dcopy(db, C);
    dnas_ref_bn_bwd(a1, 1, dg, db, dy, x, xs, sm, si, g);
    check_acc("bn dx", a0, a1, base, nx);
    check_acc("bn dgamma +=", dg1, dg, dg1, C);
    check_acc("bn dbeta +=", db1, db, db1, C);
    free_all();
}

static void acc_pool_relu_gap(void) {
    rng_seed(1103);
    const dnas_shape xs = dnas_shape4(2, 3, 5, 4), ys = dnas_shape4(2, 3, 3, 2);
    const size_t nx = dnas_shape_numel(xs), ny = dnas_shape_numel(ys);
    const dnas_pool_p p = {3, 2, 1, 0};
    double *x = drand(nx), *dy = drand(ny), *base = drand(nx);
    double *a0 = dfill(nx, -3.0), *a1 = dcopy(base, nx);
    dnas_ref_avgpool_bwd(&p, a0, 0, xs, dy, ys);
    dnas_ref_avgpool_bwd(&p, a1, 1, xs, dy, ys);
    check_acc("avgpool", a0, a1, base, nx);
    a0 = dfill(nx, -3.0);
    a1 = dcopy(base, nx);
    dnas_ref_maxpool_bwd(&p, a0, 0, xs, x, dy, ys);
    dnas_ref_maxpool_bwd(&p, a1, 1, xs, x, dy, ys);
    check_acc("maxpool", a0, a1, base, nx);
    double *y = dalloc(nx), *dyx = drand(nx);
    dnas_ref_relu_fwd(y, x, nx);
    a0 = dfill(nx, -3.0);
    a1 = dcopy(base, nx);
    dnas_ref_relu_bwd(a0, 0, dyx, y, nx);
    dnas_ref_relu_bwd(a1, 1, dyx, y, nx);
    check_acc("relu", a0, a1, base, nx);
    a0 = dfill(nx, -3.0);
    a1 = dcopy(base, nx);
    dnas_ref_gap_bwd(a0, 0, xs, dy); /* dy has >= N*C entries */
    dnas_ref_gap_bwd(a1, 1, xs, dy);
    check_acc("gap", a0, a1, base, nx);
    free_all();
}

static void acc_linear(void) {
    lin_ctx c = lin_make(1104);
    const size_t nx = (size_t)c.n * c.in, nw = (size_t)c.out * c.in;
    double *base = drand(nx), *a0 = dfill(nx, -3.0), *a1 = dcopy(base, nx);
    double *dw = dalloc(nw), *db = dalloc(c.out);
    dnas_ref_linear_bwd(a0, 0, dw, db, c.r, c.x, c.w, c.n, c.in, c.out);
    double *dw1 = dcopy(dw, nw), *db1 = dcopy(db, c.out);
    dnas_ref_linear_bwd(a1, 1, dw, db, c.r, c.x, c.w, c.n, c.in, c.out);
    check_acc("linear dx", a0, a1, base, nx);
    check_acc("linear dw +=", dw1, dw, dw1, nw);
    check_acc("linear db +=", db1, db, db1, c.out);
    free_all();
}

int main(void) {
    RUN(gradcheck_detects_error);
    RUN(conv_3x3_pad1);
    RUN(conv_1x1_bias);
    RUN(conv_3x3_stride2);
    RUN(conv_3x3_dil2_pad2);
    RUN(conv_depthwise_3x3);
    RUN(conv_depthwise_5x5_dil2_s2);
    RUN(conv_grouped);
    RUN(conv_crop_1x1_s2);
    RUN(conv_crop_1x1_s2_odd);
    RUN(conv_3_to_5_bias);
    RUN(conv_fwd_known_values);
    RUN(conv_fwd_crop_values);
    RUN(conv_fwd_grouped_blockdiag);
    RUN(conv_fwd_depthwise_blockdiag);
    RUN(bn_train_affine);
    RUN(bn_train_no_affine);
    RUN(bn_running_stats);
    RUN(bn_eval_formula);
    RUN(relu_grad);
    RUN(relu_kink);
    RUN(avgpool_3x3_s1_p1_excl);
    RUN(avgpool_3x3_s1_p1_incl);
    RUN(avgpool_3x3_s2_p1_excl);
    RUN(avgpool_2x2_s2);
    RUN(avgpool_divisor_values);
    RUN(maxpool_3x3_s1_p1);
    RUN(maxpool_3x3_s2_p1);
    RUN(maxpool_ties);
    RUN(wsum_grad);
    RUN(gap_grad);
    RUN(linear_grad);
    RUN(xent_grad);
    RUN(xent_fwd_values);
    RUN(chancopy_semantics);
    RUN(concat_relu_grad);
    RUN(acc_conv);
    RUN(acc_bn);
    RUN(acc_pool_relu_gap);
    RUN(acc_linear);
    printf("worst gradcheck rel err over all cases: %.2e (tolerance %.0e)\n", t_worst, GC_TOL);
    TEST_EXIT();
}
