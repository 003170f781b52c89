/* GAEA (Li et al. 2021, ALGORITHMS.md §B4): the architecture weights theta live on each
 * edge's probability simplex and ARE the mixing weights (no softmax); the arch step is
 * mirror descent with the entropy map, i.e. exponentiated gradient:
 *   theta <- theta * exp(-eta * dL/dtheta),  clamp >= 1e-5,  renormalise each row,
 * with an optional entropic regulariser r * sum theta log(theta |O|) (KL to uniform) added
 * to the arch loss. theta is stored in s->alpha so checkpoints and logs need nothing new.
 * Bilevel or single-level is a data question (which batch the arch step sees): the run loop
 * draws the arch batch from the training data when --single-level 1. */
#include "search.h"
#include <math.h>
#include <string.h>

#define GAEA_FLOOR 1e-5f /* the reference's clamp before renormalising */

static int n_rows(const dnas_search *s) { return s->space->groups * s->space->rows; }

static int n_cand(const uint8_t *cand, int cols) {
    int n = 0;
    for (int k = 0; k < cols; k++) n += cand[k] != 0;
    return n;
}

/* Uniform point of every row's candidate simplex. */
static dnas_status gaea_init(dnas_search *s) {
    int cols = s->space->cols;
    for (int r = 0; r < n_rows(s); r++) {
        const uint8_t *c = s->cand + r * cols;
        int n = n_cand(c, cols);
        for (int k = 0; k < cols; k++) s->alpha[r * cols + k] = c[k] ? 1.0f / (float)n : 0.0f;
    }
    return DNAS_OK;
}

static void gaea_weights(const dnas_search *s, float *out) {
    for (size_t i = 0; i < s->n_alpha; i++) out[i] = s->cand[i] ? s->alpha[i] : 0.0f;
}

static void gaea_mix(dnas_search *s) { gaea_weights(s, s->g->mix); }

static void gaea_mix_backward(dnas_search *s) {
    int cols = s->space->cols;
    float r = (float)s->cfg.entropy_reg;
    for (int row = 0; row < n_rows(s); row++) {
        const uint8_t *c = s->cand + row * cols;
        float n = (float)n_cand(c, cols);
        for (int k = 0; k < cols; k++) {
            int i = row * cols + k;
            float g = s->g->gmix[i];
            if (r > 0 && c[k]) g += r * (logf(s->alpha[i] * n) + 1.0f);
            s->galpha[i] = c[k] ? g : 0.0f;
        }
    }
}

/* One exponentiated-gradient step of every row (decided rows keep their gradient of 0). */
void dnas_eg_step(float *theta, const float *grad, const uint8_t *cand, int rows, int cols,
                  float eta) {
    for (int r = 0; r < rows; r++) {
        float *t = theta + r * cols;
        const float *g = grad + r * cols;
        const uint8_t *c = cand + r * cols;
        double sum = 0.0;
        for (int k = 0; k < cols; k++) {
            if (!c[k]) {
                t[k] = 0.0f;
                continue;
            }
            t[k] *= expf(-eta * g[k]);
            if (!(t[k] >= GAEA_FLOOR)) t[k] = GAEA_FLOOR; /* also catches a NaN product */
            sum += t[k];
        }
        for (int k = 0; k < cols; k++) t[k] = (float)(t[k] / sum);
    }
}

static dnas_status gaea_arch_step(dnas_search *s, const dnas_data_batch *train,
                                  const dnas_data_batch *valid) {
    (void)train;
    DNAS_TRY(dnas_search_fwd_bwd(s, valid, DNAS_WANT_ARCH, &s->valid_m));
    dnas_search_mix_backward(s);
    if (!s->cfg.fix_alpha)
        dnas_eg_step(s->alpha, s->galpha, s->cand, n_rows(s), s->space->cols, (float)s->cfg.arch_lr);
    return DNAS_OK;
}

/* The theta step precedes the weight step (gaea_release's search loop). */
const dnas_strategy dnas_strategy_gaea = {
    "gaea", 1, gaea_init, dnas_strategy_no_destroy, gaea_mix, gaea_mix_backward, gaea_weights,
    dnas_search_weight_step_sgd, gaea_arch_step, dnas_strategy_no_epoch_end};
