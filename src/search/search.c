/* Search state: supernet + alpha + optimisers, and the pieces every strategy shares. */
#include "search.h"
#include "../core/alloc.h"
#include "../core/rng.h"
#include <math.h>
#include <string.h>

/* No control character: a newline would break the checkpoint's "key=value" lines. */
static int printable(const char *v) {
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 || *v == 0x7f) return 0;
    return 1;
}

dnas_status dnas_search_config_check(const dnas_search_config *c) {
    if (!dnas_space_find(c->space)) return DNAS_ERR_INVALID_ARG;
    if (!dnas_strategy_find(c->algo)) return DNAS_ERR_INVALID_ARG;
    if (strcmp(c->dataset, "cifar10") && strcmp(c->dataset, "cifar100"))
        return dnas_fail(DNAS_ERR_INVALID_ARG, "--dataset: unknown data set '%s' (known: cifar10, cifar100)", c->dataset);
#define NEED(cond, ...) \
    if (!(cond)) return dnas_fail(DNAS_ERR_INVALID_ARG, __VA_ARGS__)
    NEED(printable(c->data_dir) && printable(c->out_dir) && printable(c->table),
         "--data, --out and --table must not contain control characters");
    /* Upper bounds far above any real search, low enough that no size overflows an int. */
    NEED(c->epochs > 0 && c->epochs <= 100000, "--epochs must lie in 1..100000 (got %d)", c->epochs);
    NEED(c->batch > 0 && c->batch <= 4096, "--batch must lie in 1..4096 (got %d)", c->batch);
    NEED(c->channels > 0 && c->channels <= 1024, "--channels must lie in 1..1024 (got %d)", c->channels);
    NEED(c->cells >= 0 && c->cells <= 64, "--cells must lie in 0..64 (0 = the space's default; got %d)", c->cells);
    NEED(c->image >= 4 && c->image <= 4096, "--image must lie in 4..4096 (got %d)", c->image);
    NEED((long long)c->batch * c->channels * c->image * c->image <= (1LL << 29),
         "--batch %d with --channels %d is too large (over 2^29 values per activation)", c->batch,
         c->channels);
    NEED(c->threads >= 0 && c->threads <= 256, "--threads must lie in 0..256 (got %d)", c->threads);
    NEED(c->track_bn == 0 || c->track_bn == 1, "--track-bn must be 0 or 1 (got %d)", c->track_bn);
    NEED(c->nesterov == 0 || c->nesterov == 1, "--nesterov must be 0 or 1 (got %d)", c->nesterov);
    NEED(c->progress >= -1 && c->progress <= 1, "--progress must be -1, 0 or 1 (got %d)", c->progress);
    NEED(c->lr >= 0 && c->lr_min >= 0, "--lr and --lr-min must be >= 0");
    NEED(c->momentum >= 0 && c->momentum < 1, "--momentum must lie in [0,1) (got %g)", c->momentum);
    NEED(c->weight_decay >= 0, "--weight-decay must be >= 0 (got %g)", c->weight_decay);
    NEED(c->grad_clip >= 0, "--grad-clip must be >= 0 (got %g)", c->grad_clip);
    NEED(c->arch_lr >= 0, "--arch-lr must be >= 0 (got %g)", c->arch_lr);
    NEED(c->arch_beta1 >= 0 && c->arch_beta1 < 1, "--arch-beta1 must lie in [0,1) (got %g)", c->arch_beta1);
    NEED(c->arch_beta2 >= 0 && c->arch_beta2 < 1, "--arch-beta2 must lie in [0,1) (got %g)", c->arch_beta2);
    NEED(c->arch_weight_decay >= 0, "--arch-weight-decay must be >= 0");
    NEED(c->train_images >= 0, "--train-images must be >= 0 (got %d)", c->train_images);
    NEED(c->train_images == 0 || c->train_images >= c->batch,
         "--train-images (%d) must be 0 or at least --batch (%d)", c->train_images, c->batch);
    NEED(c->log_every > 0, "--log-every must be > 0 (got %d)", c->log_every);
    NEED(c->ckpt_every >= 0, "--ckpt-every must be >= 0 (got %d)", c->ckpt_every);
    NEED(c->max_steps >= 0, "--max-steps must be >= 0 (got %d)", c->max_steps);
    NEED(c->nesterov == 0 || c->momentum > 0, "--nesterov 1 needs --momentum > 0");
    NEED(c->lr_epochs >= 0, "--lr-epochs must be >= 0 (got %d)", c->lr_epochs);
    NEED(c->single_level == 0 || c->single_level == 1, "--single-level must be 0 or 1 (got %d)", c->single_level);
    NEED(c->fix_alpha == 0 || c->fix_alpha == 1, "--fix-alpha must be 0 or 1 (got %d)", c->fix_alpha);
    NEED(c->freeze_weights == 0 || c->freeze_weights == 1, "--freeze-weights must be 0 or 1 (got %d)", c->freeze_weights);
    NEED(!(c->fix_alpha && c->freeze_weights), "--fix-alpha 1 with --freeze-weights 1 would learn nothing");
    NEED(c->inner_steps >= 1 && c->inner_steps <= 1000, "--inner-steps must lie in [1,1000] (got %d)", c->inner_steps);
    NEED(c->neumann_k >= 0 && c->neumann_k <= 100, "--neumann-k must lie in [0,100] (got %d)", c->neumann_k);
    NEED(c->gamma >= 0, "--gamma must be >= 0 (got %g)", c->gamma);
    NEED(c->entropy_reg >= 0, "--entropy-reg must be >= 0 (got %g)", c->entropy_reg);
    NEED(c->pt_interval >= 1 && c->pt_interval <= 1000, "--pt-interval must lie in [1,1000] (got %d)", c->pt_interval);
    NEED(c->pt_lr >= 0, "--pt-lr must be >= 0 (got %g)", c->pt_lr);
    NEED(c->track_ev == 0 || c->track_ev == 1, "--track-ev must be 0 or 1 (got %d)", c->track_ev);
    NEED(c->ev_every >= 1 && c->ev_every <= 100000, "--ev-every must lie in [1,100000] (got %d)", c->ev_every);
    NEED(c->ev_iters >= 1 && c->ev_iters <= 100000, "--ev-iters must lie in [1,100000] (got %d)", c->ev_iters);
    NEED(c->ev_tol >= 0 && c->ev_tol < 1, "--ev-tol must lie in [0,1) (got %g)", c->ev_tol);
    NEED(strcmp(c->rdarts_reg, "l2") == 0 || strcmp(c->rdarts_reg, "none") == 0,
         "--rdarts-reg: unknown regularisation '%s' (known: l2, none; ScheduledDropPath is "
         "--drop-path-prob P)", c->rdarts_reg);
    NEED(c->rdarts_factor >= 0, "--rdarts-factor must be >= 0 (got %g)", c->rdarts_factor);
    NEED(c->rdarts_order == 1 || c->rdarts_order == 2, "--rdarts-order must be 1 or 2 (got %d)", c->rdarts_order);
    NEED(strcmp(c->rdarts_es, "none") == 0 || strcmp(c->rdarts_es, "es") == 0 ||
         strcmp(c->rdarts_es, "ada") == 0, "--rdarts-es: unknown mode '%s' (known: none, es, ada)",
         c->rdarts_es);
    NEED(strcmp(c->algo, "rdarts") != 0 || strcmp(c->rdarts_es, "none") == 0 || c->track_ev,
         "--rdarts-es %s needs the eigenvalues: --track-ev 1", c->rdarts_es);
    NEED(c->es_window >= 1 && c->es_window <= 1000, "--es-window must lie in [1,1000] (got %d)", c->es_window);
    NEED(c->es_delta >= 1 && c->es_delta <= 1000, "--es-delta must lie in [1,1000] (got %d)", c->es_delta);
    NEED(c->es_start >= 0, "--es-start must be >= 0 (got %d)", c->es_start);
    NEED(c->es_factor > 0, "--es-factor must be > 0 (got %g)", c->es_factor);
    NEED(c->ada_mul > 1, "--ada-mul must be > 1 (got %g)", c->ada_mul);
    NEED(c->ada_max_wd >= 0, "--ada-max-wd must be >= 0 (got %g)", c->ada_max_wd);
    NEED(c->tau_min > 0 && c->tau_max >= c->tau_min, "--tau-min must be > 0 and --tau-max >= "
         "--tau-min (got %g, %g)", c->tau_min, c->tau_max);
    NEED(c->tau_epochs >= 0 && c->tau_epochs <= 100000, "--tau-epochs must lie in 0..100000 (got %d)",
         c->tau_epochs);
    NEED(c->resource_lambda >= 0, "--resource-lambda must be >= 0 (got %g)", c->resource_lambda);
    NEED(strcmp(c->resource_cost, "flops") == 0 || strcmp(c->resource_cost, "params") == 0,
         "--resource-cost: unknown resource '%s' (known: flops, params)", c->resource_cost);
    NEED(c->log_penalty == 0 || c->log_penalty == 1, "--log-penalty must be 0 or 1 (got %d)", c->log_penalty);
    NEED(c->resource_ratio >= 0, "--resource-ratio must be >= 0 (got %g)", c->resource_ratio);
    NEED(c->arch_grad_clip >= 0, "--arch-grad-clip must be >= 0 (got %g)", c->arch_grad_clip);
    NEED(c->pc_k >= 1 && c->pc_k <= 64, "--pc-k must lie in 1..64 (got %d)", c->pc_k);
    NEED(c->channels % c->pc_k == 0, "--pc-k %d must divide --channels %d", c->pc_k, c->channels);
    NEED(c->edge_norm == 0 || c->edge_norm == 1, "--edge-norm must be 0 or 1 (got %d)", c->edge_norm);
    NEED(!c->edge_norm || strcmp(c->algo, "pcdarts") == 0 || strcmp(c->algo, "gaea-pcdarts") == 0,
         "--edge-norm 1 needs --algo pcdarts (the only method that learns the edge weights)");
    NEED(!c->edge_norm || strcmp(c->select, "pt") != 0,
         "--edge-norm 1 does not support --select pt (its scores ignore the edge weights)");
    NEED(c->warmup_epochs >= 0 && c->warmup_epochs <= 100000,
         "--warmup-epochs must lie in 0..100000 (got %d)", c->warmup_epochs);
    NEED(c->zero_one_weight >= 0, "--zero-one-weight must be >= 0 (got %g)", c->zero_one_weight);
    NEED(c->derive_threshold >= 0 && c->derive_threshold <= 1,
         "--derive-threshold must lie in [0,1] (got %g)", c->derive_threshold);
    NEED(strcmp(c->drnas_reg, "l2") == 0 || strcmp(c->drnas_reg, "kl") == 0,
         "--drnas-reg: unknown regulariser '%s' (known: l2, kl)", c->drnas_reg);
    NEED(c->reg_scale >= 0, "--reg-scale must be >= 0 (got %g)", c->reg_scale);
    {
        int eg = strcmp(c->arch_update, "eg") == 0, gaea = strcmp(c->algo, "gaea") == 0;
        int can = gaea || strcmp(c->algo, "pcdarts") == 0 || strcmp(c->algo, "gdas") == 0 ||
                  strcmp(c->algo, "gaea-pcdarts") == 0 || strcmp(c->algo, "gaea-gdas") == 0;
        NEED(eg || strcmp(c->arch_update, "adam") == 0,
             "--arch-update: unknown rule '%s' (known: adam, eg)", c->arch_update);
        NEED(!eg || can, "--arch-update eg: --algo %s has no simplex form (eg works with gaea, "
             "pcdarts, gdas, gaea-pcdarts, gaea-gdas)", c->algo);
        NEED(eg || !gaea, "--algo gaea is DARTS with --arch-update eg (adam there is darts1)");
        NEED(c->edge_lr >= 0, "--edge-lr must be >= 0 (got %g)", c->edge_lr);
        NEED(c->edge_lr == 0 || (eg && c->edge_norm),
             "--edge-lr %g: only the EG update of edge weights reads it (--arch-update eg "
             "--edge-norm 1, e.g. --algo gaea-pcdarts)", c->edge_lr);
    }
    NEED(strcmp(c->derive, "default") == 0 || strcmp(c->derive, "edge_all") == 0,
         "--derive: unknown derivation '%s' (known: default, edge_all)", c->derive);
    NEED(strcmp(c->derive, "edge_all") != 0 || c->derive_threshold == 0,
         "--derive edge_all and --derive-threshold %g are two derivations; pick one",
         c->derive_threshold);
    NEED(c->drop_path_prob >= 0 && c->drop_path_prob < 1,
         "--drop-path-prob must lie in [0,1) (got %g)", c->drop_path_prob);
    NEED(c->drop_path_prob == 0 || strcmp(c->space, "darts") == 0,
         "--drop-path-prob: ScheduledDropPath is built for the darts space only (got --space %s)",
         c->space);
    NEED(strcmp(c->select, "magnitude") == 0 || strcmp(c->select, "pt") == 0,
         "--select: unknown selection '%s' (known: magnitude, pt)", c->select);
    DNAS_TRY(dnas_prime_config_check(c)); /* DARTS-PRIME's settings (prime.c) */
#undef NEED
    return DNAS_OK;
}

