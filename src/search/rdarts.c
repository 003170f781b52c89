/* RobustDARTS (Zela et al. 2020, automl/RobustDARTS, ALGORITHMS.md §B9): DARTS (first or
 * second order, arch step first as in quark0's loop) with
 *  - L2 regularisation: the SGD weight decay is --rdarts-factor (--rdarts-reg l2);
 *    ScheduledDropPath is --drop-path-prob (any method on the DARTS space: the supernet's
 *    drop-path nodes, dnas_search_drop_prob below);
 *  - DARTS-ES: the dominant eigenvalue of the validation Hessian w.r.t. alpha (hessian.c) every
 *    ev_every epochs; local averages of the last `window` of them, attributed to
 *    la_epoch = epoch - every * floor(window/2); once la_epoch - every * delta >= start, the
 *    search stops when the average now over the one `delta` entries earlier exceeds `factor`,
 *    and returns the architecture of stop_epoch = la_epoch - every * delta;
 *  - DARTS-ADA: on the same trigger, restore the whole state at the end of stop_epoch (a
 *    snapshot file per eigenvalue epoch, as the reference saves a checkpoint per epoch),
 *    multiply the weight decay by ada_mul and go on, while the result stays <= ada_max_wd.
 * alpha at each eigenvalue epoch is kept in a ring long enough to reach stop_epoch; the
 * eigenvalues, that ring, the weight decay and the number of increases are checkpointed. */
#include "search.h"
#include "../core/alloc.h"
#include "../core/log.h"
#include "../io/checkpoint.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    void *inner;      /* DARTS-V2's state (second order) */
    int n_ev, cap;    /* eigenvalues so far, and room */
    double *ev;
    int *ev_epoch;
    int ring_n;       /* alpha snapshots: the last ring_n eigenvalue epochs */
    float *ring;
    int *ring_epoch;  /* -1: empty */
    double wd;        /* the current L2 weight decay */
    int increases;    /* DARTS-ADA roll backs so far */
} rdarts_priv;

/* ---- the rules (pure) ------------------------------------------------------------------------ */
static double mean_last(const double *ev, int n, int k) {
    if (k > n) k = n;
    double s = 0.0;
    for (int i = n - k; i < n; i++) s += ev[i];
    return s / k;
}

int dnas_es_check(const dnas_es_rule *r, const double *ev, int n, int epoch, int *stop_epoch,
                  double *ratio) {
    *ratio = 0.0;
    /* The reference forms no local average at the last epoch, so it cannot stop there. */
    if (epoch >= r->epochs - 1) return 0;
    int need = (r->window + 1) / 2; /* averages start with ceil(window/2) eigenvalues */
    int la_epoch = epoch - r->every * (r->window / 2);
    int se = la_epoch - r->every * r->delta;
    if (n < need || se < r->start || n - r->delta < need) return 0;
    double now = mean_last(ev, n, r->window), before = mean_last(ev, n - r->delta, r->window);
    if (!(before > 0.0)) return 0;
    *ratio = now / before;
    if (!(*ratio > r->factor)) return 0;
    *stop_epoch = se;
    return 1;
}

/* RobustDARTS train_search.py: drop_path_prob * epoch / (epochs - 1), set per epoch (the
 * last epoch reaches p). One epoch: 0. */
float dnas_search_drop_prob(const dnas_search_config *c, int epoch) {
    if (!(c->drop_path_prob > 0) || c->epochs <= 1) return 0.0f;
    return (float)(c->drop_path_prob * epoch / (c->epochs - 1));
}

int dnas_ada_next(double wd, double mul, double max_wd, double *next) {
    double w = wd * mul;
    if (!(w <= max_wd * (1.0 + 1e-9))) return 0;
    *next = w;
    return 1;
}

static dnas_es_rule rule_of(const dnas_search_config *c) {
    return (dnas_es_rule){c->ev_every, c->es_window, c->es_delta, c->es_start, c->epochs,
                          c->es_factor};
}

