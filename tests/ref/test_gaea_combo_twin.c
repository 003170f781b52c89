/* GAEA's exponentiated-gradient arch step composed with PC-DARTS and with GDAS (ALGORITHMS.md
 * §B4 with §B7 / §B6) against the PyTorch twins (tests/ref/gaea_combo_twin.py ->
 * tests/ref/gaea_combo_fixture.bin). Each case drives the strategy itself: a search of that
 * --algo with its own defaults, the twin's start point written into alpha, and one
 * dnas_search_step with --freeze-weights 1 (the arch step alone), then compares:
 *  - gaea-pcdarts: on the PC-DARTS supernet of pcdarts_fixture.bin (C = 8, K = 4, L = 5, batch
 *    4, 16x16, name-hash weights), theta (op rows) and beta (each node's incoming edges) used
 *    directly as mixing weights: the CE, dL/dtheta and dL/dbeta per cell type, and theta',
 *    beta' after the EG step (lr 0.1 each; three theta entries sit at the 1e-5 floor with a
 *    positive gradient, so the clamp acts);
 *  - gaea-gdas: on the small NB201 supernet (name-hash weights), the search's own Philox
 *    Gumbel draw (which the twin reproduces: checked bit for bit), p = softmax((log theta +
 *    G) / tau) and the sampled ops at tau(E = 180 epochs after the warm-up), the CE of
 *    AutoDL's one-op forward, the straight-through dL/dtheta with and without the entropic
 *    regulariser (and the regulariser's part alone), theta' after EG (lr 0.01).
 * theta' and beta' are compared entry by entry, relative (EG is multiplicative; the clamped
 * entries included); gradients normwise per cell type. Tolerances are 4-10x the errors
 * measured on the default build (1 thread); measured values beside each. */
#include "test.h"
#include "twin.h"
#include "search/search.h"
#include <math.h>

/* gaea-pcdarts */
#define TOL_PC_LOSS 6e-7    /* CE, relative: measured 0 (one float ulp at 2.27 is 1.05e-7 relative) */
#define TOL_PC_GTHETA 4e-6  /* dL/dtheta per group, normwise: measured 4.8e-7 / 4.2e-7 (normal /
                             * reduce; the twin's own float32-vs-float64 gap 5.8e-7 / 5.1e-7) */
#define TOL_PC_GBETA 5e-6   /* dL/dbeta per group, normwise: measured 6.9e-7 / 8.6e-7 (twin 6.9e-7 /
                             * 1.1e-6) */
#define TOL_PC_THETA 6e-7   /* theta' elementwise relative: measured 8.8e-8 (the step moves theta by
                             * up to 0.77%: a sign flip of the exponent is off by 1.5e-2) */
#define TOL_PC_BETA 6e-7    /* beta' elementwise relative: measured 0 (twin 7.5e-8; a few ulps) */
/* gaea-gdas */
#define TOL_GD_P 4e-7       /* p, normwise: measured 4.6e-8 */
#define TOL_GD_LOSS 6e-7    /* CE, relative: measured 0 (a few ulps) */
#define TOL_GD_GRAD 2e-5    /* dL/dtheta normwise: measured 2.9e-6 CE alone, 2.6e-6 CE + regulariser
                             * (7x; the twin's own float32-vs-float64 gap 7.0e-7 / 8.9e-7) */
#define TOL_GD_GREG 6e-7    /* the regulariser's part (difference of the two), normwise: measured 9.2e-8 */
#define TOL_GD_THETA 6e-7   /* theta' elementwise relative: measured 0 (the step moves theta by up to
                             * 5.8e-4 relative at lr 0.01; a few ulps allowed) */

static fixture fx;
static int have_fx;
static char why_fx[400];

/* max over i of |ours_i - ref_i| / |ref_i| where ref_i != 0; entries where ref_i == 0 must be 0
 * exactly in ours (non-candidates), else the error is 1e30. A NaN is 1e30. */
static double elem_relerr(const float *ours, const float *ref, int n, int *worst_i) {
    double worst = 0;
    *worst_i = -1;
    for (int i = 0; i < n; i++) {
        double e = ref[i] != 0.0f ? fabs((double)ours[i] - ref[i]) / fabs((double)ref[i]) : ours[i] == 0.0f ? 0 : 1e30;
        if (e != e) e = 1e30;
        if (e > worst) {
            worst = e;
            *worst_i = i;
        }
    }
    return worst;
}

/* ---- gaea-pcdarts --------------------------------------------------------------------------- */

