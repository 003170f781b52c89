/* dnas train: a genotype's network trained from scratch on all the training images and tested
 * on the test set after every epoch (DARTS's evaluation protocol, NB201's benchmark protocol).
 * Run directory: config.json, log.jsonl, checkpoint.dnas, and result.json at the end.
 *
 * As the search's run loop (src/search/run.c): an initial checkpoint is written before the
 * first step, then one at each epoch's end, every --ckpt-every steps, and on a stop (SIGINT,
 * SIGTERM, --max-steps); a resume continues bit-identically at the same thread count, because
 * every random choice (data order, crop, flip, cutout, drop-path masks) is a pure function of
 * (seed, epoch, step) or of the global step, and everything else is in the checkpoint. A new
 * run refuses a directory that holds a checkpoint or a log; nothing is created before the
 * configuration, the genotype, the data and the network have all been checked. */
#include "trainer.h"
#include "optim.h"
#include "../core/alloc.h"
#include "../core/clock.h"
#include "../core/log.h"
#include "../core/rng.h"
#include "../data/data.h"
#include "../io/checkpoint.h"
#include "../io/rundir.h"
#include "../space/space.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CKPT_NAME "checkpoint.dnas"
#define KIND_PREFIX "train/"

typedef struct {
    double loss, correct, n;
} meter;

static double mean_of(const meter *m, int acc) {
    if (m->n <= 0) return 0.0;
    return acc ? 100.0 * m->correct / m->n : m->loss / m->n;
}

typedef struct dnas_trainer {
    dnas_train_config cfg;
    const dnas_space *space;
    dnas_backend *be;
    dnas_graph g;
    int graph_init;
    int main_loss;          /* value id of the main head's loss (g.loss is main + w * aux) */
    dnas_sgd opt;
    int epoch, step;        /* position of the next step */
    long total_steps;       /* steps since the start of the run: the drop-path stream */
    float lr, drop;         /* this epoch's learning rate and drop-path probability */
    meter train_m;          /* this epoch's training loss/accuracy (main head) */
    meter last_train;       /* the last finished epoch's (for result.json) */
    double test_loss, test_acc, best_acc;
    int best_epoch;         /* -1 until an epoch has been tested */
    double grad_norm;
} trainer;

typedef struct {
    char dir[512], config[600], log[600], result[600], ckpt[600];
} run_paths;

static void make_paths(run_paths *p, const char *dir) {
    snprintf(p->dir, sizeof p->dir, "%s", dir);
    snprintf(p->config, sizeof p->config, "%s/config.json", p->dir);
    snprintf(p->log, sizeof p->log, "%s/log.jsonl", p->dir);
    snprintf(p->result, sizeof p->result, "%s/result.json", p->dir);
    snprintf(p->ckpt, sizeof p->ckpt, "%s/" CKPT_NAME, p->dir);
}

/* ---- the network ------------------------------------------------------------------------- */
static void net_config(const dnas_train_config *c, int auxiliary, dnas_net_config *nc) {
    memset(nc, 0, sizeof *nc);
    nc->batch = c->batch;
    nc->classes = strcmp(c->dataset, "cifar100") == 0 ? 100 : 10;
    nc->image = DNAS_CIFAR_SIDE;
    nc->channels = c->channels;
    nc->cells = c->cells;
    nc->auxiliary = auxiliary;
    nc->aux_weight = (float)c->aux_weight;
    nc->drop_path = c->drop_path > 0;
}

/* Builds the network of c->genotype into g (not planned). */
static dnas_status build(const dnas_train_config *c, const dnas_space *sp, int auxiliary,
                         dnas_graph *g) {
    if (!sp->build_net)
        return dnas_fail(DNAS_ERR_UNSUPPORTED, "--space %s: this build has no %s network to train",
                         c->space, c->space);
    dnas_net_config nc;
    net_config(c, auxiliary, &nc);
    dnas_status st = sp->build_net(g, &nc, c->genotype);
    if (st == DNAS_OK) st = g->build_status;
    if (st != DNAS_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", dnas_last_error());
        return dnas_fail(st, "the %s network of --genotype: %s", c->space, why);
    }
    return DNAS_OK;
}

/* The main head's loss: the first input of the loss sum when an auxiliary loss is added. */
static int find_main_loss(const dnas_graph *g) {
    int p = g->vals[g->loss].producer;
    if (p >= 0 && strcmp(g->nodes[p].op->name, "loss_sum") == 0) return g->nodes[p].in[0];
    return g->loss;
}

static void trainer_destroy(trainer *t) {
    if (!t) return;
    dnas_sgd_free(&t->opt);
    if (t->graph_init) dnas_graph_free(&t->g);
    if (t->be) dnas_backend_destroy(t->be);
    dnas_free(t);
}

static dnas_status trainer_create(const dnas_train_config *c, trainer **out) {
    *out = NULL;
    trainer *t = dnas_calloc(sizeof *t, "trainer");
    if (!t) return DNAS_ERR_OOM;
    t->cfg = *c;
    t->best_epoch = -1;
    t->space = dnas_space_find(c->space);
    dnas_status st = t->space ? dnas_backend_cpu_create(c->threads, &t->be) : DNAS_ERR_INVALID_ARG;
    if (st == DNAS_OK) {
        dnas_graph_init(&t->g, t->be);
        t->graph_init = 1;
        st = build(c, t->space, c->auxiliary, &t->g);
    }
    if (st == DNAS_OK) st = dnas_graph_plan(&t->g);
    if (st == DNAS_OK)
        st = dnas_sgd_init(&t->opt, t->g.n_weights, (float)c->lr, (float)c->momentum,
                           (float)c->weight_decay, c->nesterov);
    if (st != DNAS_OK) {
        trainer_destroy(t);
        return st;
    }
    dnas_graph_init_weights(&t->g, c->seed);
    /* Drop path draws from (rng_key, global step): a key of its own per seed. */
    t->g.rng_key = c->seed * 0x9E3779B97F4A7C15ull ^ 0x7452414Eull; /* "tRAN" */
    t->main_loss = find_main_loss(&t->g);
    t->lr = (float)c->lr;
    *out = t;
    return DNAS_OK;
}

