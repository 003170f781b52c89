/* SNAS (Xie et al. 2019, ALGORITHMS.md §B5): each edge mixes its ops with a relaxed one-hot
 * sample z = softmax((alpha + G) / lambda), alpha the logits (init N(1, 0.01)), lambda falling
 * linearly 1 -> 0.03 over 150 epochs. Single level: one forward/backward on the training
 * batch gives both gradients, of CE + resource penalty; the weights take their SGD step and
 * alpha a plain SGD step (the reference's single-GPU path) with its gradient clipped at norm
 * 10. The penalty is the cost of the relaxed child, sum z * op cost (space.h's table), as is
 * or log-scaled, with reduction cells weighted by --resource-ratio. Draws are Philox at (seed,
 * step, forward of the step, row): a resumed run samples alike with no extra state. */
#include "search.h"
#include "../core/alloc.h"
#include "../core/rng.h"
#include <string.h>

typedef struct {
    float *z, *dz;   /* this forward's relaxed sample, and d/dz scratch */
    float *cost;     /* op cost table (NULL without a penalty) */
    float tau;
    long step;
    int call;
} snas_priv;

static int n_rows(const dnas_search *s) { return s->space->groups * s->space->rows; }

static dnas_status snas_init(dnas_search *s) {
    if (s->space->cols > DNAS_GUMBEL_MAX_COLS)
        return dnas_fail(DNAS_ERR_UNSUPPORTED, "--algo snas: %d ops per edge (at most %d)",
                         s->space->cols, DNAS_GUMBEL_MAX_COLS);
    snas_priv *p = dnas_calloc(sizeof *p, "SNAS state");
    if (!p) return DNAS_ERR_OOM;
    s->priv = p;
    p->step = -1;
    p->z = dnas_calloc(s->n_alpha * sizeof(float), "SNAS sample");
    p->dz = dnas_calloc(s->n_alpha * sizeof(float), "SNAS sample gradient");
    if (!p->z || !p->dz) return DNAS_ERR_OOM;
    if (s->cfg.resource_lambda > 0) {
        p->cost = dnas_calloc(s->n_alpha * sizeof(float), "SNAS op costs");
        if (!p->cost) return DNAS_ERR_OOM;
        dnas_supernet_config nc;
        dnas_supernet_config_default(&nc);
        nc.channels = s->cfg.channels;
        nc.cells = s->cfg.cells;
        nc.image = s->cfg.image;
        int kind = strcmp(s->cfg.resource_cost, "params") == 0 ? DNAS_COST_PARAMS : DNAS_COST_FLOPS;
        DNAS_TRY(dnas_space_costs(s->space, &nc, kind, p->cost));
    }
    /* log_alpha ~ N(1, 0.01) (model_search.py). */
    dnas_rng r = dnas_rng_make(s->cfg.seed, 0x5A45);
    for (size_t i = 0; i < s->n_alpha; i++) s->alpha[i] = 1.0f + 0.01f * dnas_rng_normal(&r);
    return DNAS_OK;
}

static void snas_destroy(dnas_search *s) {
    snas_priv *p = s->priv;
    if (!p) return;
    dnas_free(p->z);
    dnas_free(p->dz);
    dnas_free(p->cost);
    dnas_free(p);
    s->priv = NULL;
}

static void snas_mix(dnas_search *s) {
    snas_priv *p = s->priv;
    int cols = s->space->cols, rows = n_rows(s);
    uint64_t key = dnas_rng_make(s->cfg.seed, 0x5A46).key;
    if (p->step != s->total_steps) p->step = s->total_steps, p->call = 0;
    p->tau = dnas_snas_temperature(&s->cfg, s->epoch);
    float G[DNAS_GUMBEL_MAX_COLS];
    for (int r = 0; r < rows; r++) {
        const uint8_t *c = s->cand + r * cols;
        dnas_gumbel_noise(key, dnas_gumbel_counter(p->step, p->call, rows, r, 0), c, cols, G);
        dnas_gumbel_soft_row(s->alpha + r * cols, G, c, cols, p->tau, p->z + r * cols);
    }
    p->call++;
    memcpy(s->g->mix, p->z, s->n_alpha * sizeof(float));
}

static void snas_mix_backward(dnas_search *s) {
    snas_priv *p = s->priv;
    int cols = s->space->cols;
    memcpy(p->dz, s->g->gmix, s->n_alpha * sizeof(float));
    if (p->cost)
        dnas_resource_penalty(p->z, p->cost, s->cand, s->space->groups, s->space->rows, cols,
                              s->cfg.resource_ratio, s->cfg.log_penalty, s->cfg.resource_lambda,
                              p->dz);
    for (int r = 0; r < n_rows(s); r++)
        dnas_gumbel_soft_row_backward(p->z + r * cols, p->dz + r * cols, s->cand + r * cols, cols,
                                      p->tau, s->galpha + r * cols);
}

/* alpha's plain SGD step (coupled weight decay) on its clipped gradient. */
static void alpha_sgd(dnas_search *s) {
    dnas_search_mix_backward(s);
    if (s->cfg.fix_alpha) return;
    if (s->cfg.arch_grad_clip > 0) dnas_clip_grad_norm(s->galpha, s->n_alpha, s->cfg.arch_grad_clip);
    float lr = (float)s->cfg.arch_lr, wd = (float)s->cfg.arch_weight_decay;
    for (size_t i = 0; i < s->n_alpha; i++)
        if (s->cand[i]) s->alpha[i] -= lr * (s->galpha[i] + wd * s->alpha[i]);
}

/* One forward/backward on the training batch for both w and alpha. */
static dnas_status snas_weight_step(dnas_search *s, const dnas_data_batch *train) {
    int arch = !s->cfg.fix_alpha && (s->total_steps + 1) % s->arch_every == 0;
    DNAS_TRY(dnas_search_fwd_bwd(s, train, DNAS_WANT_WEIGHTS | (arch ? DNAS_WANT_ARCH : 0u),
                                 &s->train_m));
    if (s->cfg.grad_clip > 0)
        s->last_grad_norm = dnas_clip_grad_norm(s->g->gw, s->g->n_weights, s->cfg.grad_clip);
    s->wopt.lr = s->lr;
    dnas_sgd_step(&s->wopt, s->g->w, s->g->gw);
    if (arch) alpha_sgd(s);
    return DNAS_OK;
}

/* The alpha step happened in the weight step; only with frozen weights is it taken here. */
static dnas_status snas_arch_step(dnas_search *s, const dnas_data_batch *train,
                                  const dnas_data_batch *valid) {
    (void)valid;
    if (!s->cfg.freeze_weights) return DNAS_OK;
    DNAS_TRY(dnas_search_fwd_bwd(s, train, DNAS_WANT_ARCH, &s->train_m));
    alpha_sgd(s);
    return DNAS_OK;
}

const dnas_strategy dnas_strategy_snas = {
    "snas", 0, snas_init, snas_destroy, snas_mix, snas_mix_backward, dnas_weights_softmax,
    snas_weight_step, snas_arch_step, dnas_strategy_no_epoch_end};