static void test_gaea_pcdarts(void) {
    TWIN_NEED_FX(have_fx, why_fx);
    const size_t n_t = 2 * 14 * 9, n_b = 2 * 14;
    const int *c = twin_need_i(&fx, "config", 7), *clamped = twin_need_i(&fx, "pc/clamped", n_t);
    const float *hyper = twin_need_f(&fx, "pc/hyper", 4), *theta = twin_need_f(&fx, "pc/theta", n_t),
                *beta = twin_need_f(&fx, "pc/beta", n_b), *loss = twin_need_f(&fx, "pc/loss", 1),
                *gt = twin_need_f(&fx, "pc/grad_theta", n_t), *gb = twin_need_f(&fx, "pc/grad_beta", n_b),
                *t1 = twin_need_f(&fx, "pc/theta_after", n_t), *b1 = twin_need_f(&fx, "pc/beta_after", n_b);
    if (!c || !clamped || !hyper || !theta || !beta || !loss || !gt || !gb || !t1 || !b1) return;
    dnas_search_config sc;
    twin_darts_config(&sc, "gaea-pcdarts", "all", c);
    sc.pc_k = c[6];
    sc.threads = 1;
    sc.freeze_weights = 1; /* the arch step alone */
    /* The strategy's defaults are the twin's settings (config.c, ALGORITHMS.md §B4): EG on
     * both blocks at the one --arch-lr, which equals the paper's op and edge lrs (0.1, 0.1). */
    CHECK(strcmp(sc.arch_update, "eg") == 0 && sc.edge_norm == 1 && sc.warmup_epochs == 0 &&
              fabs(sc.arch_lr - hyper[0]) < 1e-8 && fabs(sc.arch_lr - hyper[1]) < 1e-8 &&
              sc.entropy_reg == hyper[3],
          "gaea-pcdarts defaults differ from the fixture's (update %s, edge norm %d, warm-up %d, lr %g, "
          "entropic reg %g)", sc.arch_update, sc.edge_norm, sc.warmup_epochs, sc.arch_lr, sc.entropy_reg);
    dnas_search *s = twin_darts_search(&sc, c, "gaea-pcdarts");
    if (!s) return;
    CHECK(s->n_alpha == n_t + n_b, "the search holds %zu architecture weights, expected %zu (theta | beta)",
          s->n_alpha, n_t + n_b);
    dnas_data_batch b = {0};
    if (s->n_alpha == n_t + n_b && twin_batch(&fx, "pc/x", "pc/y", &b)) {
        for (size_t i = 0; i < n_t; i++)
            CHECK((s->cand[i] != 0) == (i % 9 != 8), "candidate %zu: %d", i, s->cand[i]);
        memcpy(s->alpha, theta, n_t * sizeof(float));
        memcpy(s->alpha + n_t, beta, n_b * sizeof(float));
        dnas_status st = dnas_search_step(s, &b, &b);
        CHECK(st == DNAS_OK, "step: %s", dnas_last_error());
        if (st == DNAS_OK) {
            double vl = s->valid_m.loss / s->valid_m.n, el = fabs(vl - loss[0]) / loss[0];
            printf("  gaea-pcdarts: CE %.7f (torch %.7f), rel err %.3g\n", vl, (double)loss[0], el);
            CHECK(el <= TOL_PC_LOSS, "CE differs: %.3g", el);
            for (int t = 0; t < 2; t++) {
                const char *ct = t ? "reduce" : "normal";
                double et = fx_relerr(s->galpha + t * n_t / 2, gt + t * n_t / 2, n_t / 2);
                double eb = fx_relerr(s->galpha + n_t + t * n_b / 2, gb + t * n_b / 2, n_b / 2);
                printf("  %s: dL/dtheta max rel err %.3g, dL/dbeta %.3g\n", ct, et, eb);
                CHECK(et <= TOL_PC_GTHETA, "%s dL/dtheta differs: %.3g", ct, et);
                CHECK(eb <= TOL_PC_GBETA, "%s dL/dbeta differs: %.3g", ct, eb);
            }
            int wt, wb, n_cl = 0;
            double et = elem_relerr(s->alpha, t1, (int)n_t, &wt), eb = elem_relerr(s->alpha + n_t, b1, (int)n_b, &wb);
            for (size_t i = 0; i < n_t; i++) n_cl += clamped[i] != 0;
            printf("  after the EG step: theta' max elementwise rel err %.3g (entry %d; %d entries clamped at "
                   "the floor), beta' %.3g (entry %d)\n", et, wt, n_cl, eb, wb);
            CHECK(et <= TOL_PC_THETA, "theta' differs: %.3g at %d (ours %.9g, torch %.9g)", et, wt,
                  wt >= 0 ? (double)s->alpha[wt] : 0.0, wt >= 0 ? (double)t1[wt] : 0.0);
            CHECK(eb <= TOL_PC_BETA, "beta' differs: %.3g at %d (ours %.9g, torch %.9g)", eb, wb,
                  wb >= 0 ? (double)s->alpha[n_t + wb] : 0.0, wb >= 0 ? (double)b1[wb] : 0.0);
            CHECK(n_cl >= 3, "the fixture's step clamps only %d entries", n_cl);
            /* Each node's edge weights stay a point of its simplex. */
            const dnas_space *sp = s->space;
            double worst_sum = 0;
            for (int t = 0; t < sp->groups; t++)
                for (int n = 0; n < sp->n_nodes; n++) {
                    double sum = 0;
                    for (int e = 0; e < sp->node_count[n]; e++) sum += s->alpha[n_t + t * sp->rows + sp->node_first[n] + e];
                    worst_sum = fmax(worst_sum, fabs(sum - 1));
                }
            CHECK(worst_sum < 1e-6, "a node's beta' sums to 1 %+.3g", worst_sum);
        }
    }
    free((void *)b.x);
    dnas_search_destroy(s);
}

