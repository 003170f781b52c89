/* GAEA's exponentiated gradient composed with PC-DARTS' and GDAS' transforms (ALGORITHMS.md
 * §B4, gaea_release's EEDARTS and EGDAS), against hand-computed answers:
 *  - EGDAS' row gradient dL/dtheta = p_k (dh_k - <p, dh>) / (tau theta_k) of the
 *    straight-through sample from log theta, then one EG step, on a 3-op row;
 *  - one gaea-pcdarts arch update on the DARTS supernet: theta rows and each node's edge
 *    weights start uniform, d/dmix is written by hand, and the new theta and beta are the
 *    EG step of each simplex (op rows: lr 0.1 over 8 ops; node 1's 3 edges); the graph's
 *    mixing weights are theta and beta themselves, and the logged weights theta x beta;
 *  - the papers' defaults of both combinations, and the settings that do not compose. */
#include "test.h"
#include "search/search.h"
#include "space/darts.h"

static int near(double a, double b, double tol) { return fabs(a - b) <= tol; }

static void test_egdas_row_hand_example(void) {
    const float theta[3] = {0.5f, 0.25f, 0.25f}, p[3] = {0.6f, 0.3f, 0.1f}, dh[3] = {1, 2, 4};
    const uint8_t cand[3] = {1, 1, 1};
    float g[3];
    /* <p, dh> = 0.6 + 0.6 + 0.4 = 1.6; tau = 2:
     * g0 = 0.6 (1 - 1.6) / (2 * 0.5) = -0.36, g1 = 0.3 (0.4) / 0.5 = 0.24, g2 = 0.1 (2.4) / 0.5 = 0.48 */
    dnas_egdas_row_backward(theta, p, dh, cand, 3, 2.0f, g);
    CHECK(near(g[0], -0.36, 1e-6) && near(g[1], 0.24, 1e-6) && near(g[2], 0.48, 1e-6),
          "dtheta = (%g, %g, %g), want (-0.36, 0.24, 0.48)", g[0], g[1], g[2]);
    /* EG at eta 0.5: theta e^{-0.5 g} = (0.5 e^0.18, 0.25 e^-0.12, 0.25 e^-0.24), normalised. */
    float t[3] = {theta[0], theta[1], theta[2]};
    dnas_eg_step(t, g, cand, 1, 3, 0.5f);
    const double want[3] = {0.5886048964, 0.2180246160, 0.1933704876};
    for (int k = 0; k < 3; k++) CHECK(near(t[k], want[k], 2e-7), "theta'[%d] = %.9f, want %.9f", k, t[k], want[k]);
    /* A non-candidate column is never read and gets 0. */
    const uint8_t c2[3] = {1, 0, 1};
    float g2[3] = {9, 9, 9};
    dnas_egdas_row_backward(theta, p, dh, c2, 3, 2.0f, g2);
    CHECK(g2[1] == 0.0f, "non-candidate gradient %g", g2[1]);
}

static dnas_search *tiny(const char *algo, const char *space) {
    dnas_search_config c;
    if (dnas_search_config_default(&c, algo) != DNAS_OK) return NULL;
    snprintf(c.space, sizeof c.space, "%s", space);
    c.channels = 4;
    c.cells = strcmp(space, "darts") == 0 ? 3 : 1;
    c.batch = 2;
    c.image = 8;
    c.threads = 1;
    dnas_search *s = NULL;
    if (dnas_search_create(&c, &s) != DNAS_OK) return NULL;
    return s;
}

