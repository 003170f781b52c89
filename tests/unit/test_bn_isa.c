/* The batch-norm kernels give bit-identical results with the 8-lane AVX2 and the 16-lane
 * AVX-512 code (dnas_cpu_isa), so runs, checkpoints and resumes agree between machines with
 * and without AVX-512. Every entry point (training forward with and without the fused ReLU and
 * with and without gamma/beta and running statistics, eval forward, backward with and without
 * the ReLU mask, dy_scale, acc 0/1, dx NULL) runs once per ISA on the same inputs; every output
 * is compared with memcmp (and so are the double per-block partial sums behind them, through
 * cpu_bn.c's test hook), and both against the double reference backend (the tolerance of
 * test_cpu_kernels' BN checks). Channel counts cover the 16-lane chunks and the 8 / 4 / scalar
 * tails after them; pixel counts cover partial blocks and pixel pairs; 1 and 2 threads. On a
 * CPU without AVX-512 the forced choice must fall back to the 8-lane code: the same
 * comparisons then check that fallback. */
#include "test.h"

#include "backend/backend.h"
#include "backend/cpu/cpu_internal.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/ref/ref.h"
#include "core/status.h"
#define KC_SEED 0x9E3779B97F4A7C15ull
#include "kernel_check.h"

#define TOL_BN 1e-4


