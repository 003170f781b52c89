/* One table of named fields drives the CLI flags, the checkpoint's stored configuration and
 * config.json, so a setting cannot exist in one and be forgotten in another. */
#include "search.h"
#include "../io/fields.h"
#include <stddef.h>
#include <stdio.h>
#include <string.h>

typedef dnas_field field;

#define F(n, t, h) {#n, t, offsetof(dnas_search_config, n), sizeof(((dnas_search_config *)0)->n), h}
static const field fields[] = {
    F(space, 's', "search space (nb201 | darts)"),
    F(algo, 's', "search method (darts1 | darts2 | idarts | gaea | fairdarts | drnas | snas | gdas | rdarts | pcdarts | gaea-pcdarts | gaea-gdas | prime)"),
    F(ops, 's', "op set of the space (nb201: all | no-none; darts: all | s1 | s2 | s3 | s4 | s5 = no-none)"),
    F(dataset, 's', "data set (cifar10)"),
    F(data_dir, 's', "CIFAR binary directory (default $DNAS_DATA)"),
    F(out_dir, 's', "run directory"),
    F(table, 's', "NB201 results table (nb201.csv) for the final lookup"),
    F(split_file, 's', "NB201's cifar-split.txt (AutoDL-Projects configs/nas-benchmark): the papers' train/valid split (default: ours, stratified)"),
    F(epochs, 'i', "search epochs"),
    F(batch, 'i', "batch size (weight and arch batches)"),
    F(channels, 'i', "supernet channels C"),
    F(cells, 'i', "cells: nb201 per stage N, darts layers L (0 = the space's default: nb201 5, darts 8)"),
    F(track_bn, 'i', "cell BN keeps running statistics (0/1)"),
    F(threads, 'i', "CPU threads (0 = all cores)"),
    F(image, 'i', "input height = width (CIFAR: 32)"),
    F(seed, 'u', "random seed"),
    F(lr, 'd', "weight learning rate (cosine schedule start)"),
    F(lr_min, 'd', "weight learning rate at the end of the cosine schedule"),
    F(momentum, 'd', "SGD momentum"),
    F(weight_decay, 'd', "SGD weight decay"),
    F(grad_clip, 'd', "global gradient-norm clip of the weights (0 = off)"),
    F(nesterov, 'i', "Nesterov momentum (0/1)"),
    F(arch_lr, 'd', "Adam learning rate of alpha"),
    F(arch_beta1, 'd', "Adam beta1 of alpha"),
    F(arch_beta2, 'd', "Adam beta2 of alpha"),
    F(arch_weight_decay, 'd', "Adam (coupled L2) weight decay of alpha"),
    F(train_images, 'i', "use only the first k images of each split half (0 = all)"),
    F(log_every, 'i', "steps between log.jsonl lines"),
    F(ckpt_every, 'i', "steps between checkpoints (0 = each epoch's end only)"),
    F(progress, 'i', "progress line: 1 on, 0 off, -1 when stderr is a terminal"),
    F(max_steps, 'i', "stop with a checkpoint after this many steps (0 = no limit)"),
    F(lr_epochs, 'i', "length of the cosine lr schedule in epochs (0 = --epochs)"),
    F(single_level, 'i', "1: arch step on training data too (GAEA ERM)"),
    F(fix_alpha, 'i', "1: never update alpha (DARTS-PT fixed-alpha supernet)"),
    F(freeze_weights, 'i', "1: never update the weights (the iDARTS NB201 notebook as written)"),
    F(inner_steps, 'i', "iDARTS: weight steps T per hypergradient"),
    F(neumann_k, 'i', "iDARTS: Neumann-series terms K"),
    F(gamma, 'd', "iDARTS: Neumann step size (0 = current weight lr)"),
    F(entropy_reg, 'd', "GAEA: entropic regulariser weight"),
    F(select, 's', "selection after the search: magnitude | pt"),
    F(pt_interval, 'i', "DARTS-PT: tuning epochs between decisions"),
    F(pt_lr, 'd', "DARTS-PT: constant tuning lr (0 = --lr / 10)"),
    F(track_ev, 'i', "1: log the dominant eigenvalue of the validation Hessian w.r.t. alpha (RobustDARTS; rdarts: 1)"),
    F(ev_every, 'i', "eigenvalue every k-th epoch from epoch 0, and the last"),
    F(ev_iters, 'i', "power-iteration Hessian-vector products at most per eigenvalue"),
    F(ev_tol, 'd', "power iteration stops at this relative change of the eigenvalue"),
    F(rdarts_reg, 's', "RobustDARTS: l2 (SGD weight decay = --rdarts-factor) | none (--weight-decay)"),
    F(rdarts_factor, 'd', "RobustDARTS: L2 factor (grid 3e-4 x 3^k)"),
    F(rdarts_order, 'i', "RobustDARTS: 1 first order, 2 unrolled second order"),
    F(rdarts_es, 's', "RobustDARTS: none | es (DARTS-ES early stop) | ada (DARTS-ADA roll back)"),
    F(es_window, 'i', "DARTS-ES: eigenvalues per local average"),
    F(es_delta, 'i', "DARTS-ES: compare with the local average this many entries earlier"),
    F(es_start, 'i', "DARTS-ES: earliest epoch the search may roll back to"),
    F(es_factor, 'd', "DARTS-ES: stop when the local averages' ratio exceeds this"),
    F(ada_mul, 'd', "DARTS-ADA: weight-decay multiplier per roll back"),
    F(ada_max_wd, 'd', "DARTS-ADA: largest weight decay"),
    F(pc_k, 'i', "PC-DARTS: ops see 1/K of each edge's channels, the rest bypass (1 = off; pcdarts: 4)"),
    F(edge_norm, 'i', "PC-DARTS: edge weights beta, softmax over each node's edges (0/1; pcdarts: 1)"),
    F(warmup_epochs, 'i', "PC-DARTS, GDAS: epochs of weight steps only before arch steps start (pcdarts: 15, gaea-gdas: 50)"),
    F(zero_one_weight, 'd', "FairDARTS: zero-one loss weight w01 (paper: 10)"),
    F(derive_threshold, 'd', "FairDARTS: keep an op only if its weight >= this (paper: 0.85; 0 = argmax derivation)"),
    F(drnas_reg, 's', "DrNAS: regulariser l2 (Adam decay --arch-weight-decay) | kl (KL to Dir(1) x --reg-scale)"),
    F(reg_scale, 'd', "DrNAS: weight of the KL regulariser (paper: 1e-3)"),
    F(tau_max, 'd', "SNAS/GDAS: Gumbel temperature at epoch 0 (snas: 1, gdas: 10)"),
    F(tau_min, 'd', "SNAS/GDAS: final Gumbel temperature (snas: 0.03, gdas: 0.1)"),
    F(tau_epochs, 'i', "SNAS/GDAS: temperature schedule length in epochs (0 = --epochs; snas: 150)"),
    F(resource_lambda, 'd', "SNAS: resource penalty weight (README: 1.5e-3; 0 = off)"),
    F(resource_cost, 's', "SNAS: resource of the penalty: flops | params"),
    F(log_penalty, 'i', "SNAS: penalise log(cost) (0/1; README: 1)"),
    F(resource_ratio, 'd', "SNAS: weight of reduction cells' cost relative to normal cells'"),
    F(arch_grad_clip, 'd', "SNAS: global-norm clip of alpha's gradient (0 = off; snas: 10)"),
    F(arch_update, 's', "alpha's update: adam | eg (GAEA's exponentiated gradient on the simplex; gaea*: eg; pcdarts, gdas may use it)"),
    F(edge_lr, 'd', "--arch-update eg with edge weights (gaea-pcdarts): EG lr of each node's edge simplex (0 = --arch-lr)"),
    F(derive, 's', "derivation: default (the space's) | edge_all (SNAS: every edge, argmax with 'none')"),
    F(drop_path_prob, 'd', "RobustDARTS ScheduledDropPath: drop each mixed edge's output with p * epoch / (epochs - 1) (darts space; 0 = off)"),
    F(prime_act, 's', "DARTS-PRIME: softmax | clip (CRB: clip(alpha,0,1), 'none' removed, alpha <= 0 pruned)"),
    F(prime_reg, 's', "DARTS-PRIME: none | prox | admm (prime: prox)"),
    F(prime_rho, 'd', "DARTS-PRIME: penalty weight rho of prox and ADMM"),
    F(admm_mode, 's', "DARTS-PRIME: code (the reference's ADMM updates) | clean (textbook scaled ADMM)"),
    F(admm_freq, 'i', "DARTS-PRIME: alpha steps between ADMM Z/U updates (code mode: fires every admm_freq - 1, as the reference)"),
    F(dyno_schedule, 'i', "DARTS-PRIME: 1 informed alpha-step schedule (gradient energy), 0 every sched_freq-th step"),
    F(sched_freq, 'i', "DARTS-PRIME: f, weight steps per alpha step on average (prime: 10)"),
    F(sched_tau0, 'd', "DARTS-PRIME: informed schedule's initial threshold tau"),
    F(sched_mult, 'd', "DARTS-PRIME: informed schedule's threshold multiplier m"),
    F(sched_ewma, 'd', "DARTS-PRIME: weight of the newest gradient energy in its moving average"),
    F(state_bn, 'i', "DARTS-PRIME: BatchNorm (no affine) on every node sum: 1, 0, -1 = with --prime-act clip"),
    F(dyno_split, 'i', "DARTS-PRIME: 1 weights train on 1 - 1/(1+sched_freq) of the search data, alpha on the rest (prime: 1)"),
};
#undef F
#define N_FIELDS (int)(sizeof fields / sizeof fields[0])