dnas_status dnas_search_create(const dnas_search_config *c, dnas_search **out) {
    *out = NULL;
    DNAS_TRY(dnas_search_config_check(c));
    dnas_search *s = dnas_calloc(sizeof *s, "search state");
    if (!s) return DNAS_ERR_OOM;
    s->cfg = *c;
    s->strat = dnas_strategy_find(c->algo);
    dnas_status st = dnas_backend_cpu_create(c->threads, &s->be);
    dnas_supernet_config nc;
    dnas_supernet_config_default(&nc);
    nc.space = c->space;
    nc.classes = strcmp(c->dataset, "cifar100") == 0 ? 100 : 10;
    nc.batch = c->batch;
    nc.channels = c->channels;
    nc.cells = c->cells;
    nc.track_bn = c->track_bn;
    nc.image = c->image;
    nc.seed = c->seed;
    nc.ops = c->ops;
    nc.pc_k = c->pc_k;
    nc.edge_norm = c->edge_norm;
    nc.drop_path = c->drop_path_prob > 0;
    nc.node_bn = dnas_prime_state_bn(c); /* DARTS-PRIME's "statebn" (prime.c) */
    if (st == DNAS_OK) st = dnas_supernet_create_on(&nc, s->be, &s->net);
    if (st != DNAS_OK) {
        dnas_search_destroy(s);
        return st;
    }
    s->g = &s->net->g;
    s->g->rng_key = c->seed; /* stochastic ops (S4's noise); rng_step is set per step */
    s->space = s->net->space;
    s->cand = s->net->cand;
    s->arch_every = 1;
    s->n_alpha = (size_t)s->g->n_mix;
    s->alpha = dnas_alloc(s->n_alpha * sizeof(float), "alpha");
    s->galpha = dnas_calloc(s->n_alpha * sizeof(float), "alpha gradient");
    if (!s->alpha || !s->galpha) {
        dnas_search_destroy(s);
        return DNAS_ERR_OOM;
    }
    /* alpha ~ 1e-3 N(0,1), as the reference searchers. */
    dnas_rng r = dnas_rng_make(c->seed, 0xA1FA);
    for (size_t i = 0; i < s->n_alpha; i++) s->alpha[i] = 1e-3f * dnas_rng_normal(&r);
    st = dnas_sgd_init(&s->wopt, s->g->n_weights, (float)c->lr, (float)c->momentum,
                       (float)c->weight_decay, c->nesterov);
    if (st == DNAS_OK)
        st = dnas_adam_init(&s->aopt, s->n_alpha, (float)c->arch_lr, (float)c->arch_beta1,
                            (float)c->arch_beta2, 1e-8f, (float)c->arch_weight_decay);
    if (st == DNAS_OK) st = s->strat->init(s);
    if (st != DNAS_OK) {
        dnas_search_destroy(s);
        return st;
    }
    s->lr = (float)c->lr;
    *out = s;
    return DNAS_OK;
}