/* ---- steps ------------------------------------------------------------------------------- */
static dnas_status set_batch(trainer *t, const dnas_data_batch *b) {
    dnas_graph *g = &t->g;
    DNAS_TRY(dnas_graph_set_batch(g, b->n));
    dnas_value *in = &g->vals[g->input];
    memcpy(in->data, b->x, dnas_shape_numel(in->shape) * sizeof(float));
    memcpy(g->labels, b->y, (size_t)b->n * sizeof(int));
    return DNAS_OK;
}

/* 1 if no float of x[0, n) is an Inf or a NaN (exponent bits only, so it vectorises). */
static int all_finite(const float *x, size_t n) {
    unsigned bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    return !bad;
}

/* Forward (training mode, this step's drop-path draws), backward, clip, SGD. A diverged step
 * returns before anything is logged or saved. */
static dnas_status train_step(trainer *t, const dnas_data_batch *b) {
    dnas_graph *g = &t->g;
    DNAS_TRY(set_batch(t, b));
    g->training = 1;
    g->rng_step = (uint64_t)t->total_steps;
    g->drop_prob = t->drop;
    DNAS_TRY(dnas_graph_forward(g));
    float main_loss = g->vals[t->main_loss].data[0];
    if (!isfinite(g->loss_value) || !isfinite(main_loss))
        return dnas_fail(DNAS_ERR_INTERNAL, "loss became %g at epoch %d step %d (diverged; lower "
                         "--lr?); nothing of this step was saved", (double)g->loss_value,
                         t->epoch + 1, t->step);
    t->train_m.loss += (double)main_loss * b->n;
    t->train_m.correct += g->correct;
    t->train_m.n += b->n;
    dnas_graph_zero_grads(g, DNAS_WANT_WEIGHTS);
    DNAS_TRY(dnas_graph_backward(g, DNAS_WANT_WEIGHTS));
    /* The norm is logged either way; clipping needs it, so it costs nothing more then. */
    if (t->cfg.grad_clip > 0) t->grad_norm = dnas_clip_grad_norm(g->gw, g->n_weights, t->cfg.grad_clip);
    else t->grad_norm = sqrt(dnas_sumsq(g->gw, g->n_weights));
    t->opt.lr = t->lr;
    dnas_sgd_step(&t->opt, g->w, g->gw);
    const char *what = NULL;
    if (!all_finite(g->w, g->n_weights)) what = "a weight";
    else if (!all_finite(t->opt.buf, t->opt.n)) what = "the SGD momentum";
    else if (!all_finite(g->bufs, g->n_bufs)) what = "a BN running statistic";
    if (what)
        return dnas_fail(DNAS_ERR_INTERNAL, "%s became non-finite at epoch %d step %d (diverged; "
                         "lower --lr?); nothing of this step was saved", what, t->epoch + 1, t->step);
    t->total_steps++;
    return DNAS_OK;
}

/* Loss and accuracy of the main head on every test batch (eval mode: running BN statistics,
 * no drop path, no auxiliary head). Changes nothing a later step reads. */
static dnas_status evaluate(trainer *t, dnas_loader *test, double *loss, double *acc) {
    dnas_graph *g = &t->g;
    meter m = {0, 0, 0};
    dnas_status st = dnas_loader_seek(test, 0, 0);
    g->training = 0;
    for (int s = 0; st == DNAS_OK && s < dnas_loader_steps(test); s++) {
        dnas_loader_batch b;
        st = dnas_loader_next(test, &b);
        if (st == DNAS_OK) st = set_batch(t, &b.train);
        if (st == DNAS_OK) st = dnas_graph_forward(g);
        if (st == DNAS_OK) {
            m.loss += (double)g->vals[t->main_loss].data[0] * b.train.n;
            m.correct += g->correct;
            m.n += b.train.n;
        }
    }
    g->training = 1;
    *loss = mean_of(&m, 0);
    *acc = mean_of(&m, 1);
    return st;
}

/* ---- checkpoint -------------------------------------------------------------------------- */
static dnas_status save(trainer *t, const char *path, uint64_t log_bytes) {
    char kind[64];
    snprintf(kind, sizeof kind, KIND_PREFIX "%s", t->cfg.space);
    dnas_ckpt_writer *w = NULL;
    DNAS_TRY(dnas_ckpt_write_begin(path, kind, &w));
    dnas_sbuf cfg = {0};
    dnas_train_config_write(&t->cfg, &cfg, 0);
    dnas_graph *g = &t->g;
    double meters[6] = {t->train_m.loss, t->train_m.correct, t->train_m.n,
                        t->last_train.loss, t->last_train.correct, t->last_train.n};
    double test[4] = {t->test_loss, t->test_acc, t->best_acc, (double)t->best_epoch};
    dnas_status st = cfg.oom ? dnas_fail(DNAS_ERR_OOM, "out of memory writing %s", path) : DNAS_OK;
#define PUT(name, ptr, bytes) \
    if (st == DNAS_OK) st = dnas_ckpt_put(w, name, ptr, bytes)
#define PUT64(name, v) \
    if (st == DNAS_OK) st = dnas_ckpt_put_u64(w, name, (uint64_t)(v))
    PUT("config", cfg.buf, cfg.len);
    PUT64("epoch", t->epoch);
    PUT64("step", t->step);
    PUT64("total_steps", t->total_steps);
    PUT("weights", g->w, g->n_weights * sizeof(float));
    PUT("buffers", g->bufs, g->n_bufs * sizeof(float));
    PUT("sgd.momentum", t->opt.buf, t->opt.n * sizeof(float));
    PUT("meters", meters, sizeof meters);
    PUT("test", test, sizeof test);
    PUT("grad_norm", &t->grad_norm, sizeof t->grad_norm);
    PUT64("log_bytes", log_bytes);
    PUT64("data.n", t->cfg.data_n);
    PUT64("data.crc", t->cfg.data_crc);
#undef PUT
#undef PUT64
    dnas_sb_free(&cfg);
    if (st != DNAS_OK) {
        dnas_ckpt_write_abort(w);
        return st;
    }
    return dnas_ckpt_write_commit(w);
}

