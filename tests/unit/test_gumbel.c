/* SNAS and GDAS pieces (ALGORITHMS.md §B5, §B6): Gumbel-max sample frequencies against
 * softmax(alpha) by a chi-square test, the straight-through and relaxed gradients (a hand
 * example and finite differences), the temperature schedules at known epochs, the resource
 * penalty and the op cost table on hand examples, and the graph's prune pass on a small graph
 * (which nodes go off; loss and gradients equal to the dense graph with the same one-hot mix;
 * everything back on for dense weights). */
#include "test.h"
#include "ops/ops.h"
#include "core/rng.h"
#include "search/search.h"
#include "space/space.h"
#include <math.h>

/* P(X > x) for chi-square with 4 degrees of freedom: exp(-x/2) (1 + x/2). */
static double chi2_4_sf(double x) { return exp(-x / 2) * (1 + x / 2); }

static void test_hard_sample_frequencies(void) {
    const float a[6] = {0.5f, -0.3f, 1.2f, 0.0f, 9.0f, 0.8f};
    const uint8_t cand[6] = {1, 1, 1, 1, 0, 1}; /* column 4 is not a candidate: never drawn */
    const int N = 100000;
    long count[6] = {0};
    float G[6], p[6];
    uint64_t key = dnas_rng_make(7, 0x6DA5).key;
    for (int i = 0; i < N; i++) {
        dnas_gumbel_noise(key, dnas_gumbel_counter(i, 0, 1, 0, 0), cand, 6, G);
        /* The argmax does not depend on tau: any tau draws softmax(alpha). */
        int k = dnas_gumbel_hard_row(a, G, cand, 6, i % 2 ? 10.0f : 0.1f, p);
        CHECK(k >= 0 && k < 6, "draw %d: k = %d", i, k);
        if (k < 0) return;
        count[k]++;
    }
    double z = 0, chi2 = 0;
    for (int k = 0; k < 6; k++) z += cand[k] ? exp(a[k]) : 0;
    for (int k = 0; k < 6; k++) {
        if (!cand[k]) continue;
        double e = N * exp(a[k]) / z;
        chi2 += (count[k] - e) * (count[k] - e) / e;
        printf("  column %d: %ld draws, expected %.1f\n", k, count[k], e);
    }
    CHECK(count[4] == 0, "non-candidate drawn %ld times", count[4]);
    /* 5 candidates -> 4 degrees of freedom; threshold for a false-alarm rate of 1e-6 by
     * bisection of the closed-form tail (the draws are fixed by the key, so the outcome is
     * reproducible: this guards against a biased sampler, not against bad luck). */
    double lo = 0, hi = 100;
    for (int it = 0; it < 100; it++) {
        double mid = (lo + hi) / 2;
        if (chi2_4_sf(mid) > 1e-6) lo = mid;
        else hi = mid;
    }
    printf("  chi2 = %.2f (4 dof), threshold %.2f at false-alarm rate 1e-6\n", chi2, hi);
    CHECK(chi2 < hi, "chi2 %.2f >= %.2f: sample frequencies differ from softmax(alpha)", chi2, hi);
}

static void test_straight_through_hand_example(void) {
    const float a[3] = {0, 0, 0}, G[3] = {0.5f, 0.0f, -0.5f}, dh[3] = {1, 2, 3};
    const uint8_t cand[3] = {1, 1, 1};
    float p[3], da[3];
    int k = dnas_gumbel_hard_row(a, G, cand, 3, 0.5f, p);
    /* p = softmax(2 G) = (e, 1, 1/e) / (e + 1 + 1/e); dL/da = p (dh - p.dh) / tau. */
    const double pe[3] = {0.6652409557748219, 0.24472847105479767, 0.09003057317038046};
    const double de[3] = {-0.5651749021588846, 0.2815407149392603, 0.28363418721962436};
    CHECK(k == 0, "argmax %d", k);
    dnas_gumbel_hard_row_backward(a, p, dh, cand, 3, 0.5f, da);
    for (int i = 0; i < 3; i++) {
        CHECK(fabs(p[i] - pe[i]) < 1e-6, "p[%d] = %.8f, expected %.8f", i, p[i], pe[i]);
        CHECK(fabs(da[i] - de[i]) < 1e-6, "da[%d] = %.8f, expected %.8f", i, da[i], de[i]);
    }
}

/* sum_k w_k f_k(a) for the hard row's p (straight through) or the soft row's z. */
static double row_obj(const float *a, const float *G, const uint8_t *cand, int cols, float tau,
                      const float *w, int hard) {
    float y[8];
    if (hard) dnas_gumbel_hard_row(a, G, cand, cols, tau, y);
    else dnas_gumbel_soft_row(a, G, cand, cols, tau, y);
    double s = 0;
    for (int k = 0; k < cols; k++) s += (double)w[k] * y[k];
    return s;
}

