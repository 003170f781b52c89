/* DARTS-PT on NB201-style spaces (ALGORITHMS.md §B3, darts-pt nasbench201/projection.py):
 *  - a new weight optimiser: SGD, constant lr (--pt-lr, default the search lr / 10), the
 *    search's momentum and weight decay, no Nesterov, fresh momentum;
 *  - tune epochs = interval x (rows - 1); a decision at every interval-th epoch and at the
 *    last one, each on a random undecided row: for each candidate op, that op's mixing weight
 *    is set to 0 (others not renormalised, decided rows one-hot) and the supernet's accuracy
 *    on the whole validation split is measured; the op whose removal gives the lowest
 *    accuracy is kept;
 *  - one epoch of the search's own steps (weight step + its arch step; none with
 *    --fix-alpha) between decisions.
 * Deliberate differences: evaluation without augmentation (the reference reuses the train
 * transform), and no tuning epoch after the last decision (it cannot change the result). */
#include "select.h"
#include "../core/alloc.h"
#include "../core/log.h"
#include "../core/rng.h"
#include <stdio.h>
#include <string.h>

static int n_rows(const dnas_search *s) { return s->space->groups * s->space->rows; }

static int n_decided(const dnas_search *s) {
    int n = 0;
    for (int r = 0; r < n_rows(s); r++) n += s->fixed[r] >= 0;
    return n;
}

/* Decisions due by the end of epoch e's projection point. */
static int due(int e, int interval, int tune_epochs, int rows) {
    if (e >= tune_epochs - 1) return rows; /* the last projection decides what is left */
    int n = 0;
    for (int k = 0; k <= e; k++) n += (k % interval == 0 || k == tune_epochs - 1);
    return n < rows ? n : rows;
}

dnas_status dnas_select_accuracy(dnas_search *s, const dnas_cifar *data, const int *idx, int n,
                                 const float *mix, double *acc) {
    dnas_graph *g = s->g;
    float *bufs0 = dnas_alloc((g->n_bufs ? g->n_bufs : 1) * sizeof(float), "BN statistics copy");
    dnas_loader *L = NULL;
    if (!bufs0) return DNAS_ERR_OOM;
    memcpy(bufs0, g->bufs, g->n_bufs * sizeof(float));
    dnas_loader_config lc;
    dnas_loader_config_eval(&lc, data, s->cfg.batch);
    lc.idx = idx;
    lc.n_idx = n;
    dnas_status st = dnas_loader_create(&lc, &L);
    long correct = 0, seen = 0;
    for (int i = 0; st == DNAS_OK && i < dnas_loader_steps(L); i++) {
        dnas_loader_batch b;
        st = dnas_loader_next(L, &b);
        if (st == DNAS_OK) st = dnas_search_set_batch(s, &b.train);
        if (st != DNAS_OK) break;
        memcpy(g->mix, mix, (size_t)g->n_mix * sizeof(float));
        st = dnas_graph_forward(g);
        correct += g->correct;
        seen += b.train.n;
    }
    memcpy(g->bufs, bufs0, g->n_bufs * sizeof(float));
    dnas_free(bufs0);
    dnas_loader_destroy(L);
    *acc = seen ? 100.0 * (double)correct / (double)seen : 0.0;
    return st;
}

typedef struct {
    const dnas_cifar *data;
    const dnas_split *sp;
} valid_ctx;

static dnas_status valid_accuracy(void *ctx, dnas_search *s, const float *mix, double *acc) {
    valid_ctx *v = ctx;
    return dnas_select_accuracy(s, v->data, v->sp->valid, v->sp->n_valid, mix, acc);
}

dnas_status dnas_pt_begin(dnas_search *s) {
    if (s->fixed) return DNAS_OK;
    int rows = n_rows(s);
    s->fixed = dnas_alloc((size_t)rows * sizeof(int), "selection state");
    if (!s->fixed) return DNAS_ERR_OOM;
    for (int r = 0; r < rows; r++) s->fixed[r] = -1;
    s->select_epoch = 0;
    memset(s->wopt.buf, 0, s->wopt.n * sizeof(float)); /* the new optimiser's momentum */
    return DNAS_OK;
}

