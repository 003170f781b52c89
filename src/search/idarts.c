/* iDARTS (Zhang et al. 2021, ALGORITHMS.md §B2): the implicit hypergradient
 *   g = dL_val/dalpha - gamma * d2L_tr/(dalpha dw) . S,
 *   S = sum_{k=0..K} (I - gamma H)^k v0,   v0 = dL_val/dw,   H = d2L_tr/dw2,
 * evaluated at the weights reached after T inner SGD steps (the only weight updates), with
 * Adam on alpha. The weight steps are the run loop's ordinary steps: s->arch_every = T makes
 * every T-th step end with this arch step, so an epoch stays one pass over the training half.
 *
 * Deliberate differences from the reference notebook (README, protocol notes):
 *  - H v by central differences of weight gradients (graph/hvp.h) with the ReLU patterns
 *    frozen (the same Hessian as the reference's double backprop), not double backprop;
 *  - the Neumann HVPs and the mixed term use the step's own train batch (the T-th inner one)
 *    instead of one more fresh batch;
 *  - the weights are restored exactly after the finite difference (the notebook leaves them
 *    shifted by -R (v1 + v2)) and the live supernet is trained (its deep-copied optimiser may
 *    not train it). */
#include "search.h"
#include "../core/alloc.h"
#include "../graph/hvp.h"
#include <math.h>
#include <string.h>

typedef struct {
    float *v0, *vk, *S, *hv, *scratch; /* n_weights each; scratch n_weights + n_bufs */
    float *ga_val;                     /* dL_val/dalpha (n_alpha) */
    float *dmix;                       /* the mixed term, d/dmix (n_mix) */
    float *bufs0;                      /* BN running statistics before the recording forward */
    dnas_graph *g;
} idarts_priv;

static dnas_status idarts_init(dnas_search *s) {
    idarts_priv *p = dnas_calloc(sizeof *p, "iDARTS state");
    if (!p) return DNAS_ERR_OOM;
    s->priv = p;
    p->g = s->g;
    /* Frozen weights: the notebook's T inner steps change nothing, so each batch is one
     * hypergradient, as the notebook's loop over the loader takes. */
    s->arch_every = s->cfg.freeze_weights ? 1 : s->cfg.inner_steps;
    size_t nw = s->g->n_weights, nb = s->g->n_bufs;
    p->v0 = dnas_alloc(nw * sizeof(float), "iDARTS v0");
    p->vk = dnas_alloc(nw * sizeof(float), "iDARTS Neumann term");
    p->S = dnas_alloc(nw * sizeof(float), "iDARTS Neumann sum");
    p->hv = dnas_alloc(nw * sizeof(float), "iDARTS Hessian-vector product");
    p->scratch = dnas_alloc((nw + nb) * sizeof(float), "iDARTS weight copy");
    p->ga_val = dnas_alloc(s->n_alpha * sizeof(float), "iDARTS alpha gradient");
    p->dmix = dnas_alloc((size_t)s->g->n_mix * sizeof(float), "iDARTS mixed term");
    p->bufs0 = dnas_alloc((nb ? nb : 1) * sizeof(float), "iDARTS BN statistics copy");
    if (!p->v0 || !p->vk || !p->S || !p->hv || !p->scratch || !p->ga_val || !p->dmix || !p->bufs0)
        return DNAS_ERR_OOM;
    return DNAS_OK;
}

static void idarts_destroy(dnas_search *s) {
    idarts_priv *p = s->priv;
    if (!p) return;
    dnas_free(p->v0);
    dnas_free(p->vk);
    dnas_free(p->S);
    dnas_free(p->hv);
    dnas_free(p->scratch);
    dnas_free(p->ga_val);
    dnas_free(p->dmix);
    dnas_free(p->bufs0);
    dnas_free(p);
    s->priv = NULL;
}

static dnas_status graph_hvp(void *ctx, const float *v, float *out) {
    idarts_priv *p = ctx;
    return dnas_graph_fd_hvp(p->g, v, 0.01, out, NULL, p->scratch);
}

