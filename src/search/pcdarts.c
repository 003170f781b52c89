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
 *   (train_search.py: `if epoch >= 15: architect.step(...)`). */
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

int dnas_pcdarts_edge_weights(const dnas_search *s, float *out) {
    if (!has_edges(s) || !s->space->n_nodes) return 0;
    edge_softmax(s, s->alpha + n_arch(s), out);
    return 1;
}

static void pc_mix(dnas_search *s) {
    dnas_mix_softmax(s);
    if (has_edges(s)) edge_softmax(s, s->alpha + n_arch(s), s->g->mix + n_arch(s));
}

static void pc_mix_backward(dnas_search *s) {
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
    dnas_weights_softmax(s, out);
    if (!has_edges(s)) return;
    const dnas_space *sp = s->space;
    float m[DNAS_MAX_ARCH];
    edge_softmax(s, s->alpha + n_arch(s), m);
    for (int r = 0; r < sp->groups * sp->rows; r++)
        for (int k = 0; k < sp->cols; k++) out[r * sp->cols + k] *= m[r];
}

static dnas_status pc_init(dnas_search *s) {
    if (s->n_alpha > DNAS_MAX_ARCH)
        return dnas_fail(DNAS_ERR_INTERNAL, "PC-DARTS: %zu architecture weights exceed %d",
                         s->n_alpha, DNAS_MAX_ARCH);
    return DNAS_OK;
}

static dnas_status pc_arch_step(dnas_search *s, const dnas_data_batch *train,
                                const dnas_data_batch *valid) {
    if (s->epoch < s->cfg.warmup_epochs) return DNAS_OK; /* warm-up: weights only */
    return dnas_arch_step_first_order(s, train, valid);
}

const dnas_strategy dnas_strategy_pcdarts = {
    "pcdarts", 1, pc_init, dnas_strategy_no_destroy, pc_mix, pc_mix_backward, pc_weights,
    dnas_search_weight_step_sgd, pc_arch_step, dnas_strategy_no_epoch_end};
