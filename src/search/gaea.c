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

int dnas_arch_update_is_eg(const dnas_search_config *c) { return strcmp(c->arch_update, "eg") == 0; }

/* The edge block (PC-DARTS' beta, space.h) follows the op rows when the search has one. */
static size_t n_ops(const dnas_search *s) { return (size_t)n_rows(s) * s->space->cols; }
static int has_edges(const dnas_search *s) {
    return s->space->n_nodes && s->n_alpha == n_ops(s) + (size_t)n_rows(s);
}

/* Uniform point of every row's candidate simplex, and of every node's edge simplex (EEDARTS:
 * each node's incoming edge weights sum to 1). */
void dnas_simplex_init(dnas_search *s) {
    int cols = s->space->cols;
    for (int r = 0; r < n_rows(s); r++) {
        const uint8_t *c = s->cand + r * cols;
        int n = n_cand(c, cols);
        for (int k = 0; k < cols; k++) s->alpha[r * cols + k] = c[k] ? 1.0f / (float)n : 0.0f;
    }
    if (!has_edges(s)) return;
    const dnas_space *sp = s->space;
    float *b = s->alpha + n_ops(s);
    for (int t = 0; t < sp->groups; t++)
        for (int n = 0; n < sp->n_nodes; n++)
            for (int e = 0; e < sp->node_count[n]; e++)
                b[t * sp->rows + sp->node_first[n] + e] = 1.0f / (float)sp->node_count[n];
}

void dnas_entropy_reg_grad(dnas_search *s) {
    int cols = s->space->cols;
    float r = (float)s->cfg.entropy_reg;
    if (!(r > 0)) return;
    for (int row = 0; row < n_rows(s); row++) {
        const uint8_t *c = s->cand + row * cols;
        float n = (float)n_cand(c, cols);
        for (int k = 0; k < cols; k++)
            if (c[k]) s->galpha[row * cols + k] += r * (logf(s->alpha[row * cols + k] * n) + 1.0f);
    }
}

void dnas_search_arch_update(dnas_search *s) {
    if (s->cfg.fix_alpha) return;
    if (!dnas_arch_update_is_eg(&s->cfg)) {
        dnas_search_adam_alpha(s);
        return;
    }
    float eta = (float)s->cfg.arch_lr;
    dnas_eg_step(s->alpha, s->galpha, s->cand, n_rows(s), s->space->cols, eta);
    if (!has_edges(s)) return;
    /* Each node's edges are one simplex: the same EG step over that contiguous run, at the
     * edges' own lr (GAEA PC-DARTS sets both to 0.1). */
    if (s->cfg.edge_lr > 0) eta = (float)s->cfg.edge_lr;
    static const uint8_t all[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    const dnas_space *sp = s->space;
    size_t a = n_ops(s);
    for (int t = 0; t < sp->groups; t++)
        for (int n = 0; n < sp->n_nodes; n++) {
            size_t f = a + (size_t)t * sp->rows + sp->node_first[n];
            dnas_eg_step(s->alpha + f, s->galpha + f, all, 1, sp->node_count[n], eta);
        }
}

static dnas_status gaea_init(dnas_search *s) {
    dnas_simplex_init(s);
    return DNAS_OK;
}

static void gaea_weights(const dnas_search *s, float *out) {
    for (size_t i = 0; i < s->n_alpha; i++) out[i] = s->cand[i] ? s->alpha[i] : 0.0f;
}

static void gaea_mix(dnas_search *s) { gaea_weights(s, s->g->mix); }

static void gaea_mix_backward(dnas_search *s) {
    for (size_t i = 0; i < s->n_alpha; i++) s->galpha[i] = s->cand[i] ? s->g->gmix[i] : 0.0f;
    dnas_entropy_reg_grad(s);
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