static void test_row_gradients_finite_differences(void) {
    const float G[5] = {0.3f, -1.1f, 0.7f, 0.2f, -0.4f}, w[5] = {0.5f, -1.0f, 2.0f, 0.3f, 1.5f};
    const uint8_t cand[5] = {1, 1, 0, 1, 1};
    for (int hard = 0; hard < 2; hard++) {
        float a[5] = {0.2f, -0.5f, 0.9f, 0.4f, 0.1f}, y[5], da[5];
        float tau = hard ? 2.0f : 0.7f;
        if (hard) {
            dnas_gumbel_hard_row(a, G, cand, 5, tau, y);
            dnas_gumbel_hard_row_backward(a, y, w, cand, 5, tau, da);
        } else {
            dnas_gumbel_soft_row(a, G, cand, 5, tau, y);
            dnas_gumbel_soft_row_backward(y, w, cand, 5, tau, da);
        }
        double worst = 0;
        for (int k = 0; k < 5; k++) {
            const float h = 1e-2f;
            float a0 = a[k];
            a[k] = a0 + h;
            double fp = row_obj(a, G, cand, 5, tau, w, hard);
            a[k] = a0 - h;
            double fm = row_obj(a, G, cand, 5, tau, w, hard);
            a[k] = a0;
            double fd = (fp - fm) / (2 * h), err = fabs(fd - da[k]);
            if (err > worst) worst = err;
            CHECK(err < 2e-3, "%s row: da[%d] = %.6f, finite difference %.6f", hard ? "hard" : "soft",
                  k, da[k], fd);
        }
        CHECK(da[2] == 0.0f && y[2] == 0.0f, "non-candidate column has weight or gradient");
        printf("  %s row: worst |da - finite difference| = %.2e\n", hard ? "hard" : "soft", worst);
    }
}

static void test_temperature_schedules(void) {
    dnas_search_config c;
    CHECK(dnas_search_config_default(&c, "snas") == DNAS_OK, "snas defaults: %s", dnas_last_error());
    CHECK(c.tau_max == 1.0 && c.tau_min == 0.03 && c.tau_epochs == 150, "snas tau defaults");
    const int se[4] = {0, 75, 150, 200};
    const double sv[4] = {1.0, 0.515, 0.03, 0.03};
    for (int i = 0; i < 4; i++) {
        float t = dnas_snas_temperature(&c, se[i]);
        CHECK(fabs(t - sv[i]) < 1e-6, "snas epoch %d: tau %.6f, expected %.6f", se[i], t, sv[i]);
    }
    CHECK(dnas_search_config_default(&c, "gdas") == DNAS_OK, "gdas defaults: %s", dnas_last_error());
    CHECK(c.epochs == 250 && c.tau_max == 10.0 && c.tau_min == 0.1, "gdas defaults");
    const int ge[3] = {0, 125, 249};
    const double gv[3] = {10.0, 10.0 - 9.9 * 125 / 249.0, 0.1};
    for (int i = 0; i < 3; i++) {
        float t = dnas_gdas_temperature(&c, ge[i]);
        CHECK(fabs(t - gv[i]) < 1e-5, "gdas epoch %d: tau %.6f, expected %.6f", ge[i], t, gv[i]);
    }
    c.epochs = 1;
    CHECK(dnas_gdas_temperature(&c, 0) == 10.0f, "gdas one epoch: tau_max");
}

static void test_resource_penalty_hand_example(void) {
    const float z[6] = {0.2f, 0.3f, 0.5f, 0.1f, 0.1f, 0.8f}, cost[6] = {0, 1, 2, 0, 3, 4};
    const uint8_t cand[6] = {1, 1, 1, 1, 1, 1};
    /* P = (0.3 + 1.0) + 0.5 (0.3 + 3.2) = 3.05 */
    float dz[6] = {0};
    double v = dnas_resource_penalty(z, cost, cand, 2, 1, 3, 0.5, 0, 2.0, dz);
    const float e_lin[6] = {0, 2, 4, 0, 3, 4};
    CHECK(fabs(v - 6.1) < 1e-6, "linear penalty %.8f, expected 6.1", v);
    for (int i = 0; i < 6; i++) CHECK(fabs(dz[i] - e_lin[i]) < 1e-6, "linear dz[%d] = %g", i, dz[i]);
    float dl[6] = {0};
    v = dnas_resource_penalty(z, cost, cand, 2, 1, 3, 0.5, 1, 2.0, dl);
    CHECK(fabs(v - 2.0 * log(3.05)) < 1e-6, "log penalty %.8f, expected %.8f", v, 2 * log(3.05));
    for (int i = 0; i < 6; i++)
        CHECK(fabs(dl[i] - e_lin[i] / 3.05) < 1e-6, "log dz[%d] = %g", i, dl[i]);
}