static void test_gaea_pcdarts_step_hand_example(void) {
    dnas_search *s = tiny("gaea-pcdarts", "darts");
    CHECK(s, "create: %s", dnas_last_error());
    if (!s) return;
    const dnas_space *sp = s->space;
    int cols = sp->cols, rows = sp->groups * sp->rows;
    size_t nops = (size_t)rows * cols;
    CHECK(s->n_alpha == nops + (size_t)rows, "%zu architecture values, want %zu + %d edges",
          s->n_alpha, nops, rows);
    /* Uniform start: 1/8 on the 8 DARTS ops (noise is no candidate), 1/(i+2) on node i's edges. */
    for (size_t i = 0; i < nops; i++)
        CHECK(s->alpha[i] == (s->cand[i] ? 0.125f : 0.0f), "theta[%zu] = %g", i, s->alpha[i]);
    const float *beta = s->alpha + nops;
    CHECK(beta[0] == 0.5f && beta[2] == 1.0f / 3 && beta[5] == 0.25f && beta[9] == 0.2f &&
          beta[14 + 13] == 0.2f, "edge weights start %g %g %g %g", beta[0], beta[2], beta[5], beta[9]);

    /* The mixing weights are the parameters themselves. */
    dnas_search_mix(s);
    CHECK(memcmp(s->g->mix, s->alpha, s->n_alpha * sizeof(float)) == 0, "mix != (theta, beta)");

    /* d/dmix by hand: op row 3 (normal edge 3): 0.1 k for op k; node 1's edges (rows 2..4 of
     * the normal group): 0.3, -0.2, 0.5; everything else 0. */
    memset(s->g->gmix, 0, s->n_alpha * sizeof(float));
    for (int k = 0; k < cols; k++) s->g->gmix[3 * cols + k] = 0.1f * (float)k;
    s->g->gmix[nops + 2] = 0.3f;
    s->g->gmix[nops + 3] = -0.2f;
    s->g->gmix[nops + 4] = 0.5f;
    dnas_search_mix_backward(s);
    dnas_search_arch_update(s);
    /* theta_k ~ e^{-0.1 * 0.1 k} / sum_j e^{-0.01 j}, j < 8 (EG lr 0.1, the paper's). */
    const double want_row[8] = {0.129418489, 0.128130753, 0.126855831, 0.125593594,
                                0.124343917, 0.123106674, 0.121881743, 0.120668999};
    for (int k = 0; k < 8; k++)
        CHECK(near(s->alpha[3 * cols + k], want_row[k], 2e-7), "theta[3][%d] = %.9f, want %.9f", k,
              s->alpha[3 * cols + k], want_row[k]);
    CHECK(s->alpha[3 * cols + DNAS_DARTS_NOISE] == 0.0f, "non-candidate moved");
    CHECK(s->alpha[4 * cols + 5] == 0.125f, "a row with zero gradient moved: %g", s->alpha[4 * cols + 5]);
    /* beta of node 1 ~ (1/3) e^{-0.1 g}: (e^-0.03, e^0.02, e^-0.05) normalised. */
    const double want_b[3] = {0.329872991, 0.346785941, 0.323341068};
    for (int e = 0; e < 3; e++)
        CHECK(near(s->alpha[nops + 2 + e], want_b[e], 2e-7), "beta[%d] = %.9f, want %.9f", 2 + e,
              s->alpha[nops + 2 + e], want_b[e]);
    CHECK(s->alpha[nops + 0] == 0.5f && s->alpha[nops + 5] == 0.25f, "other nodes' edges moved");
    double sum = 0;
    for (int e = 0; e < 3; e++) sum += s->alpha[nops + 2 + e];
    CHECK(near(sum, 1.0, 1e-6), "node 1's edge weights sum to %g", sum);

    /* The logged / derived weights: theta x beta (the reference's genotype() input). */
    float w[DNAS_MAX_ARCH];
    dnas_search_weights(s, w);
    CHECK(near(w[3 * cols + 0], want_row[0] * want_b[1], 1e-7), "weights[3][0] = %g", w[3 * cols]);
    float ew[DNAS_MAX_ARCH];
    CHECK(dnas_pcdarts_edge_weights(s, ew) && ew[3] == s->alpha[nops + 3], "edge weights not beta");

    /* The edges' own EG lr (--edge-lr 0.5): beta of node 1 ~ (1/3) e^{-0.5 g}, normalised, while
     * the op rows keep --arch-lr 0.1 (the same theta as above). */
    s->cfg.edge_lr = 0.5;
    dnas_simplex_init(s);
    dnas_search_mix_backward(s);
    dnas_search_arch_update(s);
    const double want_b5[3] = {0.313591412, 0.402659344, 0.283749244};
    for (int e = 0; e < 3; e++)
        CHECK(near(s->alpha[nops + 2 + e], want_b5[e], 2e-7), "edge lr 0.5: beta[%d] = %.9f, want %.9f",
              2 + e, s->alpha[nops + 2 + e], want_b5[e]);
    for (int k = 0; k < 8; k++)
        CHECK(near(s->alpha[3 * cols + k], want_row[k], 2e-7), "edge lr 0.5: theta[3][%d] = %.9f", k,
              s->alpha[3 * cols + k]);
    dnas_search_destroy(s);
}

