/* DARTS (Liu et al. 2019), first and second order, with AutoDL's NB201 settings
 * (ALGORITHMS.md §B1). Mixing weights are the row softmax of alpha.
 *
 * First order (DARTS-V1): weight step on the train batch, then alpha step on the paired
 * validation batch with d L_val / d alpha at the current weights.
 * Second order (DARTS-V2): alpha step first, through one unrolled SGD step
 *   w' = w - xi (mu m + dL_tr/dw + lambda w),
 *   g = dL_val(w')/dalpha - xi [dL_tr(w+)/dalpha - dL_tr(w-)/dalpha] / (2 eps),
 *   w+- = w +- eps v,  v = dL_val(w')/dw',  eps = 0.01 / |v|,
 * then the weight step. */
#include "search.h"
#include "../core/alloc.h"
#include <math.h>
#include <string.h>

dnas_status dnas_arch_step_first_order(dnas_search *s, const dnas_data_batch *train,
                                         const dnas_data_batch *valid) {
    (void)train;
    DNAS_TRY(dnas_search_fwd_bwd(s, valid, DNAS_WANT_ARCH, &s->valid_m));
    dnas_search_mix_backward(s);
    dnas_search_adam_alpha(s);
    return DNAS_OK;
}


/* ---- second order ------------------------------------------------------------------------ */
typedef struct {
    float *w0;      /* weights at the start of the step */
    float *v;       /* dL_val(w')/dw' */
    float *g1;      /* dL_val(w')/dalpha */
    float *gplus;   /* dL_tr(w+)/dalpha */
    float *bufs0;   /* BN running stats before the unrolled forward */
} darts2_priv;

static dnas_status darts2_init(dnas_search *s) {
    darts2_priv *p = dnas_calloc(sizeof *p, "DARTS-V2 state");
    if (!p) return DNAS_ERR_OOM;
    s->priv = p;
    size_t nw = s->g->n_weights, na = s->n_alpha, nb = s->g->n_bufs ? s->g->n_bufs : 1;
    p->w0 = dnas_alloc(nw * sizeof(float), "DARTS-V2 weight copy");
    p->v = dnas_alloc(nw * sizeof(float), "DARTS-V2 validation gradient");
    p->g1 = dnas_alloc(na * sizeof(float), "DARTS-V2 alpha gradient");
    p->gplus = dnas_alloc(na * sizeof(float), "DARTS-V2 alpha gradient");
    p->bufs0 = dnas_alloc(nb * sizeof(float), "DARTS-V2 BN statistics copy");
    if (!p->w0 || !p->v || !p->g1 || !p->gplus || !p->bufs0) return DNAS_ERR_OOM;
    return DNAS_OK;
}

static void darts2_destroy(dnas_search *s) {
    darts2_priv *p = s->priv;
    if (!p) return;
    dnas_free(p->w0);
    dnas_free(p->v);
    dnas_free(p->g1);
    dnas_free(p->gplus);
    dnas_free(p->bufs0);
    dnas_free(p);
    s->priv = NULL;
}

static dnas_status darts2_arch_step(dnas_search *s, const dnas_data_batch *train,
                                    const dnas_data_batch *valid) {
    darts2_priv *p = s->priv;
    dnas_graph *g = s->g;
    size_t nw = g->n_weights, na = s->n_alpha;
    float *w = g->w;
    const float xi = s->lr, mu = s->wopt.momentum, wd = s->wopt.weight_decay;
    memcpy(p->w0, w, nw * sizeof(float));

    /* Unrolled weights w' (momentum as the optimiser would apply it; no Nesterov, no clip). */
    DNAS_TRY(dnas_search_fwd_bwd(s, train, DNAS_WANT_WEIGHTS, NULL));
    for (size_t i = 0; i < nw; i++)
        w[i] = p->w0[i] - xi * (mu * s->wopt.buf[i] + g->gw[i] + wd * p->w0[i]);

    /* The reference runs the unrolled model as a copy: its BN statistics updates are lost. */
    memcpy(p->bufs0, g->bufs, g->n_bufs * sizeof(float));
    DNAS_TRY(dnas_search_fwd_bwd(s, valid, DNAS_WANT_WEIGHTS | DNAS_WANT_ARCH, &s->valid_m));
    memcpy(g->bufs, p->bufs0, g->n_bufs * sizeof(float));
    dnas_search_mix_backward(s);
    memcpy(p->g1, s->galpha, na * sizeof(float));
    memcpy(p->v, g->gw, nw * sizeof(float));

    /* Finite-difference Hessian-vector product around the CURRENT weights. */
    double vnorm = sqrt(dnas_sumsq(p->v, nw));
    float eps = (float)(0.01 / (vnorm > 0 ? vnorm : 1e-12));
    for (size_t i = 0; i < nw; i++) w[i] = p->w0[i] + eps * p->v[i];
    DNAS_TRY(dnas_search_fwd_bwd(s, train, DNAS_WANT_ARCH, NULL));
    dnas_search_mix_backward(s);
    memcpy(p->gplus, s->galpha, na * sizeof(float));
    for (size_t i = 0; i < nw; i++) w[i] = p->w0[i] - eps * p->v[i];
    DNAS_TRY(dnas_search_fwd_bwd(s, train, DNAS_WANT_ARCH, NULL));
    dnas_search_mix_backward(s);
    /* Restore from the copy: exact, unlike adding and subtracting eps*v in place. */
    memcpy(w, p->w0, nw * sizeof(float));

    for (size_t i = 0; i < na; i++)
        s->galpha[i] = p->g1[i] - xi * (p->gplus[i] - s->galpha[i]) / (2.0f * eps);
    dnas_search_adam_alpha(s);
    return DNAS_OK;
}

const dnas_strategy dnas_strategy_darts1 = {
    "darts1", 0, dnas_strategy_no_init, dnas_strategy_no_destroy, dnas_mix_softmax,
    dnas_mix_softmax_backward, dnas_weights_softmax, dnas_search_weight_step_sgd,
    dnas_arch_step_first_order, dnas_strategy_no_epoch_end};

const dnas_strategy dnas_strategy_darts2 = {
    "darts2", 1, darts2_init, darts2_destroy, dnas_mix_softmax, dnas_mix_softmax_backward,
    dnas_weights_softmax, dnas_search_weight_step_sgd, darts2_arch_step,
    dnas_strategy_no_epoch_end};