dnas_status dnas_search_config_default(dnas_search_config *c, const char *algo) {
    memset(c, 0, sizeof *c);
    if (!algo) algo = "darts1";
    if (!dnas_strategy_find(algo)) return DNAS_ERR_INVALID_ARG;
    snprintf(c->space, sizeof c->space, "nb201");
    snprintf(c->algo, sizeof c->algo, "%s", algo);
    snprintf(c->dataset, sizeof c->dataset, "cifar10");
    /* AutoDL DARTS-V1/V2 on NB201 (configs/nas-benchmark/algos/DARTS.config, ALGORITHMS.md §B1). */
    c->epochs = 50;
    c->batch = 64;
    c->channels = 16;
    c->cells = 0; /* the space's default: NB201 N = 5 cells per stage, DARTS L = 8 layers */
    c->track_bn = 0;
    c->threads = 0;
    c->image = 32;
    c->seed = 1;
    c->lr = 0.025;
    c->lr_min = 0.001;
    c->momentum = 0.9;
    c->weight_decay = 5e-4;
    c->grad_clip = 5.0;
    c->nesterov = 1;
    c->arch_lr = 3e-4;
    c->arch_beta1 = 0.5;
    c->arch_beta2 = 0.999;
    c->arch_weight_decay = 1e-3;
    c->train_images = 0;
    c->log_every = 50;
    c->ckpt_every = 0;
    c->progress = -1;
    c->max_steps = 0;
    snprintf(c->select, sizeof c->select, "magnitude");
    c->inner_steps = 4;
    c->pt_interval = 5;
    c->neumann_k = 2;
    /* GDAS' temperature (AutoDL GDAS.py: 10 -> 0.1 over the search, ALGORITHMS.md §B6). */
    c->tau_max = 10.0;
    c->tau_min = 0.1;
    snprintf(c->resource_cost, sizeof c->resource_cost, "flops");
    c->resource_ratio = 1.0;
    snprintf(c->arch_update, sizeof c->arch_update, "adam");
    snprintf(c->derive, sizeof c->derive, "default");
    if (strcmp(algo, "snas") == 0) {
        /* SNAS (ALGORITHMS.md §B5): 150 epochs single-level on all training images, w SGD
         * 0.025 -> 0.001 momentum 0.9 (no Nesterov) wd 3e-4 clip 5; alpha plain SGD lr 3e-4
         * (the single-GPU path) with its gradient norm clipped at 10; temperature 1 -> 0.03
         * over a hard-coded 150 epochs; the README's resource penalty 1.5e-3 log(cost). */
        c->epochs = 150;
        c->weight_decay = 3e-4;
        c->nesterov = 0;
        c->arch_weight_decay = 0;
        c->single_level = 1;
        c->tau_max = 1.0;
        c->tau_min = 0.03;
        c->tau_epochs = 150;
        c->resource_lambda = 1.5e-3;
        c->log_penalty = 1;
        c->arch_grad_clip = 10.0;
    } else if (strcmp(algo, "gdas") == 0 || strcmp(algo, "gaea-gdas") == 0) {
        /* GDAS on NB201 (AutoDL, §B6): 250 epochs, the rest as DARTS-V1's setting. */
        c->epochs = 250;
    }
    c->pc_k = 1;
    c->zero_one_weight = 10.0;
    snprintf(c->drnas_reg, sizeof c->drnas_reg, "l2");
    c->reg_scale = 1e-3;
    if (strcmp(algo, "fairdarts") == 0) {
        /* FairDARTS train_search.py (ALGORITHMS.md §B8): no 'none', batch 128, lr 0.005 ->
         * 0.001 without Nesterov, wd 3e-4; alpha Adam lr 3e-3, betas (0.9, 0.999), wd 1e-3;
         * w01 = 10 from the first step; threshold derivation at 0.85. */
        snprintf(c->ops, sizeof c->ops, "no-none");
        c->batch = 128;
        c->lr = 0.005;
        c->weight_decay = 3e-4;
        c->nesterov = 0;
        c->arch_lr = 3e-3;
        c->arch_beta1 = 0.9;
        c->derive_threshold = 0.85;
    } else if (strcmp(algo, "drnas") == 0) {
        /* DrNAS 201-space/train_search.py (ALGORITHMS.md §B10): 100 epochs, batch 64, lr 0.025
         * -> 0.001, wd 3e-4, alpha Adam lr 3e-4 betas (0.5, 0.999), L2 1e-3 on alpha. */
        c->epochs = 100;
        c->weight_decay = 3e-4;
        c->nesterov = 0;
    }
    if (strcmp(algo, "idarts") == 0) {
        /* iDARTS NB201 notebook (ALGORITHMS.md §B2): T = 4 inner steps, K = 2, gamma = the
         * weight lr; the rest is AutoDL's DARTS setting it builds on. */
    } else if (strcmp(algo, "gaea") == 0) {
        /* GAEA DARTS on NB201 (gaea_release configs, ALGORITHMS.md §B4): 25 epochs of a 50-epoch
         * cosine, SGD wd 3e-4 without Nesterov, C = 24, EG lr 0.1, no arch weight decay, no
         * 'none' op (the README's exclude_zero). */
        c->epochs = 25;
        c->lr_epochs = 50;
        c->weight_decay = 3e-4;
        c->nesterov = 0;
        c->channels = 24;
        c->arch_lr = 0.1;
        c->arch_weight_decay = 0;
        snprintf(c->ops, sizeof c->ops, "no-none");
    }
    if (strcmp(algo, "pcdarts") == 0 || strcmp(algo, "gaea-pcdarts") == 0) {
        /* PC-DARTS train_search.py (ALGORITHMS.md §B7): K = 4, edge normalisation, batch 256,
         * lr 0.1 -> 0 cosine, momentum 0.9 (no Nesterov), wd 3e-4, clip 5; alpha/beta Adam lr
         * 6e-4, betas (0.5, 0.999), wd 1e-3, first order; arch steps from epoch 15. */
        c->pc_k = 4;
        c->edge_norm = 1;
        c->warmup_epochs = 15;
        c->batch = 256;
        c->lr = 0.1;
        c->lr_min = 0;
        c->weight_decay = 3e-4;
        c->nesterov = 0;
        c->arch_lr = 6e-4;
    }
    if (strncmp(algo, "gaea", 4) == 0) snprintf(c->arch_update, sizeof c->arch_update, "eg");
    if (strcmp(algo, "gaea-pcdarts") == 0) {
        /* GAEA PC-DARTS (ALGORITHMS.md §B4; gaea_release mode/search_pcdarts.yaml +
         * method_eedarts_space_pcdarts.yaml): PC-DARTS' supernet and weight settings (above),
         * theta and the edge weights on their simplices by EG at lr 0.1 each (--edge-lr 0 = --arch-lr),
         * no arch weight decay, no warm-up (theta updated from the first step), all ops. */
        c->warmup_epochs = 0;
        c->arch_lr = 0.1;
        c->arch_weight_decay = 0;
    } else if (strcmp(algo, "gaea-gdas") == 0) {
        /* GAEA GDAS (§B4; method_egdas_space_nasbench201.yaml + mode/search_nasbench201.yaml):
         * GDAS' 250 epochs and tau 10 -> 0.1 (set above), theta by EG lr 0.01 with the entropic
         * regulariser 0.01, 50 warm-up epochs (no arch step, tau held at 10), all ops
         * (exclude_zero false); weights lr 0.025 -> 0.001, wd 3e-4, no Nesterov, C = 24. */
        c->warmup_epochs = 50;
        c->arch_lr = 0.01;
        c->entropy_reg = 0.01;
        c->arch_weight_decay = 0;
        c->weight_decay = 3e-4;
        c->nesterov = 0;
        c->channels = 24;
    }
    /* Hessian tracking and RobustDARTS (automl/RobustDARTS, ALGORITHMS.md §B9): eigenvalue
     * every 2nd epoch; ES window 5, delta 4, factor 1.3, start 10; ADA x3 up to 0.03. */
    c->ev_every = 2;
    c->ev_iters = 50;
    c->ev_tol = 1e-4;
    snprintf(c->rdarts_reg, sizeof c->rdarts_reg, "l2");
    c->rdarts_factor = 3e-4;
    c->rdarts_order = 2;
    snprintf(c->rdarts_es, sizeof c->rdarts_es, "es");
    c->es_window = 5;
    c->es_delta = 4;
    c->es_start = 10;
    c->es_factor = 1.3;
    c->ada_mul = 3.0;
    c->ada_max_wd = 0.03;
    if (strcmp(algo, "rdarts") == 0) c->track_ev = 1;
    /* DARTS-PRIME (k8lion/DARTS-PRIME, ALGORITHMS-2.md §B(a)-(b)): the reference's settings for
     * every algo (so the checks pass), then its recommended run for prime: softmax + prox +
     * informed schedule with f = 10, on the DARTS space (C 16, 8 layers, batch 64); w SGD 0.025
     * -> 0.001 over 50 epochs, momentum 0.9 without Nesterov, wd 3e-4, clip 5; alpha Adam 3e-4,
     * betas (0.5, 0.999), wd 1e-3 (the defaults above). */
    snprintf(c->prime_act, sizeof c->prime_act, "softmax");
    snprintf(c->prime_reg, sizeof c->prime_reg, "none");
    c->prime_rho = 0.1;
    snprintf(c->admm_mode, sizeof c->admm_mode, "code");
    c->admm_freq = 10;
    c->sched_freq = 1;
    c->sched_tau0 = 1.0;
    c->sched_mult = 1.05;
    c->sched_ewma = 0.2;
    c->state_bn = -1;
    if (strcmp(algo, "prime") == 0) {
        snprintf(c->space, sizeof c->space, "darts");
        snprintf(c->prime_reg, sizeof c->prime_reg, "prox");
        c->dyno_schedule = 1;
        c->dyno_split = 1;
        c->sched_freq = 10;
        c->weight_decay = 3e-4;
        c->nesterov = 0;
    }
    return DNAS_OK;
}