/* The logs up to this point are made durable before a checkpoint that vouches for them. */
static dnas_status checkpoint(trainer *t, const run_paths *p) {
    DNAS_TRY(dnas_fsync_file(p->log));
    return save(t, p->ckpt, dnas_rundir_file_size(p->log));
}

static dnas_status open_train_ckpt(const char *path, dnas_ckpt **out) {
    DNAS_TRY(dnas_ckpt_read(path, NULL, out));
    const char *kind = dnas_ckpt_kind(*out);
    if (strncmp(kind, KIND_PREFIX, strlen(KIND_PREFIX)) != 0) {
        dnas_status st = dnas_fail(DNAS_ERR_FORMAT, "%s: checkpoint is for '%s', not a training "
                                   "run (a search continues with dnas search --resume)", path, kind);
        dnas_ckpt_free(*out);
        *out = NULL;
        return st;
    }
    return DNAS_OK;
}

/* The configuration stored in a training checkpoint, over its space's defaults. */
static dnas_status load_config(const char *path, dnas_train_config *c) {
    dnas_ckpt *ck = NULL;
    DNAS_TRY(open_train_ckpt(path, &ck));
    size_t n = 0;
    const char *text = dnas_ckpt_find(ck, "config", &n);
    const char *space = dnas_ckpt_kind(ck) + strlen(KIND_PREFIX);
    uint64_t dn = 0, dcrc = 0;
    dnas_status st = DNAS_OK;
    char *z = NULL;
    if (!text) st = dnas_fail(DNAS_ERR_FORMAT, "%s: no stored configuration", path);
    if (st == DNAS_OK && !(z = dnas_alloc(n + 1, "stored configuration"))) st = DNAS_ERR_OOM;
    if (st == DNAS_OK) {
        memcpy(z, text, n);
        z[n] = 0;
        st = dnas_train_config_default(c, space);
        if (st == DNAS_OK) st = dnas_train_config_parse(z, c);
        if (st == DNAS_OK && strcmp(c->space, space) != 0)
            st = dnas_fail(DNAS_ERR_FORMAT, "the checkpoint kind says space '%s' but its "
                           "configuration says '%s'", space, c->space);
        if (st == DNAS_OK) st = dnas_train_config_check(c);
        if (st == DNAS_OK) st = dnas_ckpt_get_u64(ck, "data.n", &dn);
        if (st == DNAS_OK) st = dnas_ckpt_get_u64(ck, "data.crc", &dcrc);
        if (st == DNAS_OK && (dn > 100000000u || dcrc > 0xffffffffu))
            st = dnas_fail(DNAS_ERR_FORMAT, "impossible data set fingerprint");
        if (st != DNAS_OK && st != DNAS_ERR_OOM) {
            /* A bad setting here is a damaged file, not a usage error. */
            char why[512];
            snprintf(why, sizeof why, "%s", dnas_last_error());
            st = dnas_fail(DNAS_ERR_FORMAT, "%s: stored configuration: %s", path, why);
        }
    }
    c->data_n = (int)dn;
    c->data_crc = (uint32_t)dcrc;
    dnas_free(z);
    dnas_ckpt_free(ck);
    return st;
}

static dnas_status load(trainer *t, const char *path, uint64_t *log_bytes) {
    dnas_ckpt *ck = NULL;
    DNAS_TRY(open_train_ckpt(path, &ck));
    dnas_graph *g = &t->g;
    size_t nw = 0;
    dnas_status st = DNAS_OK;
    if (!dnas_ckpt_find(ck, "weights", &nw) || nw != g->n_weights * sizeof(float))
        st = dnas_fail(DNAS_ERR_FORMAT, "%s: holds %zu weights, the network of its configuration "
                       "has %zu", path, nw / sizeof(float), g->n_weights);
    uint64_t epoch = 0, step = 0, total = 0;
    double meters[6], test[4];
#define GET(name, ptr, bytes) \
    if (st == DNAS_OK) st = dnas_ckpt_get(ck, name, ptr, bytes)
#define GET64(name, v) \
    if (st == DNAS_OK) st = dnas_ckpt_get_u64(ck, name, v)
    GET64("epoch", &epoch);
    GET64("step", &step);
    GET64("total_steps", &total);
    GET("weights", g->w, g->n_weights * sizeof(float));
    GET("buffers", g->bufs, g->n_bufs * sizeof(float));
    GET("sgd.momentum", t->opt.buf, t->opt.n * sizeof(float));
    GET("meters", meters, sizeof meters);
    GET("test", test, sizeof test);
    GET("grad_norm", &t->grad_norm, sizeof t->grad_norm);
    GET64("log_bytes", log_bytes);
#undef GET
#undef GET64
    dnas_ckpt_free(ck);
    if (st != DNAS_OK) return st;
    if (epoch > (uint64_t)t->cfg.epochs || step > 1000000000ull || total > (1ull << 40) ||
        !(test[3] >= -1 && test[3] < t->cfg.epochs))
        return dnas_fail(DNAS_ERR_FORMAT, "%s: position epoch %llu step %llu is impossible", path,
                         (unsigned long long)epoch, (unsigned long long)step);
    t->epoch = (int)epoch;
    t->step = (int)step;
    t->total_steps = (long)total;
    t->train_m = (meter){meters[0], meters[1], meters[2]};
    t->last_train = (meter){meters[3], meters[4], meters[5]};
    t->test_loss = test[0];
    t->test_acc = test[1];
    t->best_acc = test[2];
    t->best_epoch = (int)test[3];
    return DNAS_OK;
}

/* ---- run directory ----------------------------------------------------------------------- */
/* A checkpoint means a run to resume; a log or a result without one belongs to something
 * else. A config.json alone is what a run leaves that stopped before its first checkpoint. */
