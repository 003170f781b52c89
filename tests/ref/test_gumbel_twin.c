/* SNAS and GDAS against the PyTorch twin (tests/ref/gumbel_twin.py) on the small NB201 supernet
 * of the other fixtures, from the same start weights, at the fixture's FIXED Gumbel noise G
 * (fed to gumbel.c's row functions in place of the Philox draw):
 *  - SNAS: z = softmax((alpha + G) / tau) (dnas_gumbel_soft_row), the CE at that mix, and
 *    d CE / d alpha through the relaxed sample (dnas_gumbel_soft_row_backward);
 *  - GDAS: p = softmax((log_softmax(alpha) + G) / tau), k = argmax p (dnas_gumbel_hard_row),
 *    one-hot mix + the graph's prune pass (only op k runs), and the straight-through gradient
 *    with AutoDL's zero-valued scalars (dL/dh_j = the node's output-gradient sum, gmix_out),
 *    as gdas.c's mix backward forms it, against torch's autograd of that forward.
 * A glue check then runs each strategy's own mix / mix backward (its Philox draw) and checks
 * that the same row functions at that draw give the same mix and alpha gradient, so the
 * strategies' wiring is what the twin comparison covered.
 * Dropping AutoDL's scalars (forward_gdas_v1) moves the twin's GDAS gradient by 85%, so the
 * comparison does see them. Tolerances: normwise relative, 4-10x the error measured with torch
 * 2.15.0 (default build and SAN=1). */
#include "test.h"
#include "twin.h"
#include "search/search.h"

static fixture fx;
static int have_fx;
static char why_fx[400];

static dnas_search *make_search(const char *algo) {
    const int *c = twin_need_i(&fx, "config", 7);
    if (!c) return NULL;
    dnas_search_config sc;
    twin_nb201_config(&sc, algo, c);
    sc.resource_lambda = 0; /* SNAS: CE only, as the twin */
    sc.ops[0] = 0;          /* all 5 ops, 'none' included */
    dnas_search *s = twin_nb201_search(&fx, &sc);
    if (!s) return NULL;
    int ok = s->n_alpha == 30 && s->space->cols == 5;
    CHECK(ok, "%s: %zu alphas, %d ops (expected 30, 5)", algo, s->n_alpha, s->space->cols);
    for (int i = 0; ok && i < 30; i++) ok = s->cand[i];
    CHECK(ok, "%s: every op must be a candidate", algo);
    if (!ok) {
        dnas_search_destroy(s);
        return NULL;
    }
    return s;
}

/* Forward and arch backward at the mix already in the graph. */
static int fwd_bwd_arch(dnas_search *s) {
    dnas_status st = dnas_graph_forward(s->g);
    CHECK(st == DNAS_OK, "forward: %s", dnas_last_error());
    if (st != DNAS_OK) return 0;
    dnas_graph_zero_grads(s->g, DNAS_WANT_ARCH);
    st = dnas_graph_backward(s->g, DNAS_WANT_ARCH);
    CHECK(st == DNAS_OK, "backward: %s", dnas_last_error());
    return st == DNAS_OK;
}

/* SNAS at noise G: the mix z (into the graph), CE, and d CE / d alpha (into ga). */
static int snas_ours(dnas_search *s, const float *G, float tau, float *ga) {
    int cols = s->space->cols, rows = s->space->groups * s->space->rows;
    for (int r = 0; r < rows; r++)
        dnas_gumbel_soft_row(s->alpha + r * cols, G + r * cols, s->cand + r * cols, cols, tau,
                             s->g->mix + r * cols);
    if (!fwd_bwd_arch(s)) return 0;
    for (int r = 0; r < rows; r++)
        dnas_gumbel_soft_row_backward(s->g->mix + r * cols, s->g->gmix + r * cols,
                                      s->cand + r * cols, cols, tau, ga + r * cols);
    return 1;
}

/* GDAS at noise G: p, k, the one-hot mix + prune, CE, and the straight-through d CE / d alpha
 * with the node output-gradient sums for the ops that did not run (gdas.c's mix backward). */