/* ---- the strategy ---------------------------------------------------------------------------- */
static dnas_status rdarts_init(dnas_search *s) {
    rdarts_priv *p = dnas_calloc(sizeof *p, "RobustDARTS state");
    if (!p) return DNAS_ERR_OOM;
    const dnas_search_config *c = &s->cfg;
    p->cap = c->epochs / c->ev_every + 2;
    p->ring_n = c->es_window / 2 + c->es_delta + 1;
    p->ev = dnas_alloc((size_t)p->cap * sizeof(double), "RobustDARTS eigenvalues");
    p->ev_epoch = dnas_alloc((size_t)p->cap * sizeof(int), "RobustDARTS eigenvalue epochs");
    p->ring = dnas_calloc((size_t)p->ring_n * s->n_alpha * sizeof(float), "RobustDARTS alpha snapshots");
    p->ring_epoch = dnas_alloc((size_t)p->ring_n * sizeof(int), "RobustDARTS snapshot epochs");
    if (p->ring_epoch)
        for (int i = 0; i < p->ring_n; i++) p->ring_epoch[i] = -1;
    p->wd = strcmp(c->rdarts_reg, "l2") == 0 ? c->rdarts_factor : c->weight_decay;
    s->wopt.weight_decay = (float)p->wd;
    dnas_status st = p->ev && p->ev_epoch && p->ring && p->ring_epoch ? DNAS_OK : DNAS_ERR_OOM;
    if (st == DNAS_OK && c->rdarts_order == 2) {
        s->priv = NULL;
        st = dnas_strategy_darts2.init(s);
        p->inner = s->priv;
    }
    s->priv = p;
    return st;
}

static void rdarts_destroy(dnas_search *s) {
    rdarts_priv *p = s->priv;
    if (!p) return;
    if (p->inner) {
        s->priv = p->inner;
        dnas_strategy_darts2.destroy(s);
    }
    dnas_free(p->ev);
    dnas_free(p->ev_epoch);
    dnas_free(p->ring);
    dnas_free(p->ring_epoch);
    dnas_free(p);
    s->priv = NULL;
}

static dnas_status rdarts_arch_step(dnas_search *s, const dnas_data_batch *train,
                                    const dnas_data_batch *valid) {
    rdarts_priv *p = s->priv;
    if (!p->inner) return dnas_arch_step_first_order(s, train, valid);
    s->priv = p->inner; /* DARTS-V2's step with its own state */
    dnas_status st = dnas_strategy_darts2.arch_step(s, train, valid);
    s->priv = p;
    return st;
}

/* ---- end of an eigenvalue epoch -------------------------------------------------------------- */
static void snapshot_path(char *buf, size_t cap, const char *dir, int epoch) {
    snprintf(buf, cap, "%s/rdarts-ada-%d.dnas", dir, epoch);
}

static dnas_status log_decision(dnas_search *s, const char *log_path, const char *action,
                                int stop_epoch, double ratio, const char *arch) {
    rdarts_priv *p = s->priv;
    dnas_sbuf sb = {0};
    dnas_sb_printf(&sb, "{\"kind\": \"early_stop\", \"epoch\": %d, \"stop_epoch\": %d, "
                   "\"ratio\": %.6g, \"action\": \"%s\", \"weight_decay\": %.6g, \"arch\": ",
                   s->epoch, stop_epoch, ratio, action, p->wd);
    dnas_sb_json_string(&sb, arch);
    dnas_sb_printf(&sb, "}");
    dnas_status st = sb.oom ? DNAS_ERR_OOM : dnas_append_line(log_path, sb.buf);
    dnas_sb_free(&sb);
    return st;
}

/* The whole state at the end of restore_epoch from its snapshot, keeping this run's
 * eigenvalue history up to that epoch (the same as the snapshot's: the history only grows). */
static dnas_status roll_back(dnas_search *s, const char *dir, int restore_epoch) {
    rdarts_priv *p = s->priv;
    char path[700];
    snapshot_path(path, sizeof path, dir, restore_epoch);
    int n = 0;
    while (n < p->n_ev && p->ev_epoch[n] <= restore_epoch) n++;
    double *ev = dnas_alloc((size_t)p->cap * sizeof(double), "RobustDARTS eigenvalues");
    int *ee = dnas_alloc((size_t)p->cap * sizeof(int), "RobustDARTS eigenvalue epochs");
    if (!ev || !ee) {
        dnas_free(ev);
        dnas_free(ee);
        return DNAS_ERR_OOM;
    }
    memcpy(ev, p->ev, (size_t)n * sizeof(double));
    memcpy(ee, p->ev_epoch, (size_t)n * sizeof(int));
    double wd = p->wd;
    int inc = p->increases;
    uint64_t lb = 0, ab = 0;
    dnas_status st = dnas_search_load(s, path, &lb, &ab);
    memcpy(p->ev, ev, (size_t)n * sizeof(double));
    memcpy(p->ev_epoch, ee, (size_t)n * sizeof(int));
    p->n_ev = n;
    p->wd = wd;
    p->increases = inc;
    dnas_free(ev);
    dnas_free(ee);
    return st;
}