static dnas_status check_new_dir(const run_paths *p) {
    if (dnas_file_exists(p->ckpt))
        return dnas_fail(DNAS_ERR_INVALID_ARG, "--out %s already holds a run: continue it with "
                         "dnas train --resume %s, or choose another directory", p->dir, p->dir);
    const char *other[] = {p->log, p->result};
    for (int i = 0; i < 2; i++)
        if (dnas_file_exists(other[i]))
            return dnas_fail(DNAS_ERR_INVALID_ARG, "--out %s: %s already exists (but no checkpoint: "
                             "not a run to resume); choose another directory", p->dir,
                             strrchr(other[i], '/') + 1);
    return DNAS_OK;
}

static dnas_status write_config_json(const run_paths *p, const dnas_train_config *c,
                                     const char *stored_json) {
    char *text = NULL;
    size_t n = 0;
    /* On resume config.json is a copy for people and tools; the checkpoint's is the one used. */
    if (stored_json && dnas_file_exists(p->config) &&
        dnas_read_file(p->config, &text, &n) == DNAS_OK && strcmp(text, stored_json) != 0)
        dnas_log(DNAS_LOG_WARNING, "warning: %s differs from the configuration stored in %s; edits "
                 "to config.json are ignored (the checkpoint's copy is used)", p->config, CKPT_NAME);
    dnas_sbuf sb = {0};
    dnas_train_config_write(c, &sb, 1);
    dnas_status st = sb.oom ? dnas_fail(DNAS_ERR_OOM, "out of memory writing %s", p->config) : DNAS_OK;
    if (st == DNAS_OK && (!text || strcmp(text, sb.buf) != 0))
        st = dnas_write_file_atomic(p->config, sb.buf, sb.len);
    dnas_sb_free(&sb);
    dnas_free(text);
    return st;
}

static dnas_status append_sb(const char *path, dnas_sbuf *sb) {
    dnas_status st = sb->oom ? dnas_fail(DNAS_ERR_OOM, "out of memory formatting %s", path)
                             : dnas_append_line(path, sb->buf);
    dnas_sb_free(sb);
    return st;
}

static dnas_status log_step(trainer *t, const char *path, double rate, double seconds) {
    dnas_sbuf sb = {0};
    dnas_sb_printf(&sb, "{\"kind\": \"step\", \"epoch\": %d, \"step\": %d, \"total_steps\": %ld, "
                   "\"lr\": %.6g, \"drop_prob\": %.6g, \"train_loss\": %.6f, \"train_acc\": %.4f, "
                   "\"grad_norm\": %.6g, \"steps_per_s\": %.4f, \"seconds\": %.3f}",
                   t->epoch, t->step, t->total_steps, (double)t->lr, (double)t->drop,
                   mean_of(&t->train_m, 0), mean_of(&t->train_m, 1), t->grad_norm, rate, seconds);
    return append_sb(path, &sb);
}

static dnas_status log_epoch(trainer *t, const char *path, double seconds, double test_seconds) {
    dnas_sbuf sb = {0};
    dnas_sb_printf(&sb, "{\"kind\": \"epoch\", \"epoch\": %d, \"step\": %d, \"total_steps\": %ld, "
                   "\"lr\": %.6g, \"drop_prob\": %.6g, \"train_loss\": %.6f, \"train_acc\": %.4f, "
                   "\"test_loss\": %.6f, \"test_acc\": %.4f, \"best_test_acc\": %.4f, "
                   "\"seconds\": %.3f, \"test_seconds\": %.3f}",
                   t->epoch, t->step, t->total_steps, (double)t->lr, (double)t->drop,
                   mean_of(&t->train_m, 0), mean_of(&t->train_m, 1), t->test_loss, t->test_acc,
                   t->best_acc, seconds, test_seconds);
    return append_sb(path, &sb);
}

static void fill_result(const trainer *t, dnas_train_result *r, double seconds) {
    r->train_loss = mean_of(&t->last_train, 0);
    r->train_acc = mean_of(&t->last_train, 1);
    r->test_loss = t->test_loss;
    r->test_acc = t->test_acc;
    r->best_test_acc = t->best_acc;
    r->best_epoch = t->best_epoch;
    r->epochs_done = t->epoch;
    r->seconds = seconds;
    snprintf(r->dir, sizeof r->dir, "%s", t->cfg.out_dir);
}

/* result.json: the last and best test accuracy of a finished run (rewritten, never appended,
 * so a resume of a finished run leaves the same file). */
static dnas_status write_result(const trainer *t, const run_paths *p) {
    dnas_sbuf sb = {0};
    dnas_sb_printf(&sb, "{\"space\": ");
    dnas_sb_json_string(&sb, t->cfg.space);
    dnas_sb_printf(&sb, ", \"genotype\": ");
    dnas_sb_json_string(&sb, t->cfg.genotype);
    dnas_sb_printf(&sb, ", \"epochs\": %d, \"total_steps\": %ld, \"weights\": %zu, "
                   "\"train_loss\": %.6f, \"train_acc\": %.4f, \"test_loss\": %.6f, "
                   "\"test_acc\": %.4f, \"test_error\": %.4f, \"best_test_acc\": %.4f, "
                   "\"best_epoch\": %d}\n",
                   t->epoch, t->total_steps, t->g.n_weights, mean_of(&t->last_train, 0),
                   mean_of(&t->last_train, 1), t->test_loss, t->test_acc, 100.0 - t->test_acc,
                   t->best_acc, t->best_epoch);
    dnas_status st = sb.oom ? dnas_fail(DNAS_ERR_OOM, "out of memory writing %s", p->result)
                            : dnas_write_file_atomic(p->result, sb.buf, sb.len);
    dnas_sb_free(&sb);
    return st;
}

