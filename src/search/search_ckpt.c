/* Saving and restoring the complete state of a search, so that a resumed run continues
 * bit-identically: weights, BN statistics, alpha, both optimisers, position, epoch meters.
 * The data loader needs no state: its batches are a pure function of (seed, epoch, step). */
#include "search.h"
#include "../core/alloc.h"
#include "../io/checkpoint.h"
#include <stdio.h>
#include <string.h>

#define KIND_PREFIX "search/"

dnas_status dnas_search_save(dnas_search *s, const char *path, uint64_t log_bytes,
                             uint64_t alphas_bytes) {
    char kind[64];
    snprintf(kind, sizeof kind, KIND_PREFIX "%s", s->cfg.space);
    dnas_ckpt_writer *w = NULL;
    DNAS_TRY(dnas_ckpt_write_begin(path, kind, &w));
    dnas_sbuf cfg = {0};
    dnas_search_config_write(&s->cfg, &cfg, 0);
    dnas_graph *g = s->g;
    double meters[6] = {s->train_m.loss, s->train_m.correct, s->train_m.n,
                        s->valid_m.loss, s->valid_m.correct, s->valid_m.n};
    dnas_status st = cfg.oom ? dnas_fail(DNAS_ERR_OOM, "out of memory writing %s", path) : DNAS_OK;
#define PUT(name, ptr, bytes) \
    if (st == DNAS_OK) st = dnas_ckpt_put(w, name, ptr, bytes)
#define PUT64(name, v) \
    if (st == DNAS_OK) st = dnas_ckpt_put_u64(w, name, (uint64_t)(v))
    PUT("config", cfg.buf, cfg.len);
    PUT64("epoch", s->epoch);
    PUT64("step", s->step);
    PUT64("total_steps", s->total_steps);
    PUT("weights", g->w, g->n_weights * sizeof(float));
    PUT("buffers", g->bufs, g->n_bufs * sizeof(float));
    PUT("alpha", s->alpha, s->n_alpha * sizeof(float));
    PUT("sgd.momentum", s->wopt.buf, s->wopt.n * sizeof(float));
    PUT("adam.m", s->aopt.m, s->aopt.n * sizeof(float));
    PUT("adam.v", s->aopt.v, s->aopt.n * sizeof(float));
    PUT64("adam.t", s->aopt.t);
    PUT("meters", meters, sizeof meters);
    PUT("grad_norm", &s->last_grad_norm, sizeof s->last_grad_norm);
    PUT64("log_bytes", log_bytes);
    PUT64("alphas_bytes", alphas_bytes);
    if (s->cfg.data_n > 0) {
        PUT64("data.n", s->cfg.data_n);
        PUT64("data.crc", s->cfg.data_crc);
    }
    if (s->cfg.split_crc) PUT64("data.split_crc", s->cfg.split_crc);
    if (s->fixed) { /* a selection in progress (select-*.dnas) */
        PUT("select.fixed", s->fixed, (size_t)s->space->groups * s->space->rows * sizeof(int));
        PUT64("select.epoch", s->select_epoch);
    }
    if (st == DNAS_OK) st = dnas_rdarts_ckpt_put(s, w); /* RobustDARTS' history (rdarts.c) */
    if (st == DNAS_OK) st = dnas_prime_ckpt_put(s, w); /* DARTS-PRIME's state (prime.c) */
#undef PUT
#undef PUT64
    dnas_sb_free(&cfg);
    if (st != DNAS_OK) {
        dnas_ckpt_write_abort(w);
        return st;
    }
    return dnas_ckpt_write_commit(w);
}

/* Opens a checkpoint and checks it is a search of a space this build knows. */
static dnas_status open_search_ckpt(const char *path, dnas_ckpt **out) {
    DNAS_TRY(dnas_ckpt_read(path, NULL, out));
    const char *kind = dnas_ckpt_kind(*out);
    if (strncmp(kind, KIND_PREFIX, strlen(KIND_PREFIX)) != 0 ||
        !dnas_space_find(kind + strlen(KIND_PREFIX))) {
        dnas_status st = dnas_fail(DNAS_ERR_FORMAT, "%s: checkpoint is for '%s', not a search "
                                   "of a space this build supports (nb201, darts)", path, kind);
        dnas_ckpt_free(*out);
        *out = NULL;
        return st;
    }
    return DNAS_OK;
}