dnas_status dnas_search_config_preset(dnas_search_config *c, const char *name) {
    if (strcmp(name, "quick") != 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "--preset: unknown preset '%s' (known: quick)", name);
    /* The reduced CPU protocol (README, bench/results/README.md): a search plus DARTS-PT
     * selection in under 15 minutes on 2 cores. Each method's epochs are scaled by 14/5 (DARTS:
     * 50 -> 140, GAEA: 25 of a 50-epoch cosine -> 70 of 140), which keeps the paper's ratio of
     * steps between methods and gives alpha 11,060 Adam steps (the paper: 19,550): alpha's
     * travel grows with the number of arch steps, and 30 epochs (2,370 steps) left it at its
     * init. */
    if (c->lr_epochs > 0)
        c->lr_epochs = c->lr_epochs * 14 / 5;
    c->epochs = c->epochs * 14 / 5;
    /* Every other schedule counted in epochs stretches with them, so it ends where the paper's
     * does relative to the search (SNAS' temperature, PC-DARTS/GAEA-GDAS warm-up, the Hessian
     * tracking and DARTS-ES's earliest epoch); ES's window and delta count eigenvalues. */
    c->tau_epochs = c->tau_epochs * 14 / 5; /* 0 (= --epochs) stays 0 */
    c->warmup_epochs = c->warmup_epochs * 14 / 5;
    c->ev_every = c->ev_every * 14 / 5;
    c->es_start = c->es_start * 14 / 5;
    c->channels = 8;
    c->cells = 1;
    c->train_images = 5000;
    c->pt_interval = 2;
    return DNAS_OK;
}

dnas_status dnas_search_config_set(dnas_search_config *c, const char *key, const char *value) {
    const field *f;
    DNAS_TRY(dnas_field_lookup(fields, N_FIELDS, key, value, "search", &f));
    return dnas_field_set(f, c, key, value);
}

void dnas_search_config_help(const dnas_search_config *c, void *out) {
    dnas_fields_help(fields, N_FIELDS, c, out);
}

void dnas_search_config_write(const dnas_search_config *c, dnas_sbuf *sb, int json) {
    dnas_fields_write(fields, N_FIELDS, c, sb, json);
}

static dnas_status set_stored(void *c, const char *key, const char *value) {
    return dnas_search_config_set(c, key, value);
}

dnas_status dnas_search_config_parse(const char *text, dnas_search_config *c) {
    return dnas_fields_parse(text, set_stored, c);
}