static void test_op_costs(void) {
    dnas_supernet_config c;
    dnas_supernet_config_default(&c);
    c.channels = 16, c.cells = 5, c.image = 32;
    float cost[DNAS_MAX_ARCH];
    const dnas_space *sp = dnas_space_find("nb201");
    CHECK(dnas_space_costs(sp, &c, DNAS_COST_FLOPS, cost) == DNAS_OK, "%s", dnas_last_error());
    /* conv 3x3 on C 2^s channels at 32 / 2^s: 2 * 9 * 256 * 1024 FLOPs in every stage, 15 cells. */
    CHECK(fabs(cost[3] - 70.77888) < 1e-4, "nor_conv_3x3 %.5f MFLOPs, expected 70.77888", cost[3]);
    CHECK(fabs(cost[2] - 7.86432) < 1e-5, "nor_conv_1x1 %.5f MFLOPs", cost[2]);
    CHECK(cost[0] == 0 && cost[1] == 0, "none/skip cost %g %g", cost[0], cost[1]);
    CHECK(dnas_space_costs(sp, &c, DNAS_COST_PARAMS, cost) == DNAS_OK, "%s", dnas_last_error());
    CHECK(fabs(cost[5 + 3] - 0.24192) < 1e-6, "nor_conv_3x3 %.6f M params, expected 0.24192", cost[8]);
    sp = dnas_space_find("darts");
    c.cells = 5;
    CHECK(dnas_space_costs(sp, &c, DNAS_COST_FLOPS, cost) == DNAS_OK, "%s", dnas_last_error());
    /* Reduce group, edge 0 (s0, stride 2): skip is a FactorizedReduce, normal skip is free. */
    int cols = sp->cols, red = sp->rows * cols;
    CHECK(cost[3] == 0 && cost[red + 3] > 0, "darts skip costs %g (normal) %g (reduce)", cost[3],
          cost[red + 3]);
    CHECK(cost[5] > cost[4] && cost[4] > cost[6], "darts sep5 > sep3 > dil3: %g %g %g", cost[5],
          cost[4], cost[6]);
}

/* ---- prune pass --------------------------------------------------------------------------- */
typedef struct {
    dnas_backend *be;
    dnas_graph g;
    int mix0;
} net;

static int build(net *t) {
    dnas_graph *g = &t->g;
    dnas_graph_init(g, t->be);
    int x = dnas_graph_input(g, dnas_shape4(4, 3, 8, 8));
    t->mix0 = dnas_graph_mix(g, 4);
    x = dnas_op_conv2d(g, "stem", x, 8, 3, 1, 1, 1, 1, 1);
    x = dnas_op_batchnorm(g, "stem.bn", x, 1, 1);
    int r = dnas_op_relu(g, "relu", x);
    int c1 = dnas_op_batchnorm(g, "c1.bn", dnas_op_conv2d(g, "c1", r, 8, 1, 1, 0, 1, 1, 0), 0, 0);
    int c3 = dnas_op_batchnorm(g, "c3.bn", dnas_op_conv2d(g, "c3", r, 8, 3, 1, 1, 1, 1, 0), 0, 0);
    int p = dnas_op_avgpool(g, "pool", x, 3, 1, 1, 0);
    int id = dnas_op_identity(g, "skip", x);
    int in[4] = {id, c1, c3, p}, mix[4] = {t->mix0, t->mix0 + 1, t->mix0 + 2, t->mix0 + 3};
    int node = dnas_op_wsum(g, "node", in, mix, 4);
    int y = dnas_op_conv2d(g, "down", node, 8, 3, 2, 1, 1, 1, 0);
    y = dnas_op_gap(g, "gap", dnas_op_relu(g, "relu2", y));
    dnas_op_xent(g, "loss", dnas_op_linear(g, "fc", y, 5));
    if (dnas_graph_plan(g) != DNAS_OK) return 0;
    dnas_graph_init_weights(g, 3);
    dnas_rng rng = dnas_rng_make(5, 1);
    dnas_value *v = &g->vals[g->input];
    for (size_t i = 0; i < dnas_shape_numel(v->shape); i++) v->data[i] = dnas_rng_normal(&rng);
    for (int i = 0; i < 4; i++) g->labels[i] = (int)dnas_rng_below(&rng, 5);
    return 1;
}

static int node_id(const dnas_graph *g, const char *name) {
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i].name, name) == 0) return i;
    return -1;
}

