/* GDAS (Dong & Yang 2019, ALGORITHMS.md §B6; AutoDL search_model_gdas.py): every forward
 * draws one op per edge, h = onehot(argmax p) with p = softmax((log_softmax(alpha) + G)/tau),
 * and ONLY that op runs, forward and backward: the mixing weights are one-hot and the graph's
 * prune pass switches off every node that feeds only zero-weight inputs. The arch gradient is
 * straight through (dL/dp = dL/dh). As in AutoDL, an unsampled op j still adds its zero-valued
 * h_j to the edge output, so dL/dh_j = the sum of the node's output gradient (the graph's
 * gmix_out); the sampled op's dL/dh_k = <dy, op_k(x)>. tau falls linearly 10 -> 0.1 by epoch.
 * Order per step: w step then alpha step (Adam), as DARTS-V1. Draws are Philox at (seed,
 * step, forward of the step, row), so a resumed run samples alike with no extra state.
 * With --arch-update eg (--algo gaea-gdas, GAEA's EGDAS, §B4) alpha holds theta on each row's
 * simplex: the logits are log theta (gaea_release architect_egdas.py), dL/dtheta is the
 * straight-through gradient divided by theta, and the arch step is GAEA's exponentiated
 * gradient (gaea.c) with its entropic regulariser. --warmup-epochs delays the arch steps and
 * holds tau at its start value until then (EGDAS: tau falls from epoch max(e - warmup, 0)). */
#include "search.h"
#include "../core/alloc.h"
#include "../core/rng.h"
#include <math.h>
#include <string.h>

#define GDAS_TRIES 16 /* AutoDL resamples while p has an inf or NaN */

typedef struct {
    float *p;        /* this forward's p, per row */
    int *k;          /* this forward's sampled column, per row */
    int *readers;    /* node inputs reading each mixing weight (0: 'none', not in the graph) */
    uint8_t *live;   /* prune scratch */
    float tau;
    long step;       /* total_steps of the last forward, and which forward of that step */
    int call;
} gdas_priv;

static int n_rows(const dnas_search *s) { return s->space->groups * s->space->rows; }

static int eg(const dnas_search *s) { return dnas_arch_update_is_eg(&s->cfg); }

/* The logits a row samples from: alpha, or log theta (EG; non-candidates are never read). */
static void logits_of(const dnas_search *s, int r, float *a) {
    int cols = s->space->cols;
    const float *x = s->alpha + r * cols;
    for (int k = 0; k < cols; k++)
        a[k] = !eg(s) ? x[k] : s->cand[r * cols + k] ? logf(x[k]) : 0.0f;
}

void dnas_egdas_row_backward(const float *theta, const float *p, const float *dh,
                             const uint8_t *cand, int cols, float tau, float *dtheta) {
    float dot = 0.0f;
    for (int k = 0; k < cols; k++) dot += cand[k] ? p[k] * dh[k] : 0.0f;
    for (int k = 0; k < cols; k++)
        dtheta[k] = cand[k] ? p[k] * (dh[k] - dot) / (tau * theta[k]) : 0.0f;
}

static dnas_status gdas_init(dnas_search *s) {
    if (s->space->cols > DNAS_GUMBEL_MAX_COLS)
        return dnas_fail(DNAS_ERR_UNSUPPORTED, "--algo gdas: %d ops per edge (at most %d)",
                         s->space->cols, DNAS_GUMBEL_MAX_COLS);
    gdas_priv *p = dnas_calloc(sizeof *p, "GDAS state");
    if (!p) return DNAS_ERR_OOM;
    s->priv = p;
    p->step = -1;
    p->p = dnas_calloc(s->n_alpha * sizeof(float), "GDAS probabilities");
    p->k = dnas_calloc((size_t)n_rows(s) * sizeof(int), "GDAS samples");
    p->readers = dnas_calloc((size_t)s->g->n_mix * sizeof(int), "GDAS mix readers");
    p->live = dnas_calloc((size_t)s->g->n_vals, "GDAS prune scratch");
    s->g->gmix_out = dnas_calloc((size_t)s->g->n_mix * sizeof(float), "GDAS output-gradient sums");
    if (!p->p || !p->k || !p->readers || !p->live || !s->g->gmix_out) return DNAS_ERR_OOM;
    dnas_graph_mix_readers(s->g, p->readers);
    if (eg(s)) dnas_simplex_init(s);
    return DNAS_OK;
}