/* ---- gaea-gdas ------------------------------------------------------------------------------ */

typedef struct {
    float galpha[30], theta[30], G[30], p[30];
    int k[6];
    double loss;
} gdas_result;

/* One gaea-gdas arch step (entropic regulariser r) from the fixture's theta at epoch warm-up +
 * E; the strategy's noise and the row function's p and k at it. 0 after a failed CHECK. */
static int gdas_run(double reg, gdas_result *out) {
    const int *c = twin_need_i(&fx, "gdas/config", 7);
    const float *hyper = twin_need_f(&fx, "gdas/hyper", 8), *theta = twin_need_f(&fx, "gdas/theta", 30);
    if (!c || !hyper || !theta) return 0;
    dnas_search_config sc;
    twin_nb201_config(&sc, "gaea-gdas", c);
    sc.ops[0] = 0; /* all 5 ops, 'none' included (EGDAS: exclude_zero false) */
    sc.seed = (uint64_t)c[6];
    sc.freeze_weights = 1; /* the arch step alone */
    /* gaea-gdas' defaults are the fixture's settings (config.c, ALGORITHMS.md §B4). */
    CHECK(strcmp(sc.arch_update, "eg") == 0 && fabs(sc.arch_lr - hyper[0]) < 1e-9 &&
              fabs(sc.entropy_reg - hyper[1]) < 1e-9 && sc.tau_max == hyper[2] && fabs(sc.tau_min - hyper[3]) < 1e-8 &&
              sc.epochs == (int)hyper[4] && sc.warmup_epochs == (int)hyper[5] && sc.tau_epochs == 0,
          "gaea-gdas defaults differ from the fixture's (update %s, lr %g, entropic reg %g, tau %g -> %g, "
          "epochs %d, warm-up %d)", sc.arch_update, sc.arch_lr, sc.entropy_reg, sc.tau_max, sc.tau_min, sc.epochs,
          sc.warmup_epochs);
    sc.entropy_reg = reg;
    dnas_search *s = twin_search_create(&sc, "gaea-gdas");
    if (!s) return 0;
    int ok = s->n_alpha == 30 && s->space->cols == 5;
    CHECK(ok, "%zu architecture weights, %d ops (expected 30, 5)", s->n_alpha, s->space->cols);
    for (int i = 0; ok && i < 30; i++) ok = s->cand[i];
    CHECK(ok, "every op must be a candidate");
    CHECK(c[2] == 10, "fixture has %d classes; the search builds 10 (cifar10)", c[2]);
    dnas_data_batch b = {0};
    if (ok && twin_batch(&fx, "gdas/x", "gdas/y", &b)) {
        twin_init_by_rule(s->g);
        memcpy(s->alpha, theta, sizeof(float) * 30);
        int E = (int)hyper[6];
        s->epoch = s->cfg.warmup_epochs + E;
        float tau = dnas_gdas_temperature(&s->cfg, E);
        CHECK(tau == hyper[7], "tau at E = %d: %.9g, the twin's %.9g", E, (double)tau, (double)hyper[7]);
        /* What gdas.c draws at this step (0), forward 0, try 0, and the row function there. */
        uint64_t key = dnas_rng_make(s->cfg.seed, 0x6DA5).key;
        for (int r = 0; r < 6; r++) {
            float a[5];
            dnas_gumbel_noise(key, dnas_gumbel_counter(s->total_steps, 0, 6, r, 0), s->cand + r * 5, 5, out->G + r * 5);
            for (int k = 0; k < 5; k++) a[k] = logf(theta[r * 5 + k]);
            out->k[r] = dnas_gumbel_hard_row(a, out->G + r * 5, s->cand + r * 5, 5, tau, out->p + r * 5);
        }
        dnas_status st = dnas_search_step(s, &b, &b);
        CHECK(st == DNAS_OK, "step: %s", dnas_last_error());
        if (st == DNAS_OK) {
            memcpy(out->galpha, s->galpha, sizeof out->galpha);
            memcpy(out->theta, s->alpha, sizeof out->theta);
            out->loss = s->valid_m.loss / s->valid_m.n;
        }
        ok = st == DNAS_OK;
    } else {
        ok = 0;
    }
    free((void *)b.x);
    dnas_search_destroy(s);
    return ok;
}