dnas_status dnas_neumann_sum(dnas_hvp_fn hvp, void *ctx, size_t n, const float *v0, float gamma,
                             int K, float *S, float *vk, float *hv) {
    memcpy(vk, v0, n * sizeof(float));
    memcpy(S, v0, n * sizeof(float));
    for (int k = 0; k < K; k++) {
        DNAS_TRY(hvp(ctx, vk, hv));
        for (size_t i = 0; i < n; i++) {
            vk[i] -= gamma * hv[i];
            S[i] += vk[i];
        }
    }
    return DNAS_OK;
}

dnas_status dnas_idarts_hypergradient(dnas_search *s, const dnas_data_batch *train,
                                      const dnas_data_batch *valid) {
    idarts_priv *p = s->priv;
    dnas_graph *g = s->g;
    size_t nw = g->n_weights, na = s->n_alpha;
    const float gamma = s->cfg.gamma > 0 ? (float)s->cfg.gamma : s->lr;

    /* v0 = dL_val/dw and dL_val/dalpha at the current (inner-loop) weights. */
    DNAS_TRY(dnas_search_fwd_bwd(s, valid, DNAS_WANT_WEIGHTS | DNAS_WANT_ARCH, &s->valid_m));
    dnas_search_mix_backward(s);
    memcpy(p->ga_val, s->galpha, na * sizeof(float));
    memcpy(p->v0, g->gw, nw * sizeof(float));

    /* S = sum_k v_k,  v_{k+1} = v_k - gamma H v_k  (H of the train loss on the train batch). */
    /* With the ReLU patterns of the current weights frozen, the finite differences give the
     * Hessian that the reference's double backprop computes; free, they also count gradient
     * jumps across kinks (2.5x off the exact hypergradient on the twin's supernet). The
     * recording forward must not move the BN running statistics. */
    DNAS_TRY(dnas_search_set_batch(s, train));
    dnas_search_mix(s);
    memcpy(p->bufs0, g->bufs, g->n_bufs * sizeof(float));
    dnas_status st = dnas_graph_set_kinks(g, DNAS_KINKS_RECORD);
    if (st == DNAS_OK) st = dnas_graph_forward(g);
    if (st == DNAS_OK) st = dnas_graph_set_kinks(g, DNAS_KINKS_FROZEN);
    if (st == DNAS_OK)
        st = dnas_neumann_sum(graph_hvp, p, nw, p->v0, gamma, s->cfg.neumann_k, p->S, p->vk, p->hv);
    dnas_graph_set_kinks(g, DNAS_KINKS_FREE);
    memcpy(g->bufs, p->bufs0, g->n_bufs * sizeof(float));
    if (st != DNAS_OK) return st;

    /* Mixed term by central differences at w +- R S with R = 0.01 / |v0| (the reference's
     * step: normalised by |v0|, not |S|), i.e. eps = 0.01 |S| / |v0| for the helper. */
    double n0 = sqrt(dnas_sumsq(p->v0, nw)), nS = sqrt(dnas_sumsq(p->S, nw));
    if (n0 > 0 && nS > 0) {
        DNAS_TRY(dnas_graph_fd_hvp(g, p->S, 0.01 * nS / n0, NULL, p->dmix, p->scratch));
        memcpy(g->gmix, p->dmix, (size_t)g->n_mix * sizeof(float));
        dnas_search_mix_backward(s); /* linear in gmix: d/dalpha of the mixed term */
    } else {
        memset(s->galpha, 0, na * sizeof(float));
    }
    for (size_t i = 0; i < na; i++) s->galpha[i] = p->ga_val[i] - gamma * s->galpha[i];
    return DNAS_OK;
}

static dnas_status idarts_arch_step(dnas_search *s, const dnas_data_batch *train,
                                    const dnas_data_batch *valid) {
    DNAS_TRY(dnas_idarts_hypergradient(s, train, valid));
    dnas_search_adam_alpha(s);
    return DNAS_OK;
}

const dnas_strategy dnas_strategy_idarts = {
    "idarts", 0, idarts_init, idarts_destroy, dnas_mix_softmax, dnas_mix_softmax_backward,
    dnas_weights_softmax, dnas_search_weight_step_sgd, idarts_arch_step,
    dnas_strategy_no_epoch_end};