static float *rnd(size_t n, float lo, float hi) {
    float *a = malloc((n ? n : 1) * sizeof *a);
    for (size_t i = 0; i < n; i++) a[i] = lo + (hi - lo) * 0.5f * (frand() + 1.0f);
    return a;
}
static double *todbl(const float *a, size_t n) { /* NULL stays NULL */
    if (!a) return NULL;
    double *d = malloc((n ? n : 1) * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = a[i];
    return d;
}

static dnas_backend *make_be(int threads) {
    dnas_backend *be = NULL;
    if (dnas_backend_cpu_create(threads, &be) != DNAS_OK) return NULL;
    ((dnas_cpu_impl *)be->impl)->threads = threads; /* the split depends on it: pin it */
    return be;
}

/* Training forward for relu r (0/1) and affine a (gamma/beta and running stats, 0/1): FT(r, a).
 * Eval forward likewise: FE(r, a). Backward j = relu + 2*acc, and j = 4: dx NULL. */
#define FT(r, a) ((r) * 2 + (a))
#define NBWD 5
typedef struct {
    float *y[4], *sm[4], *si[4], *rm[4], *rv[4]; /* training forward */
    float *ye[4];                                /* eval forward */
    float *dx[NBWD], *dg[NBWD], *db[NBWD];       /* backward */
} outs;

/* shared inputs of one case */
typedef struct {
    int C;
    size_t npix, tot;
    dnas_shape xs;
    float *x, *g, *b, *rm0, *rv0, *dy, *dx0, *dg0, *db0;
} ins;

static const dnas_bn_p P0 = {1e-5f, 0.1f, 0}, P1 = {1e-5f, 0.1f, 1};
static int bwd_relu(int j) { return j == 4 ? 1 : j & 1; }
static int bwd_acc(int j) { return j == 4 ? 0 : j >> 1; }
static int bwd_affine(int j) { return j != 1; } /* gamma NULL once (relu, acc 0) */
static float bwd_ds(int j) { return j == 0 ? 1.0f : 0.37f; }

static int n_compared; /* cases whose two ISA runs were compared */

/* All entry points with the current dnas_cpu_isa into o (outputs start as garbage unless they
 * accumulate). */
static void run_all(dnas_backend *be, const ins *in, outs *o, const char *tag) {
    const size_t C = (size_t)in->C, tot = in->tot;
    for (int r = 0; r <= 1; r++)
        for (int a = 0; a <= 1; a++) {
            const int k = FT(r, a);
            o->y[k] = rnd(tot, -9, 9);
            o->sm[k] = rnd(C, -9, 9);
            o->si[k] = rnd(C, -9, 9);
            o->rm[k] = a ? dup(in->rm0, C) : NULL;
            o->rv[k] = a ? dup(in->rv0, C) : NULL;
            CHECK(be->bn_fwd_train(be, r ? &P1 : &P0, o->y[k], o->sm[k], o->si[k], o->rm[k],
                                        o->rv[k], in->x, in->xs, a ? in->g : NULL,
                                        a ? in->b : NULL) == DNAS_OK,
                  "%s fwd_train: %s", tag, dnas_last_error());
            o->ye[k] = rnd(tot, -9, 9);
            CHECK(be->bn_fwd_eval(be, r ? &P1 : &P0, o->ye[k], in->x, in->xs,
                                       a ? in->rm0 : NULL, a ? in->rv0 : NULL, a ? in->g : NULL,
                                       a ? in->b : NULL) == DNAS_OK,
                  "%s fwd_eval: %s", tag, dnas_last_error());
        }
    for (int j = 0; j < NBWD; j++) {
        const int r = bwd_relu(j), acc = bwd_acc(j), a = bwd_affine(j);
        const int k = FT(r, a); /* the forward whose saved statistics (and ReLU output) it uses */
        o->dx[j] = j == 4 ? NULL : acc ? dup(in->dx0, tot) : rnd(tot, -9, 9);
        o->dg[j] = dup(in->dg0, C);
        o->db[j] = dup(in->db0, C);
        CHECK(be->bn_bwd(be, o->dx[j], acc, o->dg[j], o->db[j], in->dy, bwd_ds(j),
                              r ? o->y[k] : NULL, in->x, in->xs, o->sm[k], o->si[k],
                              a ? in->g : NULL) == DNAS_OK,
              "%s bwd %d: %s", tag, j, dnas_last_error());
    }
}

static void free_outs(outs *o) {
    for (int k = 0; k < 4; k++)
        free(o->y[k]), free(o->sm[k]), free(o->si[k]), free(o->rm[k]), free(o->rv[k]),
            free(o->ye[k]);
    for (int j = 0; j < NBWD; j++) free(o->dx[j]), free(o->dg[j]), free(o->db[j]);
}

/* a and b bit for bit (NULL both or neither) */
static int same(const char *what, const char *tag, const float *a, const float *b, size_t n) {
    if (!a || !b) {
        CHECK(!a && !b, "%s %s: one ISA's output is missing", tag, what);
        return !a && !b;
    }
    const long f = first_diff(a, b, n);
    CHECK(f < 0, "%s %s: differs between ISAs at %ld of %zu (%.9g vs %.9g)", tag, what, f, n,
          f < 0 ? 0.0 : a[f], f < 0 ? 0.0 : b[f]);
    return f < 0;
}

/* The double per-block partials of the forward statistics and of the backward ones (with and
 * without the ReLU mask) bit for bit between the ISAs: a changed summation order rarely shows
 * in the float outputs. */
static int same_partials(const ins *in, const outs *o0, const char *tag) {
    long nb = 0;
    CHECK(dnas_cpu_bn_partials(in->x, NULL, NULL, NULL, in->xs, NULL, NULL, &nb) == DNAS_OK &&
              nb > 0,
          "%s partials: %s", tag, dnas_last_error());
    if (nb <= 0) return 0;
    const size_t n = (size_t)nb * (size_t)in->C;
    int ok = 1;
    for (int kind = 0; kind < 3; kind++) {
        const int k = FT(kind == 2, 1); /* the forward whose statistics / ReLU output it uses */
        double *pv[2][2];
        for (int i = 0; i < 2; i++) {
            dnas_cpu_isa = i ? DNAS_ISA_AVX512 : DNAS_ISA_AVX2;
            pv[i][0] = malloc(n * sizeof(double));
            pv[i][1] = malloc(n * sizeof(double));
            CHECK(dnas_cpu_bn_partials(in->x, kind ? in->dy : NULL, kind == 2 ? o0->y[k] : NULL,
                                       o0->sm[k], in->xs, pv[i][0], pv[i][1], &nb) == DNAS_OK,
                  "%s partials: %s", tag, dnas_last_error());
        }
        dnas_cpu_isa = DNAS_ISA_AUTO;
        for (int m = 0; m < 2; m++) {
            size_t f = 0;
            while (f < n && !memcmp(pv[0][m] + f, pv[1][m] + f, sizeof(double))) f++;
            CHECK(f == n, "%s %s partial %s: differs between ISAs at %zu of %zu (%.17g vs %.17g)",
                  tag, kind == 0 ? "fwd" : kind == 1 ? "bwd" : "bwd relu", m ? "q" : "s", f, n,
                  f < n ? pv[0][m][f] : 0.0, f < n ? pv[1][m][f] : 0.0);
            ok &= f == n;
        }
        for (int i = 0; i < 2; i++) free(pv[i][0]), free(pv[i][1]);
    }
    return ok;
}

/* Every output of o against the double reference (the ReLU as a separate op after BN, or
 * before BN's backward with the mask of our fused output); returns the worst scaled error. */
static double check_ref(const ins *in, const outs *o, const char *tag, const char *isa) {
    const size_t C = (size_t)in->C, tot = in->tot;
    double worst = 0.0;
    double *xd = todbl(in->x, tot), *gd = todbl(in->g, C), *bd = todbl(in->b, C);
    double *yd = malloc(tot * sizeof *yd), *zd = malloc(tot * sizeof *zd);
    double *smd = malloc(C * sizeof *smd), *sid = malloc(C * sizeof *sid);
    double *rmd = malloc(C * sizeof *rmd), *rvd = malloc(C * sizeof *rvd);
#define ERR(what, got, ref, n)                                                              \
    do {                                                                                    \
        const double e_ = scaled_err(got, ref, n);                                          \
        CHECK(e_ < TOL_BN, "%s %s %s: error vs reference %.3g", tag, isa, what, e_);        \
        if (!(e_ <= worst)) worst = e_;                                                     \
    } while (0)
    for (int r = 0; r <= 1; r++)
        for (int a = 0; a <= 1; a++) {
            const int k = FT(r, a);
            for (size_t c = 0; c < C; c++) rmd[c] = in->rm0[c], rvd[c] = in->rv0[c];
            dnas_ref_bn_fwd_train(&P0, zd, smd, sid, a ? rmd : NULL, a ? rvd : NULL, xd, in->xs,
                                  a ? gd : NULL, a ? bd : NULL);
            if (r) dnas_ref_relu_fwd(yd, zd, tot);
            ERR("fwd_train y", o->y[k], r ? yd : zd, tot);
            ERR("save_mean", o->sm[k], smd, C);
            ERR("save_invstd", o->si[k], sid, C);
            if (a) {
                ERR("running_mean", o->rm[k], rmd, C);
                ERR("running_var", o->rv[k], rvd, C);
            }
            for (size_t c = 0; c < C; c++) /* without them our eval takes mean 0, var 1 */
                rmd[c] = a ? in->rm0[c] : 0.0, rvd[c] = a ? in->rv0[c] : 1.0;
            dnas_ref_bn_fwd_eval(&P0, zd, xd, in->xs, rmd, rvd, a ? gd : NULL, a ? bd : NULL);
            if (r) dnas_ref_relu_fwd(yd, zd, tot);
            ERR("fwd_eval y", o->ye[k], r ? yd : zd, tot);
        }
    for (int j = 0; j < NBWD; j++) {
        const int r = bwd_relu(j), acc = bwd_acc(j), a = bwd_affine(j), k = FT(r, a);
        double *dyd = todbl(in->dy, tot), *dxd = o->dx[j] ? todbl(in->dx0, tot) : NULL;
        double *dgd = todbl(in->dg0, C), *dbd = todbl(in->db0, C);
        double *smk = todbl(o->sm[k], C), *sik = todbl(o->si[k], C);
        for (size_t i = 0; i < tot; i++) dyd[i] *= bwd_ds(j);
        if (r) { /* the mask of our own fused output */
            double *yk = todbl(o->y[k], tot);
            dnas_ref_relu_bwd(zd, 0, dyd, yk, tot);
            memcpy(dyd, zd, tot * sizeof *dyd);
            free(yk);
        }
        if (dxd && !acc) memset(dxd, 0, tot * sizeof *dxd);
        dnas_ref_bn_bwd(dxd, acc, dgd, dbd, dyd, xd, in->xs, smk, sik, a ? gd : NULL);
        /* One pixel: dx is 0 up to the rounding of dy*A + D, which is not relative to max|0|. */
        if (dxd && in->npix > 1) ERR("bwd dx", o->dx[j], dxd, tot);
        ERR("bwd dgamma", o->dg[j], dgd, C);
        ERR("bwd dbeta", o->db[j], dbd, C);
        free(dyd), free(dxd), free(dgd), free(dbd), free(smk), free(sik);
    }
#undef ERR
    free(xd), free(gd), free(bd), free(yd), free(zd), free(smd), free(sid), free(rmd), free(rvd);
    return worst;
}

static void check_case(int C, int n, int h, int w, int threads) {
    ins in;
    in.C = C;
    in.xs = dnas_shape4(n, C, h, w);
    in.npix = (size_t)n * h * w;
    in.tot = in.npix * C;
    char tag[96];
    snprintf(tag, sizeof tag, "C=%d N*H*W=%d*%d*%d t=%d", C, n, h, w, threads);
    dnas_backend *be = make_be(threads);
    CHECK(be != NULL, "backend create failed");
    if (!be) return;
    /* an offset on some cases: the shifted sums must agree too when |mean| >> std */
    const float off = (C / 4) % 2 ? 20.0f : 0.0f, sc = (C / 4) % 2 ? 0.5f : 2.0f;
    in.x = rnd(in.tot, -sc, sc);
    /* mixed magnitudes (times a random power of two, 1..2^-11; dy too): the products then
     * carry more than 53 bits, so the double sums round and a changed summation order shows */
    for (size_t i = 0; i < in.tot; i++)
        in.x[i] = off + ldexpf(in.x[i], -(int)((frand() + 1.0f) * 6.0f));
    in.g = rnd((size_t)C, 0.5f, 1.5f);
    in.b = rnd((size_t)C, -0.5f, 0.5f);
    in.rm0 = rnd((size_t)C, -0.2f, 0.2f);
    in.rv0 = rnd((size_t)C, 0.5f, 1.5f);
    in.dy = rnd(in.tot, -1, 1);
    for (size_t i = 0; i < in.tot; i++) in.dy[i] = ldexpf(in.dy[i], -(int)((frand() + 1.0f) * 6.0f));
    in.dx0 = rnd(in.tot, -1, 1);
    in.dg0 = rnd((size_t)C, -1, 1);
    in.db0 = rnd((size_t)C, -1, 1);

    outs o[2];
    memset(o, 0, sizeof o);
    for (int i = 0; i < 2; i++) {
        dnas_cpu_isa = i ? DNAS_ISA_AVX512 : DNAS_ISA_AVX2;
        const int used = dnas_cpu_isa_used();
        CHECK(used == (i && dnas_cpu_has_avx512() ? DNAS_ISA_AVX512 : DNAS_ISA_AVX2),
              "%s: forced isa %d runs %d", tag, i, used);
        run_all(be, &in, &o[i], tag);
    }
    dnas_cpu_isa = DNAS_ISA_AUTO;

    const size_t Cz = (size_t)C, tot = in.tot;
    int ok = 1;
    char what[48];
    for (int k = 0; k < 4; k++) {
        snprintf(what, sizeof what, "fwd_train(relu=%d,affine=%d)", k / 2, k % 2);
        ok &= same(what, tag, o[0].y[k], o[1].y[k], tot);
        ok &= same("save_mean", tag, o[0].sm[k], o[1].sm[k], Cz);
        ok &= same("save_invstd", tag, o[0].si[k], o[1].si[k], Cz);
        ok &= same("running_mean", tag, o[0].rm[k], o[1].rm[k], Cz);
        ok &= same("running_var", tag, o[0].rv[k], o[1].rv[k], Cz);
        snprintf(what, sizeof what, "fwd_eval(relu=%d,affine=%d)", k / 2, k % 2);
        ok &= same(what, tag, o[0].ye[k], o[1].ye[k], tot);
    }
    for (int j = 0; j < NBWD; j++) {
        snprintf(what, sizeof what, "bwd(relu=%d,acc=%d,affine=%d) dx", bwd_relu(j), bwd_acc(j),
                 bwd_affine(j));
        ok &= same(what, tag, o[0].dx[j], o[1].dx[j], tot);
        ok &= same("dgamma", tag, o[0].dg[j], o[1].dg[j], Cz);
        ok &= same("dbeta", tag, o[0].db[j], o[1].db[j], Cz);
    }
    ok &= same_partials(&in, &o[0], tag);
    const double e0 = check_ref(&in, &o[0], tag, "avx2");
    const double e1 = check_ref(&in, &o[1], tag, "avx512");
    printf("  %-30s identical=%d  worst err vs ref avx2 %.1e avx512 %.1e\n", tag, ok, e0, e1);
    n_compared++;
    free_outs(&o[0]);
    free_outs(&o[1]);
    free(in.x), free(in.g), free(in.b), free(in.rm0), free(in.rv0), free(in.dy), free(in.dx0);
    free(in.dg0), free(in.db0);
    dnas_backend_destroy(be);
}

/* What this machine runs, and that forcing the choice works (on a CPU without AVX-512: that
 * asking for it falls back). */
static void test_selection(void) {
    const int have = dnas_cpu_has_avx512(), prev = dnas_cpu_isa;
    printf("  AVX-512 kernels: %s\n", have ? "built and supported by this CPU"
                                           : "not available (comparing the fallback)");
    dnas_cpu_isa = DNAS_ISA_AVX2;
    CHECK(dnas_cpu_isa_used() == DNAS_ISA_AVX2, "forced avx2");
    dnas_cpu_isa = DNAS_ISA_AVX512;
    CHECK(dnas_cpu_isa_used() == (have ? DNAS_ISA_AVX512 : DNAS_ISA_AVX2), "forced avx512");
    dnas_cpu_isa = prev;
}

/* Channels: below one 8-lane chunk (3), 8, one and two 16-lane chunks, 16 + 4 (20), the DARTS
 * widths (36 = 32 + 4, 48, 72 = 64 + 8, 144, 288) and NB201's (16, 32, 64). Pixels: one, an
 * odd few (7: the unpaired last pixel), under one block (100), 4096 + 3 (several blocks, a
 * short last one), 96*8*8 (the DARTS batch at 8x8). */
static const int CHANNELS[] = {3, 8, 16, 20, 32, 36, 48, 64, 72, 144, 288};
#define NCH ((int)(sizeof CHANNELS / sizeof CHANNELS[0]))

static void test_pixels_small(void) {
    for (int i = 0; i < NCH; i++) {
        check_case(CHANNELS[i], 1, 1, 1, 1);
        check_case(CHANNELS[i], 1, 7, 1, 2);
        check_case(CHANNELS[i], 1, 10, 10, 1 + i % 2);
    }
}

static void test_pixels_blocks(void) {
    for (int i = 0; i < NCH; i++) {
        check_case(CHANNELS[i], 1, 4099, 1, 1);
        check_case(CHANNELS[i], 1, 4099, 1, 2);
    }
}

static void test_pixels_darts(void) {
    for (int i = 0; i < NCH; i++) {
        check_case(CHANNELS[i], 96, 8, 8, 1);
        check_case(CHANNELS[i], 96, 8, 8, 2);
    }
}

int main(void) {
    RUN(test_selection);
    RUN(test_pixels_small);
    RUN(test_pixels_blocks);
    RUN(test_pixels_darts);
    printf("%d cases compared between ISAs (AVX-512 %s)\n", n_compared,
           dnas_cpu_has_avx512() ? "on" : "off: fallback compared");
    TEST_EXIT();
}