static void progress_line(const trainer *t, int spe, double rate, double test_s) {
    const dnas_train_config *c = &t->cfg;
    long left = (long)(c->epochs - t->epoch) * spe - t->step;
    char eta[32], best[48] = "";
    dnas_rundir_duration((rate > 0 ? (double)left / rate : 0) + (c->epochs - t->epoch) * test_s,
                         eta, sizeof eta);
    if (t->best_epoch >= 0)
        snprintf(best, sizeof best, " | test acc %.2f%% (best %.2f%%)", t->test_acc, t->best_acc);
    dnas_log(DNAS_LOG_PROGRESS, "epoch %d/%d step %d/%d | loss %.4f acc %.2f%% | lr %.5f%s | "
             "%.2f steps/s | ETA %s", t->epoch + 1, c->epochs, t->step, spe,
             mean_of(&t->train_m, 0), mean_of(&t->train_m, 1), (double)t->lr, best, rate, eta);
}

/* ---- data -------------------------------------------------------------------------------- */
typedef struct {
    dnas_cifar train, test;
    int *train_idx, *test_idx;  /* the first k images, when limited (NULL: all) */
    int n_train, n_test;
    uint32_t crc;
} train_data;

static void data_free(train_data *d) {
    dnas_cifar_free(&d->train);
    dnas_cifar_free(&d->test);
    dnas_free(d->train_idx);
    dnas_free(d->test_idx);
    memset(d, 0, sizeof *d);
}

static dnas_status first_k(int n, int k, int **idx, int *n_out) {
    *n_out = k > 0 && k < n ? k : n;
    if (*n_out == n) return DNAS_OK;
    *idx = dnas_alloc((size_t)*n_out * sizeof(int), "image index");
    if (!*idx) return DNAS_ERR_OOM;
    for (int i = 0; i < *n_out; i++) (*idx)[i] = i;
    return DNAS_OK;
}

static dnas_status load_data(const dnas_train_config *c, train_data *d) {
    memset(d, 0, sizeof *d);
    if (!c->data_dir[0])
        return dnas_fail(DNAS_ERR_INVALID_ARG, "no data: pass --data DIR (CIFAR binary format, "
                         "see `make data`) or set DNAS_DATA");
    dnas_cifar_kind kind = strcmp(c->dataset, "cifar100") == 0 ? DNAS_CIFAR100 : DNAS_CIFAR10;
    dnas_status st = dnas_cifar_load(c->data_dir, kind, DNAS_PART_TRAIN, &d->train);
    if (st == DNAS_OK) st = dnas_cifar_load(c->data_dir, kind, DNAS_PART_TEST, &d->test);
    if (st == DNAS_OK) st = first_k(d->train.n, c->train_images, &d->train_idx, &d->n_train);
    if (st == DNAS_OK) st = first_k(d->test.n, c->test_images, &d->test_idx, &d->n_test);
    if (st != DNAS_OK) {
        data_free(d);
        return st;
    }
    uint32_t ft = dnas_cifar_fingerprint(&d->test);
    d->crc = dnas_crc32c(dnas_cifar_fingerprint(&d->train), &ft, sizeof ft);
    return DNAS_OK;
}

static dnas_status make_loaders(const dnas_train_config *c, const train_data *d, dnas_loader **L,
                                dnas_loader **T) {
    dnas_norm norm = strcmp(c->space, "darts") == 0 ? DNAS_NORM_DARTS : DNAS_NORM_AUTODL;
    dnas_loader_config lc;
    dnas_loader_config_default(&lc);
    lc.data = &d->train;
    lc.idx = d->train_idx;
    lc.n_idx = d->n_train;
    lc.batch = c->batch;
    lc.seed = c->seed;
    lc.cutout = c->cutout;
    lc.norm = norm;
    DNAS_TRY(dnas_loader_create(&lc, L));
    dnas_loader_config_eval(&lc, &d->test, c->batch);
    lc.idx = d->test_idx;
    lc.n_idx = d->n_test;
    lc.norm = norm;
    return dnas_loader_create(&lc, T);
}

/* ---- the run ----------------------------------------------------------------------------- */
/* Makes a relative path setting absolute, so that a resume works from any directory. */
static dnas_status make_absolute(dnas_train_config *c, const char *key, const char *flag,
                                 const char *value) {
    if (!value[0] || value[0] == '/') return DNAS_OK;
    char buf[PATH_MAX];
    if (!realpath(value, buf)) return dnas_fail(DNAS_ERR_IO, "%s %s: %s", flag, value, strerror(errno));
    return dnas_train_config_set(c, key, buf);
}

static dnas_status absolute_out(dnas_train_config *c, int resume) {
    if (c->out_dir[0] == '/') return DNAS_OK; /* the directory may not exist yet: no realpath */
    char cwd[PATH_MAX], abs[PATH_MAX + sizeof c->out_dir];
    if (!getcwd(cwd, sizeof cwd))
        return dnas_fail(DNAS_ERR_IO, "cannot get the working directory: %s", strerror(errno));
    snprintf(abs, sizeof abs, "%s/%s", cwd, c->out_dir);
    if (strlen(abs) >= sizeof c->out_dir)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "%s %s: its absolute path is too long (max %zu "
                         "characters)", resume ? "--resume" : "--out", c->out_dir,
                         sizeof c->out_dir - 1);
    memcpy(c->out_dir, abs, strlen(abs) + 1);
    return DNAS_OK;
}

/* The epoch's schedule: cosine lr per epoch, drop path ramped linearly (quark0: p * e / E). */
static void epoch_schedule(trainer *t) {
    const dnas_train_config *c = &t->cfg;
    t->lr = dnas_cosine_lr((float)c->lr, (float)c->lr_min, t->epoch, c->epochs);
    t->drop = (float)(c->drop_path * t->epoch / c->epochs);
}

/* A new run (stored_json == NULL) or a resumed one (stored_json: the checkpoint's
 * configuration as config.json would hold it, before the caller's overrides). */