static void gdas_case(int reg) {
    TWIN_NEED_FX(have_fx, why_fx);
    const float *hyper = twin_need_f(&fx, "gdas/hyper", 8), *G = twin_need_f(&fx, "gdas/G", 30),
                *p = twin_need_f(&fx, "gdas/p", 30), *loss = twin_need_f(&fx, "gdas/loss", 1),
                *grad = twin_need_f(&fx, reg ? "gdas/grad" : "gdas/grad_ce", 30),
                *greg = twin_need_f(&fx, "gdas/grad_reg", 30),
                *t1 = twin_need_f(&fx, reg ? "gdas/theta_after" : "gdas/noreg/theta_after", 30);
    const int *k = twin_need_i(&fx, "gdas/k", 6);
    if (!hyper || !G || !p || !loss || !grad || !greg || !t1 || !k) return;
    const char *tag = reg ? "entropic" : "plain";
    gdas_result r;
    if (!gdas_run(reg ? hyper[1] : 0.0, &r)) return;
    double eG = 0;
    for (int i = 0; i < 30; i++) eG = fmax(eG, fabs((double)r.G[i] - G[i]));
    int same = 1;
    for (int i = 0; i < 6; i++) same &= r.k[i] == k[i];
    double ep = twin_relerr_l2(r.p, p, 30), el = fabs(r.loss - loss[0]) / loss[0];
    double eg = twin_relerr_l2(r.galpha, grad, 30);
    int wi;
    double et = elem_relerr(r.theta, t1, 30, &wi);
    printf("  %s: Gumbel noise max abs diff %.3g, sampled ops %s, p %.3g, CE %.7f (torch %.7f, rel %.3g), "
           "dL/dtheta %.3g, theta' max elementwise rel err %.3g\n", tag, eG, same ? "agree" : "DIFFER", ep, r.loss,
           (double)loss[0], el, eg, et);
    CHECK(eG == 0, "our Philox Gumbel draw differs from the twin's by %.3g", eG);
    CHECK(same, "sampled ops differ from the twin's");
    CHECK(ep <= TOL_GD_P, "p differs: %.3g", ep);
    CHECK(el <= TOL_GD_LOSS, "CE differs: %.3g", el);
    CHECK(eg <= TOL_GD_GRAD, "%s dL/dtheta differs: %.3g", tag, eg);
    CHECK(et <= TOL_GD_THETA, "%s theta' differs: %.3g at %d (ours %.9g, torch %.9g)", tag, et, wi,
          wi >= 0 ? (double)r.theta[wi] : 0.0, wi >= 0 ? (double)t1[wi] : 0.0);
    if (reg) {
        /* The regulariser's part: the difference of the regularised and plain gradients. */
        gdas_result r0;
        if (gdas_run(0.0, &r0)) {
            float d[30];
            for (int i = 0; i < 30; i++) d[i] = r.galpha[i] - r0.galpha[i];
            double er = twin_relerr_l2(d, greg, 30);
            printf("  the regulariser's part of dL/dtheta: rel err %.3g\n", er);
            CHECK(er <= TOL_GD_GREG, "the entropic regulariser's gradient differs: %.3g", er);
        }
    }
}

static void test_gaea_gdas_plain(void) { gdas_case(0); }
static void test_gaea_gdas_entropic(void) { gdas_case(1); }

int main(void) {
    have_fx = twin_load(&fx, "tests/ref/gaea_combo_fixture.bin", why_fx, sizeof why_fx);
    RUN(test_gaea_pcdarts);
    RUN(test_gaea_gdas_plain);
    RUN(test_gaea_gdas_entropic);
    fx_free(&fx);
    TEST_EXIT();
}