static void test_gaea_gdas_theta_is_the_logged_weight(void) {
    dnas_search *s = tiny("gaea-gdas", "nb201");
    CHECK(s, "create: %s", dnas_last_error());
    if (!s) return;
    /* All 5 NB201 ops (exclude_zero false): theta = 1/5; the logged weights are theta. */
    float w[DNAS_MAX_ARCH];
    dnas_search_weights(s, w);
    for (size_t i = 0; i < s->n_alpha; i++) CHECK(w[i] == 0.2f, "weight %zu = %g", i, w[i]);
    /* One sample per row, one-hot. */
    dnas_search_mix(s);
    for (int r = 0; r < 6; r++) {
        float sum = 0;
        for (int k = 0; k < 5; k++) sum += s->g->mix[r * 5 + k];
        CHECK(sum == 1.0f, "row %d mix sums to %g", r, sum);
    }
    CHECK(s->strat->arch_first == 1, "gaea-gdas steps theta before the weights (gaea_release)");
    dnas_search_destroy(s);
}

static void test_defaults_and_refusals(void) {
    dnas_search_config c;
    CHECK(dnas_search_config_default(&c, "gaea-pcdarts") == DNAS_OK, "%s", dnas_last_error());
    CHECK(strcmp(c.arch_update, "eg") == 0 && c.arch_lr == 0.1 && c.warmup_epochs == 0 &&
          c.arch_weight_decay == 0 && c.pc_k == 4 && c.edge_norm == 1 && c.batch == 256 &&
          c.lr == 0.1 && c.lr_min == 0 && c.epochs == 50 && c.weight_decay == 3e-4,
          "gaea-pcdarts defaults (search_pcdarts.yaml + method_eedarts_space_pcdarts.yaml)");
    CHECK(dnas_search_config_default(&c, "gaea-gdas") == DNAS_OK, "%s", dnas_last_error());
    CHECK(strcmp(c.arch_update, "eg") == 0 && c.arch_lr == 0.01 && c.entropy_reg == 0.01 &&
          c.warmup_epochs == 50 && c.epochs == 250 && c.tau_max == 10 && c.tau_min == 0.1 &&
          c.channels == 24 && c.weight_decay == 3e-4 && c.nesterov == 0 && c.ops[0] == 0,
          "gaea-gdas defaults (method_egdas_space_nasbench201.yaml + search_nasbench201.yaml)");
    CHECK(dnas_search_config_default(&c, "pcdarts") == DNAS_OK && strcmp(c.arch_update, "adam") == 0,
          "pcdarts keeps Adam");
    /* pcdarts with eg is the composition; darts1 with eg or gaea with adam are not. */
    snprintf(c.arch_update, sizeof c.arch_update, "eg");
    CHECK(dnas_search_config_check(&c) == DNAS_OK, "pcdarts --arch-update eg: %s", dnas_last_error());
    dnas_search_config_default(&c, "darts1");
    snprintf(c.arch_update, sizeof c.arch_update, "eg");
    CHECK(dnas_search_config_check(&c) != DNAS_OK && strstr(dnas_last_error(), "--arch-update"),
          "darts1 --arch-update eg accepted");
    dnas_search_config_default(&c, "gaea");
    snprintf(c.arch_update, sizeof c.arch_update, "adam");
    CHECK(dnas_search_config_check(&c) != DNAS_OK, "gaea --arch-update adam accepted");
    dnas_search_config_default(&c, "gdas");
    CHECK(dnas_search_config_set(&c, "arch_update", "sgd") == DNAS_OK &&
              dnas_search_config_check(&c) != DNAS_OK && strstr(dnas_last_error(), "adam, eg"),
          "unknown --arch-update accepted");
    /* --edge-lr only where EG updates edge weights. */
    dnas_search_config_default(&c, "gaea-pcdarts");
    c.edge_lr = 0.05;
    CHECK(dnas_search_config_check(&c) == DNAS_OK, "gaea-pcdarts --edge-lr 0.05: %s", dnas_last_error());
    c.edge_lr = -1;
    CHECK(dnas_search_config_check(&c) != DNAS_OK && strstr(dnas_last_error(), "--edge-lr"),
          "--edge-lr -1 accepted");
    dnas_search_config_default(&c, "gaea");
    c.edge_lr = 0.05;
    CHECK(dnas_search_config_check(&c) != DNAS_OK && strstr(dnas_last_error(), "--edge-lr"),
          "gaea (no edge weights) --edge-lr accepted");
    dnas_search_config_default(&c, "pcdarts");
    c.edge_lr = 0.05;
    CHECK(dnas_search_config_check(&c) != DNAS_OK && strstr(dnas_last_error(), "--edge-lr"),
          "pcdarts with Adam --edge-lr accepted");
}

int main(void) {
    RUN(test_egdas_row_hand_example);
    RUN(test_gaea_pcdarts_step_hand_example);
    RUN(test_gaea_gdas_theta_is_the_logged_weight);
    RUN(test_defaults_and_refusals);
    TEST_EXIT();
}