static dnas_status run(dnas_train_config *c, const char *stored_json, dnas_train_result *r) {
    double t0 = dnas_now_s();
    int resume = stored_json != NULL;
    memset(r, 0, sizeof *r);
    r->best_epoch = -1;
    if (!c->data_dir[0] && getenv("DNAS_DATA") && getenv("DNAS_DATA")[0])
        DNAS_TRY(dnas_train_config_set(c, "data_dir", getenv("DNAS_DATA")));
    DNAS_TRY(dnas_train_config_check(c));
    if (!c->out_dir[0]) return dnas_fail(DNAS_ERR_INVALID_ARG, "--out DIR is required");
    DNAS_TRY(absolute_out(c, resume));
    run_paths p;
    make_paths(&p, c->out_dir);
    if (!resume) DNAS_TRY(check_new_dir(&p)); /* early, before the data loads; again under the lock */
    if (c->progress < 0) c->progress = isatty(2);
    long cores = dnas_rundir_usable_cores();
    if (cores > 0 && c->threads > cores)
        dnas_log(DNAS_LOG_WARNING, "warning: --threads %d is more than the %ld cores here: steps "
                 "will be slower, not faster (--threads 0 uses every core)", c->threads, cores);

    train_data data;
    trainer *t = NULL;
    dnas_loader *L = NULL, *T = NULL;
    int lock = -1;
    dnas_status st = load_data(c, &data);
    if (st != DNAS_OK) {
        if (resume && st == DNAS_ERR_IO) {
            char why[512];
            snprintf(why, sizeof why, "%s", dnas_last_error());
            st = dnas_fail(st, "%s (if the data moved, pass its new place: --resume %s --data DIR)",
                           why, p.dir);
        }
        return st;
    }
    if (resume && (c->data_n != data.train.n || c->data_crc != data.crc)) {
        st = dnas_fail(DNAS_ERR_INVALID_ARG, "--data %s: not the data set this run was started on "
                       "(%d images, checksum %08x; the checkpoint recorded %d images, checksum "
                       "%08x)", c->data_dir, data.train.n, (unsigned)data.crc, c->data_n,
                       (unsigned)c->data_crc);
        goto done;
    }
    c->data_n = data.train.n;
    c->data_crc = data.crc;
    if ((st = make_absolute(c, "data_dir", "--data", c->data_dir)) != DNAS_OK) goto done;
    /* The network is built (and a bad genotype or size refused) before the directory exists. */
    if ((st = trainer_create(c, &t)) != DNAS_OK) goto done;
    if ((st = make_loaders(c, &data, &L, &T)) != DNAS_OK) goto done;

    if (!resume && (st = dnas_mkdir_p(p.dir)) != DNAS_OK) goto done;
    if ((st = dnas_lock_dir(p.dir, &lock)) != DNAS_OK) goto done;
    uint64_t log_bytes = 0;
    if (resume) {
        st = load(t, p.ckpt, &log_bytes);
        if (st == DNAS_OK) st = dnas_rundir_check_log(p.log, log_bytes);
        if (st == DNAS_OK) st = dnas_rundir_truncate_log(p.log, log_bytes);
        if (st == DNAS_OK) st = write_config_json(&p, c, stored_json);
    } else {
        st = check_new_dir(&p);
        if (st == DNAS_OK) st = write_config_json(&p, c, NULL);
        /* The initial checkpoint: a run stopped at any point from here on can be resumed. */
        if (st == DNAS_OK) st = save(t, p.ckpt, 0);
    }
    if (st == DNAS_OK && t->epoch < c->epochs) st = dnas_loader_seek(L, t->epoch, t->step);
    if (st != DNAS_OK) goto done;

    int spe = dnas_loader_steps(L);
    if (resume && t->epoch >= c->epochs)
        dnas_log(DNAS_LOG_INFO, "the training in %s had finished", p.dir);
    else if (resume)
        dnas_log(DNAS_LOG_INFO, "resuming %s at epoch %d step %d/%d", p.dir, t->epoch + 1, t->step, spe);
    else
        dnas_log(DNAS_LOG_INFO, "training %s %s: %zu weights, %d epochs of %d steps", c->space,
                 c->genotype, t->g.n_weights, c->epochs, spe);
    long steps_here = 0;
    /* Rates count training steps only: test time is kept apart (test_total) and added to the
     * ETA per remaining epoch (test_s, the last test's time). */
    double t_last = dnas_now_s(), t_start = t_last, t_epoch = t_last, test_s = 0, test_total = 0;
    int dirty = 0; /* steps since the last checkpoint */
    while (t->epoch < c->epochs) {
        epoch_schedule(t);
        dnas_loader_batch b;
        if ((st = dnas_loader_next(L, &b)) != DNAS_OK) goto done;
        if ((st = train_step(t, &b.train)) != DNAS_OK) goto done;
        t->step++;
        steps_here++;
        dirty = 1;
        double now = dnas_now_s(), rate = (double)steps_here / (now - t_start - test_total);
        if (c->progress && now - t_last > 0.5) {
            progress_line(t, spe, rate, test_s);
            t_last = now;
        }
        if (t->step % c->log_every == 0 && (st = log_step(t, p.log, rate, now - t_epoch)) != DNAS_OK)
            goto done;
        if (t->step >= spe) {
            double te = dnas_now_s();
            if ((st = evaluate(t, T, &t->test_loss, &t->test_acc)) != DNAS_OK) goto done;
            test_s = dnas_now_s() - te;
            test_total += test_s;
            if (t->best_epoch < 0 || t->test_acc > t->best_acc) {
                t->best_acc = t->test_acc;
                t->best_epoch = t->epoch;
            }
            if ((st = log_epoch(t, p.log, dnas_now_s() - t_epoch, test_s)) != DNAS_OK) goto done;
            if (c->progress) dnas_log_terminal("\r\033[K");
            dnas_log(DNAS_LOG_INFO, "epoch %d/%d  train loss %.4f acc %.2f%%  test loss %.4f acc "
                     "%.2f%% (best %.2f%%)  lr %.5f  drop path %.3f", t->epoch + 1, c->epochs,
                     mean_of(&t->train_m, 0), mean_of(&t->train_m, 1), t->test_loss, t->test_acc,
                     t->best_acc, (double)t->lr, (double)t->drop);
            t->last_train = t->train_m;
            t->epoch++;
            t->step = 0;
            memset(&t->train_m, 0, sizeof t->train_m);
            if ((st = checkpoint(t, &p)) != DNAS_OK) goto done;
            dirty = 0;
            t_epoch = dnas_now_s();
        } else if (c->ckpt_every && t->step % c->ckpt_every == 0) {
            if ((st = checkpoint(t, &p)) != DNAS_OK) goto done;
            dirty = 0;
        }
        int stop = c->stop && *c->stop;
        if (stop || (c->max_steps && steps_here >= c->max_steps && t->epoch < c->epochs)) {
            if (dirty && (st = checkpoint(t, &p)) != DNAS_OK) goto done;
            if (c->progress) dnas_log_terminal("\n");
            if (stop)
                st = dnas_fail(DNAS_ERR_INTERRUPTED, "interrupted at epoch %d step %d; checkpoint "
                               "saved, continue with: dnas train --resume %s", t->epoch + 1,
                               t->step, p.dir);
            else
                st = dnas_fail(DNAS_ERR_INTERRUPTED, "stopped after %ld step%s (--max-steps) at "
                               "epoch %d step %d: the training is incomplete; checkpoint saved, "
                               "continue with: dnas train --resume %s", steps_here,
                               steps_here == 1 ? "" : "s", t->epoch + 1, t->step, p.dir);
            goto done;
        }
    }
    /* Also when a finished run is resumed: a kill may have come between its last checkpoint
     * and result.json. */
    if ((st = write_result(t, &p)) != DNAS_OK) goto done;
    fill_result(t, r, dnas_now_s() - t0);
    dnas_log(DNAS_LOG_INFO, "training done in %.1f s: test acc %.2f%% (best %.2f%% at epoch %d)",
             r->seconds, r->test_acc, r->best_test_acc, r->best_epoch + 1);
done:
    if (c->progress && st != DNAS_OK && st != DNAS_ERR_INTERRUPTED) dnas_log_terminal("\n");
    dnas_loader_destroy(L);
    dnas_loader_destroy(T);
    trainer_destroy(t);
    data_free(&data);
    dnas_unlock_dir(lock);
    return st;
}