static int gdas_ours(dnas_search *s, const float *G, float tau, float *p, int *k, float *ga) {
    dnas_graph *g = s->g;
    int cols = s->space->cols, rows = s->space->groups * s->space->rows, ok = 0;
    uint8_t *live = malloc((size_t)g->n_vals);
    int *readers = calloc((size_t)g->n_mix, sizeof(int));
    if (!live || !readers || !g->gmix_out) {
        CHECK(0, "GDAS scratch / gmix_out missing");
        goto out;
    }
    dnas_graph_mix_readers(g, readers);
    for (int r = 0; r < rows; r++) {
        k[r] = dnas_gumbel_hard_row(s->alpha + r * cols, G + r * cols, s->cand + r * cols, cols,
                                    tau, p + r * cols);
        CHECK(k[r] >= 0, "row %d: p not finite", r);
        if (k[r] < 0) goto out;
        memset(g->mix + r * cols, 0, (size_t)cols * sizeof(float));
        g->mix[r * cols + k[r]] = 1.0f;
    }
    dnas_graph_prune(g, live);
    if (!fwd_bwd_arch(s)) goto out;
    for (int r = 0; r < rows; r++) {
        int base = r * cols;
        float S = 0.0f, dh[DNAS_GUMBEL_MAX_COLS];
        for (int j = 0; j < cols; j++)
            if (readers[base + j] > 0) {
                S = g->gmix_out[base + j];
                break;
            }
        for (int j = 0; j < cols; j++) dh[j] = j == k[r] ? g->gmix[base + j] : S;
        dnas_gumbel_hard_row_backward(s->alpha + base, p + base, dh, s->cand + base, cols, tau,
                                      ga + base);
    }
    ok = 1;
out:
    free(live);
    free(readers);
    return ok;
}

/* The strategy's own mix and mix backward at the batch (dnas_search_fwd_bwd), with the
 * Philox noise G it draws there (key stream `stream`, this step, forward 0, try 0). */
static void strategy_step(dnas_search *s, const dnas_data_batch *va, uint64_t stream, float *G, float *mix,
                          float *ga) {
    uint64_t key = dnas_rng_make(s->cfg.seed, stream).key;
    for (int r = 0; r < 6; r++)
        dnas_gumbel_noise(key, dnas_gumbel_counter(s->total_steps, 0, 6, r, 0), s->cand + r * 5, 5, G + r * 5);
    CHECK(dnas_search_fwd_bwd(s, va, DNAS_WANT_ARCH, NULL) == DNAS_OK, "%s", dnas_last_error());
    dnas_search_mix_backward(s);
    memcpy(mix, s->g->mix, 30 * sizeof(float));
    memcpy(ga, s->galpha, 30 * sizeof(float));
}

static void test_snas_twin(void) {
    TWIN_NEED_FX(have_fx, why_fx);
    const float *tau = twin_need_f(&fx, "snas/tau", 1), *alpha = twin_need_f(&fx, "snas/alpha", 30),
                *G = twin_need_f(&fx, "snas/G", 30), *z = twin_need_f(&fx, "snas/z", 30),
                *loss = twin_need_f(&fx, "snas/loss", 1), *gref = twin_need_f(&fx, "snas/galpha", 30);
    if (!tau || !alpha || !G || !z || !loss || !gref) return;
    dnas_search *s = make_search("snas");
    if (!s) return;
    dnas_data_batch va = {0};
    if (twin_batch(&fx, "xv", "yv", &va)) {
        CHECK(dnas_search_set_batch(s, &va) == DNAS_OK, "%s", dnas_last_error());
        memcpy(s->alpha, alpha, 30 * sizeof(float));
        float ga[30];
        if (snas_ours(s, G, tau[0], ga)) {
            double ez = twin_relerr_l2(s->g->mix, z, 30), eg = twin_relerr_l2(ga, gref, 30);
            double el = fabs(s->g->loss_value - loss[0]) / fabs(loss[0]);
            printf("  SNAS (tau %.2f): mix %.3g, loss %.3g, alpha gradient %.3g (relative)\n",
                   tau[0], ez, el, eg);
            CHECK(ez < 5e-8, "mix off by %g", ez);        /* measured 5.8e-9 */
            CHECK(el < 5e-7, "loss off by %g", el);       /* measured 0 (a few float32 ulps allowed) */
            CHECK(eg < 4e-6, "alpha gradient off by %g", eg); /* measured 6.6e-7 (SAN 6.5e-7) */
        }
        /* Glue: the strategy's own mix (Philox draw at step 0, forward 0; key stream 0x5A46 of
         * snas.c) and mix backward against the row functions at that draw. */
        float G2[30], ga2[30], mix2[30];
        float tau2 = dnas_snas_temperature(&s->cfg, s->epoch);
        strategy_step(s, &va, 0x5A46, G2, mix2, ga2);
        if (snas_ours(s, G2, tau2, ga)) {
            double em = twin_relerr_l2(mix2, s->g->mix, 30), eg = twin_relerr_l2(ga2, ga, 30);
            printf("  SNAS glue: strategy vs row functions at its draw: mix %.3g, gradient %.3g\n",
                   em, eg);
            CHECK(em == 0 && eg < 1e-6, "snas.c's mix/backward differ from the row functions");
        }
        free((void *)va.x);
    }
    dnas_search_destroy(s);
}