dnas_status dnas_search_load_config(const char *path, dnas_search_config *c) {
    dnas_ckpt *ck = NULL;
    DNAS_TRY(open_search_ckpt(path, &ck));
    size_t n = 0;
    const char *text = dnas_ckpt_find(ck, "config", &n);
    dnas_status st;
    if (!text) {
        st = dnas_fail(DNAS_ERR_FORMAT, "%s: no stored configuration", path);
    } else {
        char *z = dnas_alloc(n + 1, "stored configuration");
        st = z ? DNAS_OK : DNAS_ERR_OOM;
        if (z) {
            memcpy(z, text, n);
            z[n] = 0;
            st = dnas_search_config_default(c, "darts1");
            if (st == DNAS_OK) st = dnas_search_config_parse(z, c);
            if (st == DNAS_OK) st = dnas_search_config_check(c);
            if (st != DNAS_OK) {
                /* A bad setting here is a damaged file, not a usage error. */
                char why[512];
                snprintf(why, sizeof why, "%s", dnas_last_error());
                st = dnas_fail(st == DNAS_ERR_OOM ? st : DNAS_ERR_FORMAT,
                               "%s: stored configuration: %s", path, why);
            }
            dnas_free(z);
        }
    }
    /* The data set's fingerprint (absent in checkpoints of older versions: not checked). */
    uint64_t dn = 0, dcrc = 0;
    if (st == DNAS_OK && dnas_ckpt_find(ck, "data.n", NULL)) {
        st = dnas_ckpt_get_u64(ck, "data.n", &dn);
        if (st == DNAS_OK) st = dnas_ckpt_get_u64(ck, "data.crc", &dcrc);
        if (st == DNAS_OK && (dn > 100000000u || dcrc > 0xffffffffu))
            st = dnas_fail(DNAS_ERR_FORMAT, "%s: impossible data set fingerprint", path);
        c->data_n = (int)dn;
        c->data_crc = (uint32_t)dcrc;
    }
    uint64_t scrc = 0;
    if (st == DNAS_OK && dnas_ckpt_find(ck, "data.split_crc", NULL)) {
        st = dnas_ckpt_get_u64(ck, "data.split_crc", &scrc);
        if (st == DNAS_OK && (scrc == 0 || scrc > 0xffffffffu))
            st = dnas_fail(DNAS_ERR_FORMAT, "%s: impossible split checksum", path);
        c->split_crc = (uint32_t)scrc;
    }
    char kind_space[64];
    snprintf(kind_space, sizeof kind_space, "%s", dnas_ckpt_kind(ck) + strlen(KIND_PREFIX));
    dnas_ckpt_free(ck);
    if (st == DNAS_OK && strcmp(kind_space, c->space) != 0)
        st = dnas_fail(DNAS_ERR_FORMAT, "%s: checkpoint kind says space '%s' but its configuration "
                       "says '%s'", path, kind_space, c->space);
    return st;
}

dnas_status dnas_search_load(dnas_search *s, const char *path, uint64_t *log_bytes,
                             uint64_t *alphas_bytes) {
    dnas_ckpt *ck = NULL;
    DNAS_TRY(open_search_ckpt(path, &ck));
    dnas_graph *g = s->g;
    size_t nw = 0;
    dnas_status st = DNAS_OK;
    if (!dnas_ckpt_find(ck, "weights", &nw) || nw != g->n_weights * sizeof(float))
        st = dnas_fail(DNAS_ERR_FORMAT, "%s: holds %zu weights, the %s supernet of this "
                       "configuration has %zu (checkpoint from another space or configuration)",
                       path, nw / sizeof(float), s->cfg.space, g->n_weights);
    uint64_t epoch = 0, step = 0, total = 0, t = 0;
    double meters[6];
#define GET(name, ptr, bytes) \
    if (st == DNAS_OK) st = dnas_ckpt_get(ck, name, ptr, bytes)
#define GET64(name, v) \
    if (st == DNAS_OK) st = dnas_ckpt_get_u64(ck, name, v)
    GET64("epoch", &epoch);
    GET64("step", &step);
    GET64("total_steps", &total);
    GET("weights", g->w, g->n_weights * sizeof(float));
    GET("buffers", g->bufs, g->n_bufs * sizeof(float));
    GET("alpha", s->alpha, s->n_alpha * sizeof(float));
    GET("sgd.momentum", s->wopt.buf, s->wopt.n * sizeof(float));
    GET("adam.m", s->aopt.m, s->aopt.n * sizeof(float));
    GET("adam.v", s->aopt.v, s->aopt.n * sizeof(float));
    GET64("adam.t", &t);
    GET("meters", meters, sizeof meters);
    GET("grad_norm", &s->last_grad_norm, sizeof s->last_grad_norm);
    GET64("log_bytes", log_bytes);
    GET64("alphas_bytes", alphas_bytes);
    size_t rows = (size_t)s->space->groups * s->space->rows, nfix = 0;
    uint64_t sel_epoch = 0;
    if (st == DNAS_OK && dnas_ckpt_find(ck, "select.fixed", &nfix)) {
        if (!s->fixed) s->fixed = dnas_alloc(rows * sizeof(int), "selection state");
        st = s->fixed ? DNAS_OK : DNAS_ERR_OOM;
        GET("select.fixed", s->fixed, rows * sizeof(int));
        GET64("select.epoch", &sel_epoch);
        for (size_t r = 0; st == DNAS_OK && r < rows; r++)
            if (s->fixed[r] < -1 || s->fixed[r] >= s->space->cols)
                st = dnas_fail(DNAS_ERR_FORMAT, "%s: selection state names op %d of row %zu", path,
                               s->fixed[r], r);
        s->select_epoch = (int)sel_epoch;
    }
    if (st == DNAS_OK) st = dnas_rdarts_ckpt_get(s, ck, path); /* RobustDARTS' history (rdarts.c) */
    if (st == DNAS_OK) st = dnas_prime_ckpt_get(s, ck, path); /* DARTS-PRIME's state (prime.c) */
#undef GET
#undef GET64
    dnas_ckpt_free(ck);
    if (st != DNAS_OK) return st;
    if (epoch > (uint64_t)s->cfg.epochs || step > 1000000000ull)
        return dnas_fail(DNAS_ERR_FORMAT, "%s: position epoch %llu step %llu is impossible", path,
                         (unsigned long long)epoch, (unsigned long long)step);
    s->epoch = (int)epoch;
    s->step = (int)step;
    s->total_steps = (long)total;
    s->aopt.t = (long)t;
    s->train_m = (dnas_meter){meters[0], meters[1], meters[2]};
    s->valid_m = (dnas_meter){meters[3], meters[4], meters[5]};
    return DNAS_OK;
}