void dnas_search_destroy(dnas_search *s) {
    if (!s) return;
    if (s->strat) s->strat->destroy(s);
    dnas_sgd_free(&s->wopt);
    dnas_adam_free(&s->aopt);
    dnas_free(s->alpha);
    dnas_free(s->fixed);
    dnas_free(s->galpha);
    dnas_supernet_destroy(s->net);
    if (s->be) dnas_backend_destroy(s->be);
    dnas_free(s);
}

dnas_status dnas_search_set_batch(dnas_search *s, const dnas_data_batch *b) {
    dnas_graph *g = s->g;
    DNAS_TRY(dnas_graph_set_batch(g, b->n));
    dnas_value *in = &g->vals[g->input];
    memcpy(in->data, b->x, dnas_shape_numel(in->shape) * sizeof(float));
    memcpy(g->labels, b->y, (size_t)b->n * sizeof(int));
    return DNAS_OK;
}

dnas_status dnas_search_fwd_bwd(dnas_search *s, const dnas_data_batch *b, unsigned wants,
                                dnas_meter *m) {
    DNAS_TRY(dnas_search_set_batch(s, b));
    dnas_search_mix(s);
    DNAS_TRY(dnas_graph_forward(s->g));
    if (m) {
        m->loss += (double)s->g->loss_value * b->n;
        m->correct += s->g->correct;
        m->n += b->n;
    }
    if (!isfinite(s->g->loss_value))
        return dnas_fail(DNAS_ERR_INTERNAL, "loss became %g at epoch %d step %d (diverged; lower --lr?)",
                         (double)s->g->loss_value, s->epoch, s->step);
    dnas_graph_zero_grads(s->g, wants);
    return dnas_graph_backward(s->g, wants);
}