dnas_status dnas_rdarts_epoch_end(dnas_search *s, double value, const char *dir,
                                  const char *log_path, int *action) {
    rdarts_priv *p = s->priv;
    const dnas_search_config *c = &s->cfg;
    *action = DNAS_EV_NONE;
    if (p->n_ev >= p->cap) return dnas_fail(DNAS_ERR_INTERNAL, "RobustDARTS: eigenvalue history full");
    p->ev[p->n_ev] = value;
    p->ev_epoch[p->n_ev] = s->epoch;
    int slot = p->n_ev % p->ring_n;
    memcpy(p->ring + (size_t)slot * s->n_alpha, s->alpha, s->n_alpha * sizeof(float));
    p->ring_epoch[slot] = s->epoch;
    p->n_ev++;
    int ada = strcmp(c->rdarts_es, "ada") == 0;
    if (ada) {
        /* The state at the end of this epoch, positioned as a resume would find it. */
        char path[700];
        snapshot_path(path, sizeof path, dir, s->epoch);
        int e = s->epoch, st_ = s->step;
        s->epoch = e + 1;
        s->step = 0;
        dnas_status st = dnas_search_save(s, path, 0, 0);
        s->epoch = e;
        s->step = st_;
        DNAS_TRY(st);
        /* Snapshots older than any stop epoch this or a later trigger can name. */
        snapshot_path(path, sizeof path, dir, e - c->ev_every * p->ring_n);
        remove(path);
    }
    if (strcmp(c->rdarts_es, "none") == 0) return DNAS_OK;
    dnas_es_rule r = rule_of(c);
    int se = -1;
    double ratio = 0.0;
    if (!dnas_es_check(&r, p->ev, p->n_ev, s->epoch, &se, &ratio)) return DNAS_OK;

    /* The architecture of stop_epoch from the ring (always there: ring_n covers the lag). */
    const float *a = NULL;
    for (int i = 0; i < p->ring_n; i++)
        if (p->ring_epoch[i] == se) a = p->ring + (size_t)i * s->n_alpha;
    if (!a) return dnas_fail(DNAS_ERR_INTERNAL, "RobustDARTS: no alpha kept for epoch %d", se);
    float *now = dnas_alloc(s->n_alpha * sizeof(float), "RobustDARTS alpha copy");
    if (!now) return DNAS_ERR_OOM;
    memcpy(now, s->alpha, s->n_alpha * sizeof(float));
    memcpy(s->alpha, a, s->n_alpha * sizeof(float));
    char arch[DNAS_GENOTYPE_MAX];
    dnas_status st = dnas_search_genotype(s, arch, sizeof arch);
    double next = 0.0;
    if (st != DNAS_OK) {
        memcpy(s->alpha, now, s->n_alpha * sizeof(float));
    } else if (!ada) {
        /* DARTS-ES: the search ends with the stop epoch's alpha (its genotype is the result). */
        st = log_decision(s, log_path, "stop", se, ratio, arch);
        if (st == DNAS_OK) {
            char line[DNAS_GENOTYPE_MAX + 2], path[700];
            snprintf(line, sizeof line, "%s\n", arch);
            snprintf(path, sizeof path, "%s/genotype.txt", dir);
            st = dnas_write_file_atomic(path, line, strlen(line));
        }
        dnas_log(DNAS_LOG_INFO, "DARTS-ES: eigenvalue ratio %.3f > %g at epoch %d: stopping with the "
                "architecture of epoch %d: %s", ratio, c->es_factor, s->epoch + 1, se + 1, arch);
        *action = DNAS_EV_STOP;
    } else if (!dnas_ada_next(p->wd, c->ada_mul, c->ada_max_wd, &next)) {
        memcpy(s->alpha, now, s->n_alpha * sizeof(float));
        st = log_decision(s, log_path, "ignored", se, ratio, arch); /* the largest wd reached */
    } else {
        int trigger = s->epoch;
        st = log_decision(s, log_path, "rollback", se, ratio, arch);
        if (st == DNAS_OK) st = roll_back(s, dir, se);
        if (st == DNAS_OK) {
            dnas_log(DNAS_LOG_INFO, "DARTS-ADA: eigenvalue ratio %.3f > %g at epoch %d: back to the end "
                    "of epoch %d with weight decay %g -> %g", ratio, c->es_factor,
                    trigger + 1, se + 1, p->wd, next);
            p->wd = next;
            p->increases++;
            s->wopt.weight_decay = (float)next;
            s->epoch = se; /* the caller advances it, as after any epoch */
            *action = DNAS_EV_ROLLBACK;
        }
    }
    dnas_free(now);
    return st;
}

