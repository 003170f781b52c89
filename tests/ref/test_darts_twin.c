/* The DARTS search supernet against our PyTorch twin (tests/ref/darts_twin.py, fixture written
 * by tests/ref/make_darts_fixture.py): C = 4, 5 layers (both reductions), batch 4, 16x16, train
 * mode. For the full space and for the S1 and S3 variants: the same logits and loss, the same
 * gradient of every weight tensor and of both alpha groups (normal and reduce). Max relative
 * error printed per comparison.
 *
 * The fixture holds no weights: both sides set them by the rule in make_darts_fixture.py
 * (integer hashing of the parameter's name and index, then exact double operations and one
 * rounding to float32), so the start state is bit-identical and is matched by name.
 *
 * Tolerances are 4-10x the errors measured with 2 threads on the default build (x86-64-v3)
 * and SAN=1; the measured value is in each comment. */
#include "test.h"
#include "twin.h"
#include "search/search.h"
#include <math.h>

#define TOL_LOGITS 6e-6     /* logits (normwise): measured 9.9e-7 (6x) */
#define TOL_LOSS 1e-6       /* loss (relative): measured 1.1e-7 (9x; one float ulp at 2.2 is 2.4e-7) */
#define TOL_GRAD 3e-5       /* per-tensor weight gradients: measured 4.8e-6 (6x) */
#define TOL_ALPHA_GRAD 8e-6 /* dloss/dalpha, each group: measured 1.4e-6 (6x) */

static fixture fx;
static int have_fx;
static char why_fx[400];

static void check_section(const char *sec, const char *ops) {
    TWIN_NEED_FX(have_fx, why_fx);
    const int *c = twin_need_i(&fx, "config", 6);
    if (!c) return;
    dnas_search_config sc;
    twin_darts_config(&sc, "darts1", ops, c);
    sc.threads = 2;
    dnas_search *s = twin_darts_search(&sc, c, ops);
    if (!s) return;
    dnas_graph *g = s->g;
    char name[200];
    snprintf(name, sizeof name, "%salpha", sec);
    const float *a = twin_need_f(&fx, name, s->n_alpha);
    dnas_data_batch b;
    if (!a || !twin_batch(&fx, "x", "y", &b)) {
        dnas_search_destroy(s);
        return;
    }
    memcpy(s->alpha, a, s->n_alpha * sizeof(float));
    dnas_status st = dnas_search_fwd_bwd(s, &b, DNAS_WANT_WEIGHTS | DNAS_WANT_ARCH, NULL);
    CHECK(st == DNAS_OK, "fwd/bwd: %s", dnas_last_error());
    dnas_search_mix_backward(s);
    size_t nl = dnas_shape_numel(g->vals[g->logits].shape);
    snprintf(name, sizeof name, "%sout/logits", sec);
    const float *lg = twin_need_f(&fx, name, nl);
    snprintf(name, sizeof name, "%sout/loss", sec);
    const float *ls = twin_need_f(&fx, name, 1);
    snprintf(name, sizeof name, "%sgrad/alpha", sec);
    const float *ga = twin_need_f(&fx, name, s->n_alpha);
    if (st == DNAS_OK && lg && ls && ga) {
        double e_logits = fx_relerr(g->vals[g->logits].data, lg, nl);
        double e_loss = fabs(g->loss_value - ls[0]) / fabs(ls[0]);
        printf("  %s: %zu weights; logits max rel err %.3g, loss %.7f vs %.7f (rel %.3g)\n", ops,
               g->n_weights, e_logits, (double)g->loss_value, (double)ls[0], e_loss);
        CHECK(e_logits <= TOL_LOGITS, "logits differ: %.3g", e_logits);
        CHECK(e_loss <= TOL_LOSS, "loss differs: %.3g", e_loss);
        /* Every parameter of the graph has a twin gradient, and the twin has no other. */
        snprintf(name, sizeof name, "%sgrad/", sec);
        twin_check_weight_grads(&fx, g, name, TOL_GRAD, ops);
        const size_t half = s->n_alpha / 2;
        for (int t = 0; t < 2; t++) {
            double e = fx_relerr(s->galpha + t * half, ga + t * half, half);
            printf("  %s: %s alpha gradient max rel err %.3g\n", ops, t ? "reduce" : "normal", e);
            CHECK(e <= TOL_ALPHA_GRAD, "%s %s alpha gradient differs: %.3g", ops, t ? "reduce" : "normal", e);
        }
    }
    free((void *)b.x);
    dnas_search_destroy(s);
}

static void test_full_space(void) { check_section("", "all"); }
static void test_s1(void) { check_section("s1/", "s1"); }
static void test_s3(void) { check_section("s3/", "s3"); }

int main(void) {
    have_fx = twin_load(&fx, "tests/ref/darts_fixture.bin", why_fx, sizeof why_fx);
    RUN(test_full_space);
    RUN(test_s1);
    RUN(test_s3);
    fx_free(&fx);
    TEST_EXIT();
}
