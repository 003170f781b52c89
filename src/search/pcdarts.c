/* PC-DARTS (Xu et al. 2020, ALGORITHMS.md §B7). The partial channels are the supernet's
 * (--pc-k, src/space/); this strategy owns alpha and the edge weights beta:
 * - s->alpha holds [alpha (groups*rows*cols) | beta (groups*rows)], as the graph's mixing
 *   weights hold [op block | edge block] (space.h), so one Adam steps both (the reference's
 *   arch optimiser over alphas and betas), and the checkpoint and the finite-state check
 *   cover beta with no extra code; both start at 1e-3 N(0,1) like the reference.
 * - mix: op rows softmax(alpha) (candidate columns only), edges softmax(beta) over each
 *   node's incoming edges.
 * - weights (what derive and the logs read): softmax(alpha) row times its edge's
 *   softmax(beta), the reference's genotype(); NB201's per-edge argmax is unchanged by it.
 * - arch step: first order, before the weight step, and only from epoch --warmup-epochs on
 *   (train_search.py: `if epoch >= 15: architect.step(...)`).
 * With --arch-update eg (--algo gaea-pcdarts, GAEA's EEDARTS, §B4) alpha and beta ARE the
 * mixing weights, each op row and each node's edges a point of its simplex, and the arch step
 * is GAEA's exponentiated gradient (gaea.c) instead of Adam: only the transform differs. */
#include "search.h"
#include "../space/space.h"
#include <math.h>
#include <string.h>

static size_t n_arch(const dnas_search *s) {
    return (size_t)s->space->groups * s->space->rows * s->space->cols;
}

static int has_edges(const dnas_search *s) {
    return s->n_alpha == n_arch(s) + (size_t)s->space->groups * s->space->rows;
}

/* Softmax of b over each node's edges, per group, into m. */
static void edge_softmax(const dnas_search *s, const float *b, float *m) {
    const dnas_space *sp = s->space;
    for (int t = 0; t < sp->groups; t++)
        for (int n = 0; n < sp->n_nodes; n++) {
            int f = t * sp->rows + sp->node_first[n], c = sp->node_count[n];
            float mx = -INFINITY, sum = 0.0f;
            for (int e = f; e < f + c; e++) mx = b[e] > mx ? b[e] : mx;
            for (int e = f; e < f + c; e++) sum += m[e] = expf(b[e] - mx);
            for (int e = f; e < f + c; e++) m[e] /= sum;
        }
}

static int eg(const dnas_search *s) { return dnas_arch_update_is_eg(&s->cfg); }

/* The edge weights: softmax(beta), or beta itself on its simplex (EG). */
static void edge_weights(const dnas_search *s, float *m) {
    const float *b = s->alpha + n_arch(s);
    if (!eg(s)) edge_softmax(s, b, m);
    else memcpy(m, b, (size_t)s->space->groups * s->space->rows * sizeof(float));
}

int dnas_pcdarts_edge_weights(const dnas_search *s, float *out) {
    if (!has_edges(s) || !s->space->n_nodes) return 0;
    edge_weights(s, out);
    return 1;
}

/* Op rows: softmax(alpha), or theta itself (EG; 0 off the candidates). */
static void op_weights(const dnas_search *s, float *out) {
    if (!eg(s)) {
        dnas_weights_softmax(s, out);
        return;
    }
    for (size_t i = 0; i < n_arch(s); i++) out[i] = s->cand[i] ? s->alpha[i] : 0.0f;
}

static void pc_mix(dnas_search *s) {
    op_weights(s, s->g->mix);
    if (has_edges(s)) edge_weights(s, s->g->mix + n_arch(s));
}

static void pc_mix_backward(dnas_search *s) {
    if (eg(s)) { /* the mixing weights are the parameters: d/dtheta = d/dmix */
        for (size_t i = 0; i < s->n_alpha; i++)
            s->galpha[i] = i >= n_arch(s) || s->cand[i] ? s->g->gmix[i] : 0.0f;
        dnas_entropy_reg_grad(s);
        return;
    }
    dnas_mix_softmax_backward(s);
    if (!has_edges(s)) return;
    const dnas_space *sp = s->space;
    size_t a = n_arch(s);
    const float *m = s->g->mix + a, *gm = s->g->gmix + a;
    float *gb = s->galpha + a;
    for (int t = 0; t < sp->groups; t++)
        for (int n = 0; n < sp->n_nodes; n++) {
            int f = t * sp->rows + sp->node_first[n], c = sp->node_count[n];
            float dot = 0.0f;
            for (int e = f; e < f + c; e++) dot += m[e] * gm[e];
            for (int e = f; e < f + c; e++) gb[e] = m[e] * (gm[e] - dot);
        }
}

static void pc_weights(const dnas_search *s, float *out) {
    op_weights(s, out);
    if (!has_edges(s)) return;
    const dnas_space *sp = s->space;
    float m[DNAS_MAX_ARCH];
    edge_weights(s, m);
    for (int r = 0; r < sp->groups * sp->rows; r++)
        for (int k = 0; k < sp->cols; k++) out[r * sp->cols + k] *= m[r];
}

static dnas_status pc_init(dnas_search *s) {
    if (s->n_alpha > DNAS_MAX_ARCH)
        return dnas_fail(DNAS_ERR_INTERNAL, "PC-DARTS: %zu architecture weights exceed %d",
                         s->n_alpha, DNAS_MAX_ARCH);
    if (eg(s)) dnas_simplex_init(s);
    return DNAS_OK;
}

static dnas_status pc_arch_step(dnas_search *s, const dnas_data_batch *train,
                                const dnas_data_batch *valid) {
    (void)train;
    if (s->epoch < s->cfg.warmup_epochs) return DNAS_OK; /* warm-up: weights only */
    /* First order: dL_val/d(alpha, beta) at the current weights, then the update rule. */
    DNAS_TRY(dnas_search_fwd_bwd(s, valid, DNAS_WANT_ARCH, &s->valid_m));
    dnas_search_mix_backward(s);
    dnas_search_arch_update(s);
    return DNAS_OK;
}

const dnas_strategy dnas_strategy_pcdarts = {
    "pcdarts", 1, pc_init, dnas_strategy_no_destroy, pc_mix, pc_mix_backward, pc_weights,
    dnas_search_weight_step_sgd, pc_arch_step, dnas_strategy_no_epoch_end};

/* GAEA PC-DARTS: the same pieces with --arch-update eg (its defaults, config.c); theta steps
 * before the weights as in both references. */
const dnas_strategy dnas_strategy_gaea_pcdarts = {
    "gaea-pcdarts", 1, pc_init, dnas_strategy_no_destroy, pc_mix, pc_mix_backward, pc_weights,
    dnas_search_weight_step_sgd, pc_arch_step, dnas_strategy_no_epoch_end};