static void gdas_destroy(dnas_search *s) {
    gdas_priv *p = s->priv;
    if (s->g) {
        dnas_free(s->g->gmix_out);
        s->g->gmix_out = NULL;
        dnas_graph_unprune(s->g);
    }
    if (!p) return;
    dnas_free(p->p);
    dnas_free(p->k);
    dnas_free(p->readers);
    dnas_free(p->live);
    dnas_free(p);
    s->priv = NULL;
}

static void gdas_mix(dnas_search *s) {
    gdas_priv *p = s->priv;
    int cols = s->space->cols, rows = n_rows(s);
    uint64_t key = dnas_rng_make(s->cfg.seed, 0x6DA5).key;
    if (p->step != s->total_steps) p->step = s->total_steps, p->call = 0;
    int e = s->epoch - s->cfg.warmup_epochs;
    p->tau = dnas_gdas_temperature(&s->cfg, e > 0 ? e : 0);
    float G[DNAS_GUMBEL_MAX_COLS], a[DNAS_GUMBEL_MAX_COLS];
    for (int r = 0; r < rows; r++) {
        logits_of(s, r, a);
        const uint8_t *c = s->cand + r * cols;
        float *pr = p->p + r * cols, *m = s->g->mix + r * cols;
        int k = -1;
        for (int t = 0; t < GDAS_TRIES && k < 0; t++) {
            dnas_gumbel_noise(key, dnas_gumbel_counter(p->step, p->call, rows, r, t), c, cols, G);
            k = dnas_gumbel_hard_row(a, G, c, cols, p->tau, pr);
        }
        if (k < 0) k = dnas_space_row_argmax(a, c, cols); /* alpha itself is not finite */
        /* A decided row (selection) gets its column one-hot after mix: sample that one, or
         * the prune pass would switch it off. */
        if (s->fixed && s->fixed[r] >= 0) k = s->fixed[r];
        p->k[r] = k;
        memset(m, 0, (size_t)cols * sizeof(float));
        m[k] = 1.0f;
    }
    p->call++;
    dnas_graph_prune(s->g, p->live);
}

static void gdas_mix_backward(dnas_search *s) {
    gdas_priv *p = s->priv;
    int cols = s->space->cols;
    float dh[DNAS_GUMBEL_MAX_COLS], a[DNAS_GUMBEL_MAX_COLS];
    for (int r = 0; r < n_rows(s); r++) {
        int base = r * cols;
        float S = 0.0f; /* the row's node output-gradient sum: any column the graph reads */
        for (int j = 0; j < cols; j++)
            if (p->readers[base + j] > 0) {
                S = s->g->gmix_out[base + j];
                break;
            }
        for (int j = 0; j < cols; j++) dh[j] = j == p->k[r] ? s->g->gmix[base + j] : S;
        if (eg(s)) {
            dnas_egdas_row_backward(s->alpha + base, p->p + base, dh, s->cand + base, cols,
                                    p->tau, s->galpha + base);
            continue;
        }
        logits_of(s, r, a);
        dnas_gumbel_hard_row_backward(a, p->p + base, dh, s->cand + base, cols, p->tau,
                                      s->galpha + base);
    }
    if (eg(s)) dnas_entropy_reg_grad(s);
}

/* What is logged and derived: softmax(alpha), or theta (EG). */
static void gdas_weights(const dnas_search *s, float *out) {
    if (!eg(s)) {
        dnas_weights_softmax(s, out);
        return;
    }
    for (size_t i = 0; i < s->n_alpha; i++) out[i] = s->cand[i] ? s->alpha[i] : 0.0f;
}

static dnas_status gdas_arch_step(dnas_search *s, const dnas_data_batch *train,
                                  const dnas_data_batch *valid) {
    (void)train;
    if (s->epoch < s->cfg.warmup_epochs) return DNAS_OK; /* EGDAS' warm-up: weights only */
    DNAS_TRY(dnas_search_fwd_bwd(s, valid, DNAS_WANT_ARCH, &s->valid_m));
    dnas_search_mix_backward(s);
    dnas_search_arch_update(s);
    return DNAS_OK;
}

const dnas_strategy dnas_strategy_gdas = {
    "gdas", 0, gdas_init, gdas_destroy, gdas_mix, gdas_mix_backward, gdas_weights,
    dnas_search_weight_step_sgd, gdas_arch_step, dnas_strategy_no_epoch_end};

/* GAEA GDAS: the same pieces with --arch-update eg (its defaults, config.c); theta steps
 * before the weights (gaea_release's loop), where GDAS steps after. */
const dnas_strategy dnas_strategy_gaea_gdas = {
    "gaea-gdas", 1, gdas_init, gdas_destroy, gdas_mix, gdas_mix_backward, gdas_weights,
    dnas_search_weight_step_sgd, gdas_arch_step, dnas_strategy_no_epoch_end};