/* Continues the run in req->out_dir with the configuration stored in its checkpoint; only the
 * settings that may differ between sessions are taken from req, and a space or genotype given
 * with the request must be the stored one. */
static dnas_status resume_run(const dnas_train_config *req, dnas_train_result *r) {
    memset(r, 0, sizeof *r);
    const char *dir = req->out_dir;
    if (!dir[0]) return dnas_fail(DNAS_ERR_INVALID_ARG, "--resume needs a run directory");
    run_paths p;
    make_paths(&p, dir);
    if (!dnas_file_exists(p.dir))
        return dnas_fail(DNAS_ERR_IO, "--resume %s: no such directory", dir);
    if (!dnas_file_exists(p.ckpt))
        return dnas_fail(DNAS_ERR_IO, "--resume %s: holds no %s, so there is no training to "
                         "resume%s", dir, CKPT_NAME, dnas_file_exists(p.config) ?
                         " (it stopped before saving one: start it again with --out)" : "");
    dnas_train_config c;
    DNAS_TRY(load_config(p.ckpt, &c));
    if (req->space[0] && strcmp(req->space, c.space) != 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "--space %s: the run in %s trains a %s network "
                         "(its checkpoint says so); drop --space, or start a new run with --out",
                         req->space, dir, c.space);
    if (req->genotype[0]) {
        int same = 0;
        DNAS_TRY(dnas_train_genotype_match(c.space, c.genotype, req->genotype, &same));
        if (!same)
            return dnas_fail(DNAS_ERR_INVALID_ARG, "--genotype: not the genotype the run in %s "
                             "trains (%.200s); drop --genotype, or start a new run with --out",
                             dir, c.genotype);
    }
    dnas_sbuf stored = {0};
    dnas_train_config_write(&c, &stored, 1);
    if (stored.oom) {
        dnas_sb_free(&stored);
        return dnas_fail(DNAS_ERR_OOM, "out of memory reading %s", p.ckpt);
    }
    /* The directory may have moved since; the thread count is the caller's (the bit-identical
     * guarantee holds for the same thread count). */
    memcpy(c.out_dir, req->out_dir, sizeof c.out_dir);
    if (req->threads > 0) c.threads = req->threads;
    if (req->data_dir[0]) memcpy(c.data_dir, req->data_dir, sizeof c.data_dir);
    c.stop = req->stop;
    c.progress = req->progress;
    c.max_steps = req->max_steps;
    c.resume = 1;
    dnas_status st = run(&c, stored.buf, r);
    dnas_sb_free(&stored);
    return st;
}

dnas_status dnas_train_run(const dnas_train_config *c, dnas_train_result *r) {
    if (c->resume) return resume_run(c, r);
    dnas_train_config cc = *c;
    cc.data_n = 0;
    cc.data_crc = 0;
    return run(&cc, NULL, r);
}

dnas_status dnas_train_resume(const char *dir, int threads, volatile int *stop, int progress,
                              dnas_train_result *r) {
    dnas_train_config req;
    DNAS_TRY(dnas_train_config_default(&req, NULL));
    if (!dir || strlen(dir) >= sizeof req.out_dir)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "--resume: directory name %s", dir ? "too long" : "missing");
    snprintf(req.out_dir, sizeof req.out_dir, "%s", dir);
    req.threads = threads > 0 ? threads : 0;
    req.stop = stop;
    req.progress = progress;
    req.resume = 1;
    return resume_run(&req, r);
}