dnas_status dnas_pt_decide(dnas_search *s, dnas_pt_score_fn score, void *ctx, const char *log,
                           int epoch) {
    int rows = n_rows(s), cols = s->space->cols, d = n_decided(s), undecided[DNAS_MAX_ARCH], nu = 0;
    for (int r = 0; r < rows; r++)
        if (s->fixed[r] < 0) undecided[nu++] = r;
    dnas_rng rng = dnas_rng_make(s->cfg.seed, 0x9E7A0000u + (uint64_t)d);
    int row = undecided[dnas_rng_below(&rng, (uint32_t)nu)];
    float base[DNAS_MAX_ARCH], w[DNAS_MAX_ARCH];
    double acc[64];
    dnas_search_weights(s, base);
    int best = -1;
    for (int k = 0; k < cols; k++) {
        acc[k] = -1.0;
        if (!s->cand[row * cols + k]) continue;
        memcpy(w, base, s->n_alpha * sizeof(float));
        w[row * cols + k] = 0.0f;
        DNAS_TRY(score(ctx, s, w, &acc[k]));
        if (best < 0 || acc[k] < acc[best]) best = k;
    }
    s->fixed[row] = best;
    int group = row / s->space->rows;
    dnas_sbuf sb = {0};
    dnas_sb_printf(&sb, "{\"kind\": \"pt_decision\", \"decision\": %d, \"epoch\": %d, \"group\": ",
                   d + 1, epoch);
    dnas_sb_json_string(&sb, s->space->group_names[group]);
    dnas_sb_printf(&sb, ", \"row\": %d, \"acc_without\": {", row % s->space->rows);
    int first = 1;
    for (int k = 0; k < cols; k++) {
        if (acc[k] < 0) continue;
        dnas_sb_printf(&sb, "%s", first ? "" : ", ");
        dnas_sb_json_string(&sb, s->space->ops[k]);
        dnas_sb_printf(&sb, ": %.4f", acc[k]);
        first = 0;
    }
    dnas_sb_printf(&sb, "}, \"chosen\": ");
    dnas_sb_json_string(&sb, s->space->ops[best]);
    dnas_sb_printf(&sb, "}");
    dnas_status st = sb.oom ? DNAS_ERR_OOM : log ? dnas_append_line(log, sb.buf) : DNAS_OK;
    dnas_sb_free(&sb);
    dnas_log(DNAS_LOG_INFO, "pt: decision %d/%d (epoch %d): %s row %d -> %s (accuracy without it %.2f%%)",
            d + 1, rows, epoch, s->space->group_names[group], row % s->space->rows,
            s->space->ops[best], acc[best]);
    return st;
}

static dnas_status tune_epoch(dnas_search *s, const dnas_cifar *data, const dnas_split *sp,
                              int epoch, float lr, volatile int *stop) {
    dnas_loader_config lc;
    dnas_loader_config_default(&lc);
    lc.data = data;
    lc.idx = sp->train;
    lc.n_idx = sp->n_train;
    lc.valid_data = data;
    lc.valid_idx = sp->valid;
    lc.n_valid_idx = sp->n_valid;
    lc.batch = s->cfg.batch;
    lc.seed = s->cfg.seed ^ 0x9E7A5E1EC7ull; /* other batches than the search's */
    dnas_loader *L = NULL;
    DNAS_TRY(dnas_loader_create(&lc, &L));
    dnas_status st = dnas_loader_seek(L, s->cfg.epochs + epoch, 0);
    for (int i = 0; st == DNAS_OK && i < dnas_loader_steps(L); i++) {
        dnas_loader_batch b;
        st = dnas_loader_next(L, &b);
        s->lr = lr;
        if (st == DNAS_OK) st = dnas_search_step(s, &b.train, &b.valid);
        if (st == DNAS_OK && stop && *stop)
            st = dnas_fail(DNAS_ERR_INTERRUPTED, "selection interrupted in tuning epoch %d", epoch + 1);
    }
    dnas_loader_destroy(L);
    return st;
}

dnas_status dnas_select_pt(dnas_search *s, const dnas_cifar *data, const dnas_split *sp,
                           const char *ckpt, const char *log, int progress, volatile int *stop) {
    (void)progress;
    int rows = n_rows(s), interval = s->cfg.pt_interval;
    int tune_epochs = interval * (rows - 1) > 0 ? interval * (rows - 1) : 1;
    float lr = s->cfg.pt_lr > 0 ? (float)s->cfg.pt_lr : (float)s->cfg.lr / 10.0f;
    DNAS_TRY(dnas_pt_begin(s));
    s->wopt.nesterov = 0;
    valid_ctx vc = {data, sp};
    for (int e = s->select_epoch; e < tune_epochs && n_decided(s) < rows; e++) {
        while (n_decided(s) < due(e, interval, tune_epochs, rows)) {
            DNAS_TRY(dnas_pt_decide(s, valid_accuracy, &vc, log, e));
            DNAS_TRY(dnas_search_save(s, ckpt, 0, 0));
        }
        if (n_decided(s) == rows) break;
        DNAS_TRY(tune_epoch(s, data, sp, e, lr, stop));
        s->select_epoch = e + 1;
        DNAS_TRY(dnas_search_save(s, ckpt, 0, 0));
    }
    return DNAS_OK;
}
