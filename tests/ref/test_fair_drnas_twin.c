/* FairDARTS and DrNAS against the PyTorch twin (tests/ref/fair_drnas_twin.py) on the small
 * NB201 supernet of the other fixtures, from the same start weights:
 *  - FairDARTS: the mix is sigmoid(alpha) ('none' excluded), and the arch gradient of
 *    CE + the zero-one loss (w01 = 10) through fairdarts.c's mix backward;
 *  - DrNAS: at the fixture's FIXED Gamma sample x (theta = x / sum x), the gradient of CE with
 *    respect to alpha through the Dirichlet's pathwise gradient: ours (drnas.c's implicit
 *    d ln x / d beta, backward, ELU') against torch's Gamma.rsample autograd.
 * Tolerances: normwise relative, about 5x the error measured with torch 2.15.0. */
#include "test.h"
#include "twin.h"
#include "search/search.h"

static fixture fx;
static int have_fx;
static char why_fx[400];

static dnas_search *make_search(const char *algo, const char *ops) {
    const int *c = twin_need_i(&fx, "config", 7);
    if (!c) return NULL;
    dnas_search_config sc;
    twin_nb201_config(&sc, algo, c);
    snprintf(sc.ops, sizeof sc.ops, "%s", ops);
    return twin_nb201_search(&fx, &sc);
}

static void test_fairdarts_twin(void) {
    TWIN_NEED_FX(have_fx, why_fx);
    const float *alpha = twin_need_f(&fx, "fair/alpha", 30), *mix = twin_need_f(&fx, "fair/mix", 30),
                *ga = twin_need_f(&fx, "fair/galpha", 30), *loss = twin_need_f(&fx, "fair/loss", 1);
    if (!alpha || !mix || !ga || !loss) return;
    dnas_search *s = make_search("fairdarts", "no-none");
    if (!s) return;
    memcpy(s->alpha, alpha, 30 * sizeof(float));
    dnas_data_batch va = {0};
    if (twin_batch(&fx, "xv", "yv", &va)) {
        CHECK(dnas_search_fwd_bwd(s, &va, DNAS_WANT_ARCH, NULL) == DNAS_OK, "%s", dnas_last_error());
        double em = twin_relerr_l2(s->g->mix, mix, 30);
        dnas_search_mix_backward(s);
        double eg = twin_relerr_l2(s->galpha, ga, 30);
        double tot = s->g->loss_value + dnas_zero_one_loss(s->alpha, s->cand, 30, s->cfg.zero_one_weight, NULL);
        double el = fabs(tot - loss[0]) / fabs(loss[0]);
        printf("  FairDARTS: mix %.3g, alpha gradient %.3g, loss %.3g (relative)\n", em, eg, el);
        CHECK(em < 1e-6, "mix off by %g", em);
        CHECK(eg < 2e-6, "alpha gradient off by %g", eg); /* measured 2.4e-7 */
        CHECK(el < 1e-6, "loss off by %g", el); /* measured 1.5e-7 */
        free((void *)va.x);
    }
    dnas_search_destroy(s);
}

static void test_drnas_twin(void) {
    TWIN_NEED_FX(have_fx, why_fx);
    const float *alpha = twin_need_f(&fx, "drnas/alpha", 30), *x = twin_need_f(&fx, "drnas/gamma", 30),
                *theta = twin_need_f(&fx, "drnas/theta", 30), *ga = twin_need_f(&fx, "drnas/galpha", 30);
    if (!alpha || !x || !theta || !ga) return;
    dnas_search *s = make_search("drnas", "");
    if (!s) return;
    memcpy(s->alpha, alpha, 30 * sizeof(float));
    dnas_data_batch va = {0};
    if (twin_batch(&fx, "xv", "yv", &va)) {
        /* the forward at the fixture's sample, not at one of ours */
        CHECK(dnas_search_set_batch(s, &va) == DNAS_OK, "%s", dnas_last_error());
        memcpy(s->g->mix, theta, 30 * sizeof(float));
        CHECK(dnas_graph_forward(s->g) == DNAS_OK, "%s", dnas_last_error());
        dnas_graph_zero_grads(s->g, DNAS_WANT_ARCH);
        CHECK(dnas_graph_backward(s->g, DNAS_WANT_ARCH) == DNAS_OK, "%s", dnas_last_error());
        float ours[30];
        for (int r = 0; r < 6; r++) {
            double b[5], th[5], dl[5], gt[5], gb[5];
            for (int k = 0; k < 5; k++) {
                double a = alpha[r * 5 + k];
                b[k] = a > 0 ? a + 1 : exp(a);
                th[k] = theta[r * 5 + k];
                dl[k] = dnas_gamma_dlogx(b[k], x[r * 5 + k]);
                gt[k] = s->g->gmix[r * 5 + k];
            }
            dnas_dirichlet_backward(th, dl, gt, 5, gb);
            for (int k = 0; k < 5; k++) {
                double a = alpha[r * 5 + k];
                ours[r * 5 + k] = (float)(gb[k] * (a > 0 ? 1.0 : exp(a)));
            }
        }
        double eg = twin_relerr_l2(ours, ga, 30);
        printf("  DrNAS: alpha gradient at the fixed sample %.3g (relative)\n", eg);
        CHECK(eg < 3e-4, "alpha gradient off by %g", eg); /* measured 3.9e-5: torch's gamma grad is an approximation */
        free((void *)va.x);
    }
    dnas_search_destroy(s);
}

int main(void) {
    have_fx = twin_load(&fx, "tests/ref/fair_drnas_fixture.bin", why_fx, sizeof why_fx);
    RUN(test_fairdarts_twin);
    RUN(test_drnas_twin);
    TEST_EXIT();
}