static void test_gdas_twin(void) {
    TWIN_NEED_FX(have_fx, why_fx);
    const float *tau = twin_need_f(&fx, "gdas/tau", 1), *alpha = twin_need_f(&fx, "gdas/alpha", 30),
                *G = twin_need_f(&fx, "gdas/G", 30), *pref = twin_need_f(&fx, "gdas/p", 30),
                *loss = twin_need_f(&fx, "gdas/loss", 1), *gref = twin_need_f(&fx, "gdas/galpha", 30);
    const int *kref = twin_need_i(&fx, "gdas/k", 6);
    if (!tau || !alpha || !G || !pref || !loss || !gref || !kref) return;
    dnas_search *s = make_search("gdas");
    if (!s) return;
    dnas_data_batch va = {0};
    if (twin_batch(&fx, "xv", "yv", &va)) {
        CHECK(dnas_search_set_batch(s, &va) == DNAS_OK, "%s", dnas_last_error());
        memcpy(s->alpha, alpha, 30 * sizeof(float));
        float p[30], ga[30];
        int k[6];
        if (gdas_ours(s, G, tau[0], p, k, ga)) {
            int same = 1;
            for (int r = 0; r < 6; r++) same &= k[r] == kref[r];
            CHECK(same, "sampled ops differ from the twin's");
            double ep = twin_relerr_l2(p, pref, 30), eg = twin_relerr_l2(ga, gref, 30);
            double el = fabs(s->g->loss_value - loss[0]) / fabs(loss[0]);
            printf("  GDAS (tau %.2f): sampled ops %s, p %.3g, loss %.3g, alpha gradient %.3g "
                   "(relative)\n", tau[0], same ? "agree" : "DIFFER", ep, el, eg);
            CHECK(ep < 5e-7, "p off by %g", ep);          /* measured 7.3e-8 */
            CHECK(el < 6e-7, "loss off by %g", el);       /* measured 1.0e-7 */
            CHECK(eg < 1e-5, "alpha gradient off by %g", eg); /* measured 1.6e-6 (SAN 1.7e-6) */
        }
        /* Glue: gdas.c's own mix (Philox, key stream 0x6DA5, try 0) and mix backward against
         * the row functions + prune at that draw. */
        float G2[30], ga2[30], mix2[30];
        float tau2 = dnas_gdas_temperature(&s->cfg, s->epoch);
        strategy_step(s, &va, 0x6DA5, G2, mix2, ga2);
        if (gdas_ours(s, G2, tau2, p, k, ga)) {
            double em = twin_relerr_l2(mix2, s->g->mix, 30), eg = twin_relerr_l2(ga2, ga, 30);
            printf("  GDAS glue: strategy vs row functions at its draw: mix %.3g, gradient %.3g\n",
                   em, eg);
            CHECK(em == 0 && eg < 1e-6, "gdas.c's mix/backward differ from the row functions");
        }
        free((void *)va.x);
    }
    dnas_search_destroy(s);
}

int main(void) {
    have_fx = twin_load(&fx, "tests/ref/gumbel_fixture.bin", why_fx, sizeof why_fx);
    RUN(test_snas_twin);
    RUN(test_gdas_twin);
    TEST_EXIT();
}