dnas_status dnas_train_net_info_get(const dnas_train_config *c, dnas_train_net_info *out) {
    memset(out, 0, sizeof *out);
    dnas_train_config cc = *c;
    cc.threads = 1; /* nothing runs */
    DNAS_TRY(dnas_train_config_check(&cc));
    const dnas_space *sp = dnas_space_find(cc.space);
    dnas_backend *be = NULL;
    DNAS_TRY(dnas_backend_cpu_create(1, &be));
    dnas_graph g;
    dnas_graph_init(&g, be);
    dnas_status st = build(&cc, sp, cc.auxiliary, &g);
    if (st == DNAS_OK) st = dnas_graph_plan(&g);
    if (st == DNAS_OK) {
        out->n_weights = g.n_weights;
        out->n_buffers = g.n_bufs;
        out->peak_bytes = g.peak_bytes;
        out->n_nodes = g.n_nodes;
    }
    dnas_graph_free(&g);
    if (st == DNAS_OK && cc.auxiliary) {
        /* The head's share: the same network built without it (not planned: weights are
         * counted as they are declared). */
        dnas_graph_init(&g, be);
        st = build(&cc, sp, 0, &g);
        if (st == DNAS_OK) {
            out->n_aux_weights = out->n_weights - g.n_weights;
            out->n_weights = g.n_weights;
        }
        dnas_graph_free(&g);
    }
    dnas_backend_destroy(be);
    return st;
}

/* ---- benchmark ---------------------------------------------------------------------------- */
static int cmp_ms(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Times train steps (forward with drop path at c->drop_path and the auxiliary head when on,
 * backward, clip, SGD) on random images: `dnas bench train`. */
dnas_status dnas_bench_train(const dnas_train_config *c, int warmup, int steps, dnas_bench_result *r) {
    if (steps < 1 || warmup < 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "--steps must be >= 1 and --warmup >= 0");
    DNAS_TRY(dnas_train_config_check(c));
    trainer *t = NULL;
    DNAS_TRY(trainer_create(c, &t));
    int n = c->batch;
    size_t px = dnas_shape_numel(t->g.vals[t->g.input].shape);
    float *x = dnas_alloc(px * sizeof(float), "benchmark images");
    int *y = dnas_alloc((size_t)n * sizeof(int), "benchmark labels");
    double *ms = dnas_alloc((size_t)steps * sizeof(double), "benchmark timings");
    dnas_status st = (x && y && ms) ? DNAS_OK : DNAS_ERR_OOM;
    if (st == DNAS_OK) {
        dnas_rng rng = dnas_rng_make(c->seed, 78);
        for (size_t i = 0; i < px; i++) x[i] = dnas_rng_normal(&rng);
        for (int i = 0; i < n; i++) y[i] = (int)dnas_rng_below(&rng, 10);
        dnas_data_batch b = {n, x, y};
        t->lr = (float)c->lr;
        t->drop = (float)c->drop_path;
        for (int i = 0; i < warmup + steps && st == DNAS_OK; i++) {
            double t0 = dnas_now_s();
            st = train_step(t, &b);
            if (i >= warmup) ms[i - warmup] = 1e3 * (dnas_now_s() - t0);
        }
    }
    if (st == DNAS_OK) {
        qsort(ms, (size_t)steps, sizeof *ms, cmp_ms);
        r->steps = steps;
        r->ms_mean = 0;
        for (int i = 0; i < steps; i++) r->ms_mean += ms[i] / steps;
        r->ms_min = ms[0];
        r->ms_max = ms[steps - 1];
        r->ms_median = steps % 2 ? ms[steps / 2] : 0.5 * (ms[steps / 2 - 1] + ms[steps / 2]);
    }
    dnas_free(x);
    dnas_free(y);
    dnas_free(ms);
    trainer_destroy(t);
    return st;
}

/* ---- a run's network, for export (src/io/export.c) ---------------------------------------- */
dnas_status dnas_trainer_fresh(const dnas_train_config *c, int batch, dnas_trainer **out) {
    *out = NULL;
    dnas_train_config cc = *c;
    cc.batch = batch;
    cc.drop_path = 0; /* no drop-path nodes: they hold no weights and eval never runs them */
    DNAS_TRY(dnas_train_config_check(&cc));
    return trainer_create(&cc, out);
}

dnas_status dnas_trainer_load(const char *ckpt, int batch, int threads, int weights,
                              dnas_trainer **out) {
    *out = NULL;
    dnas_train_config c;
    DNAS_TRY(load_config(ckpt, &c));
    c.threads = threads;
    trainer *t = NULL;
    DNAS_TRY(dnas_trainer_fresh(&c, batch, &t));
    uint64_t log_bytes = 0;
    dnas_status st = weights ? load(t, ckpt, &log_bytes) : DNAS_OK;
    if (st != DNAS_OK) {
        trainer_destroy(t);
        return st;
    }
    *out = t;
    return DNAS_OK;
}

const dnas_train_config *dnas_trainer_config(const dnas_trainer *t) { return &t->cfg; }
dnas_graph *dnas_trainer_graph(dnas_trainer *t) { return &t->g; }
long dnas_trainer_total_steps(const dnas_trainer *t) { return t->total_steps; }
int dnas_trainer_epoch(const dnas_trainer *t) { return t->epoch; }

dnas_status dnas_trainer_eval_logits(dnas_trainer *t, const float *x, int n, float *logits) {
    dnas_graph *g = &t->g;
    if (n < 1 || n > g->batch)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "eval of %d images on a network planned for %d", n,
                         g->batch);
    DNAS_TRY(dnas_graph_set_batch(g, n));
    dnas_value *in = &g->vals[g->input];
    memcpy(in->data, x, dnas_shape_numel(in->shape) * sizeof(float));
    memset(g->labels, 0, (size_t)n * sizeof(int)); /* the loss is computed but not used */
    g->training = 0;
    dnas_status st = dnas_graph_forward(g);
    g->training = 1;
    if (st == DNAS_OK)
        memcpy(logits, g->vals[g->logits].data, dnas_shape_numel(g->vals[g->logits].shape) * sizeof(float));
    return st;
}

void dnas_trainer_close(dnas_trainer *t) { trainer_destroy(t); }