/* ---- checkpoint ------------------------------------------------------------------------------ */
dnas_status dnas_rdarts_ckpt_put(dnas_search *s, struct dnas_ckpt_writer *w) {
    if (s->strat != &dnas_strategy_rdarts) return DNAS_OK;
    rdarts_priv *p = s->priv;
    DNAS_TRY(dnas_ckpt_put(w, "rdarts.ev", p->ev, (size_t)p->n_ev * sizeof(double)));
    DNAS_TRY(dnas_ckpt_put(w, "rdarts.ev_epoch", p->ev_epoch, (size_t)p->n_ev * sizeof(int)));
    DNAS_TRY(dnas_ckpt_put(w, "rdarts.ring", p->ring, (size_t)p->ring_n * s->n_alpha * sizeof(float)));
    DNAS_TRY(dnas_ckpt_put(w, "rdarts.ring_epoch", p->ring_epoch, (size_t)p->ring_n * sizeof(int)));
    DNAS_TRY(dnas_ckpt_put(w, "rdarts.wd", &p->wd, sizeof p->wd));
    return dnas_ckpt_put_u64(w, "rdarts.increases", (uint64_t)p->increases);
}

dnas_status dnas_rdarts_ckpt_get(dnas_search *s, const struct dnas_ckpt *ck, const char *path) {
    if (s->strat != &dnas_strategy_rdarts) return DNAS_OK;
    rdarts_priv *p = s->priv;
    size_t bytes = 0;
    if (!dnas_ckpt_find(ck, "rdarts.ev", &bytes) || bytes % sizeof(double) ||
        bytes / sizeof(double) > (size_t)p->cap)
        return dnas_fail(DNAS_ERR_FORMAT, "%s: no or an impossible RobustDARTS eigenvalue history", path);
    int n = (int)(bytes / sizeof(double));
    uint64_t inc = 0;
    DNAS_TRY(dnas_ckpt_get(ck, "rdarts.ev", p->ev, (size_t)n * sizeof(double)));
    DNAS_TRY(dnas_ckpt_get(ck, "rdarts.ev_epoch", p->ev_epoch, (size_t)n * sizeof(int)));
    DNAS_TRY(dnas_ckpt_get(ck, "rdarts.ring", p->ring, (size_t)p->ring_n * s->n_alpha * sizeof(float)));
    DNAS_TRY(dnas_ckpt_get(ck, "rdarts.ring_epoch", p->ring_epoch, (size_t)p->ring_n * sizeof(int)));
    DNAS_TRY(dnas_ckpt_get(ck, "rdarts.wd", &p->wd, sizeof p->wd));
    DNAS_TRY(dnas_ckpt_get_u64(ck, "rdarts.increases", &inc));
    if (!(p->wd >= 0 && p->wd < 1e30) || inc > 1000000)
        return dnas_fail(DNAS_ERR_FORMAT, "%s: impossible RobustDARTS weight decay state", path);
    p->n_ev = n;
    p->increases = (int)inc;
    s->wopt.weight_decay = (float)p->wd;
    return DNAS_OK;
}

/* The arch step precedes the weight step (quark0's loop, which RobustDARTS runs). */
const dnas_strategy dnas_strategy_rdarts = {
    "rdarts", 1, rdarts_init, rdarts_destroy, dnas_mix_softmax, dnas_mix_softmax_backward,
    dnas_weights_softmax, dnas_search_weight_step_sgd, rdarts_arch_step,
    dnas_strategy_no_epoch_end};