/* Forward + full backward; loss, a copy of gw and gmix. */
static float run(dnas_graph *g, float *gw, float *gm) {
    unsigned w = DNAS_WANT_WEIGHTS | DNAS_WANT_ARCH;
    if (dnas_graph_forward(g) != DNAS_OK) return NAN;
    dnas_graph_zero_grads(g, w);
    if (dnas_graph_backward(g, w) != DNAS_OK) return NAN;
    memcpy(gw, g->gw, g->n_weights * sizeof(float));
    memcpy(gm, g->gmix, (size_t)g->n_mix * sizeof(float));
    return g->loss_value;
}

static void test_prune_pass(void) {
    net t = {0};
    CHECK(dnas_backend_cpu_create(1, &t.be) == DNAS_OK, "backend");
    CHECK(build(&t), "build: %s", dnas_last_error());
    dnas_graph *g = &t.g;
    uint8_t *live = malloc((size_t)g->n_vals);
    float *gw0 = malloc(g->n_weights * sizeof(float)), *gw1 = malloc(g->n_weights * sizeof(float));
    float gm0[4], gm1[4], gout[4];
    /* Which column is sampled -> which nodes must be off. */
    const char *off[4][6] = {{"c1", "c1.bn", "c3", "c3.bn", "pool", "relu"},
                             {"c3", "c3.bn", "pool", "skip", NULL, NULL},
                             {"c1", "c1.bn", "pool", "skip", NULL, NULL},
                             {"c1", "c1.bn", "c3", "c3.bn", "skip", "relu"}};
    const int n_off[4] = {6, 4, 4, 6};
    for (int s = 0; s < 4; s++) {
        for (int k = 0; k < 4; k++) g->mix[t.mix0 + k] = k == s ? 1.0f : 0.0f;
        dnas_graph_unprune(g);
        float l0 = run(g, gw0, gm0);
        int n = dnas_graph_prune(g, live);
        CHECK(n == n_off[s], "column %d sampled: %d nodes off, expected %d", s, n, n_off[s]);
        for (int j = 0; j < n_off[s]; j++) {
            int id = node_id(g, off[s][j]);
            CHECK(id >= 0 && !g->nodes[id].active, "column %d sampled: %s still on", s, off[s][j]);
        }
        CHECK(g->nodes[node_id(g, "stem")].active && g->nodes[node_id(g, "node")].active,
              "column %d sampled: stem or the sum went off", s);
        float *gout_buf = calloc((size_t)g->n_mix, sizeof(float));
        g->gmix_out = gout_buf;
        float l1 = run(g, gw1, gm1);
        memcpy(gout, gout_buf, sizeof gout);
        g->gmix_out = NULL;
        free(gout_buf);
        CHECK(fabsf(l1 - l0) <= 1e-6f * fabsf(l0), "column %d: pruned loss %.8f, dense %.8f", s, l1, l0);
        double worst = 0;
        for (size_t i = 0; i < g->n_weights; i++) {
            double d = fabs(gw1[i] - gw0[i]) / (1e-6 + fabs(gw0[i]));
            if (d > worst) worst = d;
        }
        CHECK(worst < 1e-5, "column %d: weight gradients differ by %.2e (relative)", s, worst);
        CHECK(fabsf(gm1[s] - gm0[s]) <= 1e-5f * (1e-6f + fabsf(gm0[s])),
              "column %d: d/dm of the sampled op %.8f, dense %.8f", s, gm1[s], gm0[s]);
        /* Every column read by the sum gets the same output-gradient sum. */
        CHECK(gout[0] == gout[1] && gout[1] == gout[2] && gout[2] == gout[3] && gout[0] != 0,
              "column %d: gmix_out %g %g %g %g", s, gout[0], gout[1], gout[2], gout[3]);
        printf("  column %d: %d nodes off, loss %.6f = dense %.6f, worst weight-grad rel diff %.1e\n",
               s, n, l1, l0, worst);
    }
    for (int k = 0; k < 4; k++) g->mix[t.mix0 + k] = 0.25f;
    CHECK(dnas_graph_prune(g, live) == 0, "dense weights: nodes still off");
    for (int i = 0; i < g->n_nodes; i++) CHECK(g->nodes[i].active, "%s off", g->nodes[i].name);
    free(live);
    free(gw0);
    free(gw1);
    dnas_graph_free(g);
    dnas_backend_destroy(t.be);
}

int main(void) {
    RUN(test_hard_sample_frequencies);
    RUN(test_straight_through_hand_example);
    RUN(test_row_gradients_finite_differences);
    RUN(test_temperature_schedules);
    RUN(test_resource_penalty_hand_example);
    RUN(test_op_costs);
    RUN(test_prune_pass);
    TEST_EXIT();
}
