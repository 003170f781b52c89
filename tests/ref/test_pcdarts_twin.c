/* The PC-DARTS search supernet against our PyTorch twin (tests/ref/pcdarts_twin.py, fixture
 * written by tests/ref/make_pcdarts_fixture.py): DARTS space, C = 8 with K = 4 partial
 * channels (2 channels per op in the first stage), channel shuffle, edge normalisation, 5
 * layers (both reductions: 2x2 max-pooled bypass, FactorizedReduce skip on C/K channels),
 * batch 4, 16x16, train mode. The same logits and loss, the same gradient of every weight
 * tensor, of both alpha groups (normal, reduce) and of both beta groups (per edge, softmax
 * over each node's incoming edges), as pcdarts.c's mixing defines them. Max relative error
 * printed per comparison.
 *
 * The fixture holds no weights: both sides set them by make_darts_fixture.py's rule (integer
 * hashing of the parameter's name and index, then exact double operations and one rounding to
 * float32), so the start state is bit-identical and is matched by name.
 *
 * Tolerances are 4-10x the errors measured with 2 threads on the default build and SAN=1; the
 * measured value is in each comment. */
#include "test.h"
#include "twin.h"
#include "search/search.h"
#include <math.h>

#define TOL_LOGITS 3e-6     /* logits (normwise): measured 4.6e-7, SAN=1 5.6e-7 (5x) */
#define TOL_LOSS 1e-6       /* loss (relative): measured 0 (one float ulp at 2.29 is 1.0e-7 relative) */
#define TOL_GRAD 1.5e-4     /* per-tensor weight gradients: measured 2.6e-5, SAN=1 8.5e-6 (6x);
                             * the worst are the 1x1 convs of 2-channel ops (the twin's own
                             * float32-vs-float64 floor there is 7.2e-6) */
#define TOL_ALPHA_GRAD 4e-6 /* dloss/dalpha, each group: measured 7.4e-7, SAN=1 7.6e-7 (5x) */
#define TOL_BETA_GRAD 8e-6  /* dloss/dbeta, each group: measured 9.7e-7, SAN=1 1.4e-6 (6x) */

static fixture fx;
static int have_fx;
static char why_fx[400];

static void test_pcdarts(void) {
    TWIN_NEED_FX(have_fx, why_fx);
    const int *c = twin_need_i(&fx, "config", 7);
    if (!c) return;
    dnas_search_config sc;
    twin_darts_config(&sc, "pcdarts", "all", c);
    sc.pc_k = c[6];
    sc.edge_norm = 1;
    sc.threads = 2;
    dnas_search *s = twin_darts_search(&sc, c, "pcdarts");
    if (!s) return;
    dnas_graph *g = s->g;
    const size_t n_a = 2 * 14 * 9, n_b = 2 * 14;
    CHECK(s->n_alpha == n_a + n_b, "the search holds %zu architecture weights, expected %zu "
          "(alpha | beta)", s->n_alpha, n_a + n_b);
    const float *a = twin_need_f(&fx, "alpha", n_a), *be = twin_need_f(&fx, "beta", n_b);
    dnas_data_batch b;
    if (s->n_alpha != n_a + n_b || !a || !be || !twin_batch(&fx, "x", "y", &b)) {
        dnas_search_destroy(s);
        return;
    }
    memcpy(s->alpha, a, n_a * sizeof(float));
    memcpy(s->alpha + n_a, be, n_b * sizeof(float));
    dnas_status st = dnas_search_fwd_bwd(s, &b, DNAS_WANT_WEIGHTS | DNAS_WANT_ARCH, NULL);
    CHECK(st == DNAS_OK, "fwd/bwd: %s", dnas_last_error());
    dnas_search_mix_backward(s);
    size_t nl = dnas_shape_numel(g->vals[g->logits].shape);
    const float *lg = twin_need_f(&fx, "out/logits", nl), *ls = twin_need_f(&fx, "out/loss", 1);
    const float *ga = twin_need_f(&fx, "grad/alpha", n_a), *gb = twin_need_f(&fx, "grad/beta", n_b);
    if (st == DNAS_OK && lg && ls && ga && gb) {
        double e_logits = fx_relerr(g->vals[g->logits].data, lg, nl);
        double e_loss = fabs(g->loss_value - ls[0]) / fabs(ls[0]);
        printf("  %zu weights; logits max rel err %.3g, loss %.7f vs %.7f (rel %.3g)\n",
               g->n_weights, e_logits, (double)g->loss_value, (double)ls[0], e_loss);
        CHECK(e_logits <= TOL_LOGITS, "logits differ: %.3g", e_logits);
        CHECK(e_loss <= TOL_LOSS, "loss differs: %.3g", e_loss);
        /* Every parameter of the graph has a twin gradient, and the twin has no other. */
        twin_check_weight_grads(&fx, g, "grad/", TOL_GRAD, "PC-DARTS");
        for (int t = 0; t < 2; t++) {
            double e = fx_relerr(s->galpha + t * n_a / 2, ga + t * n_a / 2, n_a / 2);
            printf("  %s alpha gradient max rel err %.3g\n", t ? "reduce" : "normal", e);
            CHECK(e <= TOL_ALPHA_GRAD, "%s alpha gradient differs: %.3g", t ? "reduce" : "normal", e);
            e = fx_relerr(s->galpha + n_a + t * n_b / 2, gb + t * n_b / 2, n_b / 2);
            printf("  %s beta gradient max rel err %.3g\n", t ? "reduce" : "normal", e);
            CHECK(e <= TOL_BETA_GRAD, "%s beta gradient differs: %.3g", t ? "reduce" : "normal", e);
        }
    }
    free((void *)b.x);
    dnas_search_destroy(s);
}

int main(void) {
    have_fx = twin_load(&fx, "tests/ref/pcdarts_fixture.bin", why_fx, sizeof why_fx);
    RUN(test_pcdarts);
    fx_free(&fx);
    TEST_EXIT();
}