dnas_status dnas_search_weight_step_sgd(dnas_search *s, const dnas_data_batch *train) {
    DNAS_TRY(dnas_search_fwd_bwd(s, train, DNAS_WANT_WEIGHTS, &s->train_m));
    if (s->cfg.grad_clip > 0)
        s->last_grad_norm = dnas_clip_grad_norm(s->g->gw, s->g->n_weights, s->cfg.grad_clip);
    s->wopt.lr = s->lr;
    dnas_sgd_step(&s->wopt, s->g->w, s->g->gw);
    return DNAS_OK;
}

/* 1 if no float of x[0, n) is an Inf or a NaN. Exponent bits only, so it vectorises: a few
 * hundred microseconds per step for the full NB201 supernet. */
static int all_finite(const float *x, size_t n) {
    unsigned bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    return !bad;
}

/* After every step, so that a non-finite state is never logged, used to derive an arch or
 * checkpointed (a diverged step returns before the run writes anything). */
static dnas_status check_finite(const dnas_search *s) {
    const dnas_graph *g = s->g;
    const char *what = NULL, *flag = "--lr";
    if (!all_finite(s->alpha, s->n_alpha)) what = "alpha", flag = "--arch-lr";
    else if (!all_finite(s->aopt.m, s->aopt.n) || !all_finite(s->aopt.v, s->aopt.n))
        what = "alpha's Adam state", flag = "--arch-lr";
    else if (!all_finite(g->w, g->n_weights)) what = "a weight";
    else if (!all_finite(s->wopt.buf, s->wopt.n)) what = "the SGD momentum";
    else if (!all_finite(g->bufs, g->n_bufs)) what = "a BN running statistic";
    if (!what) return DNAS_OK;
    return dnas_fail(DNAS_ERR_INTERNAL, "%s became non-finite at epoch %d step %d (diverged; lower "
                     "%s?); nothing of this step was saved", what, s->epoch, s->step, flag);
}

dnas_status dnas_search_step(dnas_search *s, const dnas_data_batch *train,
                             const dnas_data_batch *valid) {
    /* With arch_every = T (iDARTS), the arch step follows every T-th weight step. */
    int arch = (s->total_steps + 1) % s->arch_every == 0 && !s->cfg.fix_alpha;
    s->g->rng_step = (uint64_t)s->total_steps; /* checkpointed, so a resumed run draws alike */
    s->g->drop_prob = dnas_search_drop_prob(&s->cfg, s->epoch);
    if (s->strat->arch_first && arch) DNAS_TRY(s->strat->arch_step(s, train, valid));
    if (!s->cfg.freeze_weights) DNAS_TRY(s->strat->weight_step(s, train));
    if (!s->strat->arch_first && arch) DNAS_TRY(s->strat->arch_step(s, train, valid));
    DNAS_TRY(check_finite(s));
    s->total_steps++;
    return DNAS_OK;
}
