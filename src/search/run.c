/* The search loop: data, steps, progress, logs, checkpoints, resume, final result. It is a
 * handle (run.h) so that dnas_search_run and the embedding API's sessions run the same code:
 * open, any number of step calls, finish, close. Messages go through dnas_log (core/log.h).
 * Run directory: config.json, log.jsonl, alphas.jsonl, genotype.txt, checkpoint.dnas, and
 * TensorBoard's events.out.tfevents.* (one per session; a failure to write them only warns).
 * A search writes its initial checkpoint before its first step, so every run directory that
 * holds more than a config.json can be resumed. A new search refuses a directory that holds a
 * checkpoint or any of the other files (nothing is overwritten); a resumed one truncates the
 * logs back to what the checkpoint had seen, so lines are never doubled. One process at a time
 * works in a run directory (flock). */
#include "search.h"
#include "../core/alloc.h"
#include "../core/clock.h"
#include "../core/log.h"
#include "../io/files.h"
#include "../io/rundir.h"
#include "../io/tfevents.h"
#include "run.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CKPT_NAME "checkpoint.dnas"

static void path_in(char *buf, size_t cap, const char *dir, const char *file) {
    snprintf(buf, cap, "%s/%s", dir, file);
}

static double mean_of(const dnas_meter *m, int acc) {
    if (m->n <= 0) return 0.0;
    return acc ? 100.0 * m->correct / m->n : m->loss / m->n;
}

/* The architecture weights (softmax(alpha) for DARTS, theta for GAEA) as a JSON array of rows. */
static void alphas_json(dnas_search *s, dnas_sbuf *sb) {
    int rows = s->space->groups * s->space->rows, cols = s->space->cols;
    float w[DNAS_MAX_ARCH];
    dnas_search_weights(s, w);
    dnas_sb_printf(sb, "[");
    for (int r = 0; r < rows; r++) {
        dnas_sb_printf(sb, "%s[", r ? ", " : "");
        for (int k = 0; k < cols; k++) dnas_sb_printf(sb, "%s%.6f", k ? ", " : "", (double)w[r * cols + k]);
        dnas_sb_printf(sb, "]");
    }
    dnas_sb_printf(sb, "]");
}

static dnas_status derive_arch(dnas_search *s, char *arch, size_t cap) {
    return dnas_search_genotype(s, arch, cap);
}

static dnas_status append_sb(const char *path, dnas_sbuf *sb) {
    dnas_status st = sb->oom ? dnas_fail(DNAS_ERR_OOM, "out of memory formatting %s", path)
                             : dnas_append_line(path, sb->buf);
    dnas_sb_free(sb);
    return st;
}

static dnas_status log_line(dnas_search *s, const char *path, const char *kind, double rate) {
    dnas_sbuf sb = {0};
    dnas_sb_printf(&sb, "{\"kind\": \"%s\", \"epoch\": %d, \"step\": %d, "
                   "\"total_steps\": %ld, \"lr\": %.6g, \"train_loss\": %.6f, \"train_acc\": %.4f, "
                   "\"valid_loss\": %.6f, \"valid_acc\": %.4f, \"grad_norm\": %.6g, "
                   "\"steps_per_s\": %.4f}",
                   kind, s->epoch, s->step, s->total_steps, (double)s->lr, mean_of(&s->train_m, 0),
                   mean_of(&s->train_m, 1), mean_of(&s->valid_m, 0), mean_of(&s->valid_m, 1),
                   s->last_grad_norm, rate);
    return append_sb(path, &sb);
}

/* TensorBoard events mirror log.jsonl and alphas.jsonl, at step total_steps. They are a
 * convenience: a failure to write them is a warning, and the search goes on without them. */
static void events_check(dnas_tfevents **ev, dnas_status st) {
    if (st == DNAS_OK || !*ev) return;
    dnas_log(DNAS_LOG_WARNING, "warning: %s; no more TensorBoard events for this run", dnas_last_error());
    dnas_tfevents_close(*ev);
    *ev = NULL;
}

static void events_line(dnas_tfevents **ev, dnas_search *s, int epoch_line, double rate) {
    static const char *const tags[2][7] = {
        {"train/loss", "train/acc", "valid/loss", "valid/acc", "lr", "grad_norm", "steps_per_s"},
        {"epoch/train_loss", "epoch/train_acc", "epoch/valid_loss", "epoch/valid_acc"}};
    double v[7] = {mean_of(&s->train_m, 0), mean_of(&s->train_m, 1), mean_of(&s->valid_m, 0),
                   mean_of(&s->valid_m, 1), (double)s->lr, s->last_grad_norm, rate};
    dnas_status st = DNAS_OK;
    for (int i = 0; i < (epoch_line ? 4 : 7) && *ev && st == DNAS_OK; i++)
        st = dnas_tfevents_scalar(*ev, tags[epoch_line][i], s->total_steps, v[i]);
    if (st == DNAS_OK) st = dnas_tfevents_flush(*ev);
    events_check(ev, st);
}

/* Every candidate's mixing weight, as "alpha/<group>/<edge>/<op>". */
static void events_alphas(dnas_tfevents **ev, dnas_search *s) {
    const dnas_space *sp = s->space;
    float w[DNAS_MAX_ARCH];
    char tag[160];
    dnas_search_weights(s, w);
    dnas_status st = DNAS_OK;
    for (int i = 0; i < sp->groups * sp->rows * sp->cols && *ev && st == DNAS_OK; i++) {
        if (!s->cand[i]) continue;
        snprintf(tag, sizeof tag, "alpha/%s/%d/%s", sp->group_names[i / (sp->rows * sp->cols)],
                 i / sp->cols % sp->rows, sp->ops[i % sp->cols]);
        st = dnas_tfevents_scalar(*ev, tag, s->total_steps, w[i]);
    }
    if (st == DNAS_OK) st = dnas_tfevents_flush(*ev);
    events_check(ev, st);
}

typedef struct {
    char dir[512], config[600], log[600], alphas[600], genotype[600], ckpt[600];
} run_paths;

static void make_paths(run_paths *p, const char *dir) {
    snprintf(p->dir, sizeof p->dir, "%s", dir);
    path_in(p->config, sizeof p->config, p->dir, "config.json");
    path_in(p->log, sizeof p->log, p->dir, "log.jsonl");
    path_in(p->alphas, sizeof p->alphas, p->dir, "alphas.jsonl");
    path_in(p->genotype, sizeof p->genotype, p->dir, "genotype.txt");
    path_in(p->ckpt, sizeof p->ckpt, p->dir, CKPT_NAME);
}

/* Whether a new search may use p->dir. A checkpoint means a search to resume; a log or a
 * genotype without one belongs to something else. A config.json alone is what a search leaves
 * that stopped before its initial checkpoint: that directory is taken over. */
static dnas_status check_new_dir(const run_paths *p) {
    if (dnas_file_exists(p->ckpt))
        return dnas_fail(DNAS_ERR_INVALID_ARG, "--out %s already holds a search: continue it with "
                         "--resume %s, or choose another directory", p->dir, p->dir);
    const char *other[] = {p->log, p->alphas, p->genotype};
    for (int i = 0; i < 3; i++)
        if (dnas_file_exists(other[i]))
            return dnas_fail(DNAS_ERR_INVALID_ARG, "--out %s: %s already exists (but no checkpoint: "
                             "not a search to resume); choose another directory", p->dir,
                             strrchr(other[i], '/') + 1);
    return DNAS_OK;
}

/* Makes a relative path setting absolute, so that a resume works from any directory. */
static dnas_status make_absolute(dnas_search_config *c, const char *key, const char *flag,
                                 const char *value) {
    if (!value[0] || value[0] == '/') return DNAS_OK;
    char buf[PATH_MAX];
    if (!realpath(value, buf))
        return dnas_fail(DNAS_ERR_IO, "%s %s: %s", flag, value, strerror(errno));
    return dnas_search_config_set(c, key, buf);
}

/* On resume: config.json is a copy for people and tools; the checkpoint's configuration is the
 * one used. Say so if the file was edited, then make it show the settings now in effect. */
static dnas_status sync_config_json(const run_paths *p, const char *stored_json,
                                    const dnas_search_config *c) {
    char *text = NULL;
    size_t n = 0;
    if (dnas_file_exists(p->config) && dnas_read_file(p->config, &text, &n) == DNAS_OK &&
        stored_json && strcmp(text, stored_json) != 0)
        dnas_log(DNAS_LOG_WARNING, "warning: %s differs from the configuration stored in %s; edits to "
                 "config.json are ignored (the checkpoint's copy is used)", p->config, CKPT_NAME);
    dnas_sbuf sb = {0};
    dnas_search_config_write(c, &sb, 1);
    dnas_status st = sb.oom ? DNAS_ERR_OOM : DNAS_OK;
    if (st == DNAS_OK && (!text || strcmp(text, sb.buf) != 0))
        st = dnas_write_file_atomic(p->config, sb.buf, sb.len);
    dnas_sb_free(&sb);
    dnas_free(text);
    return st;
}

static dnas_status checkpoint(dnas_search *s, const run_paths *p) {
    /* The logs up to this point must be on disk before a checkpoint that vouches for them. */
    DNAS_TRY(dnas_fsync_file(p->log));
    DNAS_TRY(dnas_fsync_file(p->alphas));
    return dnas_search_save(s, p->ckpt, dnas_rundir_file_size(p->log),
                            dnas_rundir_file_size(p->alphas));
}

static dnas_status end_of_epoch(dnas_search *s, const run_paths *p, double rate,
                                dnas_tfevents **ev) {
    DNAS_TRY(log_line(s, p->log, "epoch", rate));
    events_line(ev, s, 1, rate);
    dnas_sbuf sb = {0};
    dnas_sb_printf(&sb, "{\"epoch\": %d, \"alphas\": ", s->epoch);
    alphas_json(s, &sb);
    float ew[DNAS_MAX_ARCH]; /* PC-DARTS: softmax(beta) per group, one value per edge */
    if (dnas_pcdarts_edge_weights(s, ew)) {
        int rows = s->space->rows;
        dnas_sb_printf(&sb, ", \"betas\": [");
        for (int r = 0; r < s->space->groups * rows; r++)
            dnas_sb_printf(&sb, "%s%s%.6f%s", r % rows ? ", " : r ? ", [" : "[", "", (double)ew[r],
                           r % rows == rows - 1 ? "]" : "");
        dnas_sb_printf(&sb, "]");
    }
    char arch[DNAS_GENOTYPE_MAX];
    DNAS_TRY(derive_arch(s, arch, sizeof arch));
    dnas_sb_printf(&sb, ", \"arch\": ");
    dnas_sb_json_string(&sb, arch);
    dnas_sb_printf(&sb, "}");
    DNAS_TRY(append_sb(p->alphas, &sb));
    events_alphas(ev, s);
    char line[DNAS_GENOTYPE_MAX + 2];
    snprintf(line, sizeof line, "%s\n", arch);
    DNAS_TRY(dnas_write_file_atomic(p->genotype, line, strlen(line)));
    if (s->cfg.progress) dnas_log_terminal("\r\033[K");
    dnas_log(DNAS_LOG_INFO, "epoch %d/%d  train loss %.4f acc %.2f%%  valid loss %.4f acc %.2f%%  lr %.5f  %s",
            s->epoch + 1, s->cfg.epochs, mean_of(&s->train_m, 0),
            mean_of(&s->train_m, 1), mean_of(&s->valid_m, 0), mean_of(&s->valid_m, 1),
            (double)s->lr, arch);
    return DNAS_OK;
}

static void progress_line(dnas_search *s, int steps_per_epoch, double rate) {
    long left = (long)(s->cfg.epochs - s->epoch) * steps_per_epoch - s->step;
    char eta[32];
    dnas_rundir_duration(rate > 0 ? (double)left / rate : 0, eta, sizeof eta);
    dnas_log(DNAS_LOG_PROGRESS, "epoch %d/%d step %d/%d | train loss %.4f acc %.2f%% | valid loss %.4f "
            "acc %.2f%% | %.2f steps/s | ETA %s", s->epoch + 1, s->cfg.epochs, s->step,
            steps_per_epoch, mean_of(&s->train_m, 0), mean_of(&s->train_m, 1),
            mean_of(&s->valid_m, 0), mean_of(&s->valid_m, 1), rate, eta);
}

/* CRC-32C of the image lists the search uses (never 0: 0 means "no split file"). */
static uint32_t split_checksum(const dnas_split *sp) {
    uint32_t crc = dnas_crc32c(0, &sp->n_train, sizeof sp->n_train);
    crc = dnas_crc32c(crc, sp->train, (size_t)sp->n_train * sizeof(int));
    crc = dnas_crc32c(crc, &sp->n_valid, sizeof sp->n_valid);
    crc = dnas_crc32c(crc, sp->valid, (size_t)sp->n_valid * sizeof(int));
    return crc ? crc : 1;
}

dnas_status dnas_search_load_data(const dnas_search_config *c, dnas_cifar *data, dnas_split *sp) {
    const char *dir = c->data_dir[0] ? c->data_dir : getenv("DNAS_DATA");
    if (!dir || !dir[0])
        return dnas_fail(DNAS_ERR_INVALID_ARG, "no data: pass --data-dir DIR (CIFAR binary "
                         "format, see `make data`) or set DNAS_DATA");
    dnas_cifar_kind kind = strcmp(c->dataset, "cifar100") == 0 ? DNAS_CIFAR100 : DNAS_CIFAR10;
    DNAS_TRY(dnas_cifar_load(dir, kind, DNAS_PART_TRAIN, data));
    /* NB201's own split where the user has its file; else a fixed split, independent of the
     * run's seed, as NB201's is. */
    dnas_status st = c->split_file[0] ? dnas_split_load(data, c->split_file, sp)
                                      : dnas_split_make(data, DNAS_SPLIT_STRATIFIED, 0, sp);
    if (st == DNAS_OK && c->split_file[0] && c->dyno_split && sp->n_train != sp->n_valid) {
        /* prime.c counts its epochs from equal halves */
        st = dnas_fail(DNAS_ERR_INVALID_ARG, "--split-file %s: %d train and %d valid images; "
                       "DARTS-PRIME's --dyno-split needs equal halves", c->split_file,
                       sp->n_train, sp->n_valid);
        dnas_split_free(sp);
    }
    if (st != DNAS_OK) {
        dnas_cifar_free(data);
        return st;
    }
    if (c->train_images > 0) {
        if (sp->n_train > c->train_images) sp->n_train = c->train_images;
        if (sp->n_valid > c->train_images) sp->n_valid = c->train_images;
    }
    if (c->single_level) {
        /* Both steps draw from all the training images (GAEA's ERM): weights see both halves,
         * and the arch batch is another random batch of the same set. */
        int n = sp->n_train + sp->n_valid;
        int *all = dnas_alloc((size_t)n * sizeof(int), "single-level index");
        int *all2 = dnas_alloc((size_t)n * sizeof(int), "single-level index");
        if (!all || !all2) {
            dnas_free(all);
            dnas_free(all2);
            dnas_split_free(sp);
            dnas_cifar_free(data);
            return DNAS_ERR_OOM;
        }
        memcpy(all, sp->train, (size_t)sp->n_train * sizeof(int));
        memcpy(all + sp->n_train, sp->valid, (size_t)sp->n_valid * sizeof(int));
        memcpy(all2, all, (size_t)n * sizeof(int));
        dnas_split_free(sp);
        *sp = (dnas_split){all, n, all2, n};
    }
    if (c->dyno_split) {
        /* DARTS-PRIME's split of the same (capped) search images (prime.c). */
        st = dnas_prime_dyno_split(data, c->sched_freq, sp);
        if (st != DNAS_OK) {
            dnas_split_free(sp);
            dnas_cifar_free(data);
            return st;
        }
    }
    return DNAS_OK;
}

static dnas_status report(dnas_search *s, dnas_search_result *r, double t0) {
    DNAS_TRY(derive_arch(s, r->arch, sizeof r->arch));
    r->train_acc = mean_of(&s->train_m, 1);
    r->valid_acc = mean_of(&s->valid_m, 1);
    r->train_loss = mean_of(&s->train_m, 0);
    r->valid_loss = mean_of(&s->valid_m, 0);
    r->epochs_done = s->epoch;
    snprintf(r->select, sizeof r->select, "%s", s->cfg.select);
    snprintf(r->dir, sizeof r->dir, "%s", s->cfg.out_dir);
    r->seconds = dnas_now_s() - t0;
    return DNAS_OK;
}

/* Everything a search in progress holds; the loop's locals live here so that it can be run a
 * step at a time. */
struct dnas_run {
    dnas_search_config cfg;    /* the settings in effect (resume: the checkpoint's + overrides) */
    run_paths p;
    dnas_cifar data;
    dnas_split sp;
    dnas_search *s;
    dnas_loader *L;
    void *tab;                 /* the space's benchmark table, when --table is given */
    const dnas_space *space;
    int lock;
    dnas_tfevents *ev;
    int spe;                   /* steps per epoch */
    long steps_here;           /* steps taken by this process (--max-steps, steps/s) */
    double t0, t_last, t_start;
    int dirty;                 /* steps since the last checkpoint */
    int broken;                /* a step failed: the state is not to be used any more */
    int finished;
    volatile int interrupt;
    dnas_search_result result; /* after finish */
};

/* After a failure, a progress line on the terminal is ended before the message is printed. */
static dnas_status failed(const dnas_run *r, dnas_status st) {
    if (r->cfg.progress > 0 && st != DNAS_OK && st != DNAS_ERR_INTERRUPTED) dnas_log_terminal("\n");
    return st;
}

void dnas_run_close(dnas_run *r) {
    if (!r) return;
    dnas_tfevents_close(r->ev);
    dnas_loader_destroy(r->L);
    dnas_search_destroy(r->s);
    dnas_split_free(&r->sp);
    dnas_cifar_free(&r->data);
    if (r->tab) r->space->bench_free(r->tab);
    dnas_unlock_dir(r->lock);
    dnas_free(r);
}

/* A new search (stored_json == NULL) or a resumed one (stored_json: the checkpoint's
 * configuration as config.json would hold it, before the caller's overrides). */
static dnas_status open_run(const dnas_search_config *cin, const char *stored_json, dnas_run **out) {
    double t0 = dnas_now_s();
    int resume = stored_json != NULL;
    *out = NULL;
    DNAS_TRY(dnas_search_config_check(cin));
    if (cin->image != 32)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "--image %d: CIFAR images are 32x32", cin->image);
    if (!cin->out_dir[0]) return dnas_fail(DNAS_ERR_INVALID_ARG, "--out DIR is required");
    dnas_run *r = dnas_calloc(sizeof *r, "search run");
    if (!r) return DNAS_ERR_OOM;
    r->cfg = *cin;
    r->lock = -1;
    r->t0 = t0;
    dnas_search_config *c = &r->cfg;
    if (c->out_dir[0] != '/') { /* absolute, as every stored path (the directory may not exist yet) */
        char cwd[PATH_MAX], abs[PATH_MAX + sizeof c->out_dir];
        dnas_status e = DNAS_OK;
        if (!getcwd(cwd, sizeof cwd))
            e = dnas_fail(DNAS_ERR_IO, "cannot get the working directory: %s", strerror(errno));
        if (e == DNAS_OK) {
            snprintf(abs, sizeof abs, "%s/%s", cwd, c->out_dir);
            if (strlen(abs) >= sizeof c->out_dir)
                e = dnas_fail(DNAS_ERR_INVALID_ARG, "%s %s: its absolute path is too long (max %zu "
                              "characters)", resume ? "--resume" : "--out", c->out_dir,
                              sizeof c->out_dir - 1);
            else memcpy(c->out_dir, abs, strlen(abs) + 1);
        }
        if (e != DNAS_OK) {
            dnas_free(r);
            return e;
        }
    }
    run_paths *p = &r->p;
    make_paths(p, c->out_dir);
    dnas_status st = DNAS_OK;
    if (!resume && (st = check_new_dir(p)) != DNAS_OK) { /* early, before the data loads; again under the lock */
        dnas_free(r);
        return st;
    }
    if (c->progress < 0) c->progress = isatty(2);
    long cores = dnas_rundir_usable_cores();
    if (cores > 0 && c->threads > cores)
        dnas_log(DNAS_LOG_WARNING, "warning: --threads %d is more than the %ld cores here: steps "
                 "will be slower, not faster (--threads 0 uses every core)", c->threads, cores);

    r->space = dnas_space_find(c->space);
    /* The table is read now, so that a bad --table fails before the search, not after it. */
    if (c->table[0]) {
        struct stat sb; /* the table reader would block on a FIFO */
        if (stat(c->table, &sb) == 0 && !S_ISREG(sb.st_mode)) {
            st = dnas_fail(DNAS_ERR_IO, "--table %s: not a regular file", c->table);
            goto fail;
        }
        if (!r->space || !r->space->bench_load)
            st = dnas_fail(DNAS_ERR_INVALID_ARG, "--table: the %s space has no benchmark table", c->space);
        else st = r->space->bench_load(c->table, &r->tab);
        if (st == DNAS_OK) st = make_absolute(c, "table", "--table", c->table);
        if (st != DNAS_OK) goto fail;
    }
    if (!c->data_dir[0] && getenv("DNAS_DATA") && getenv("DNAS_DATA")[0])
        st = dnas_search_config_set(c, "data_dir", getenv("DNAS_DATA"));
    if (st == DNAS_OK) st = dnas_search_load_data(c, &r->data, &r->sp);
    if (st != DNAS_OK) {
        if (resume && st == DNAS_ERR_IO) {
            char why[512];
            snprintf(why, sizeof why, "%s", dnas_last_error());
            st = dnas_fail(st, "%s (if the data moved, pass its new place: --resume %s --data DIR)",
                           why, p->dir);
        }
        goto fail;
    }
    uint32_t crc = dnas_cifar_fingerprint(&r->data);
    if (resume && c->data_n > 0 && (c->data_n != r->data.n || c->data_crc != crc)) {
        st = dnas_fail(DNAS_ERR_INVALID_ARG, "--data %s: not the data set this search was started "
                       "on (%d images, checksum %08x; the checkpoint recorded %d images, checksum "
                       "%08x)", c->data_dir, r->data.n, (unsigned)crc, c->data_n, (unsigned)c->data_crc);
        goto fail;
    }
    c->data_n = r->data.n;
    c->data_crc = crc;
    if (c->split_file[0]) {
        /* An edited split file must not change a resumed search's images unnoticed. */
        uint32_t sc = split_checksum(&r->sp);
        if (resume && c->split_crc && c->split_crc != sc) {
            st = dnas_fail(DNAS_ERR_INVALID_ARG, "--split-file %s: not the split this search was "
                           "started on (checksum %08x, the checkpoint recorded %08x)",
                           c->split_file, (unsigned)sc, (unsigned)c->split_crc);
            goto fail;
        }
        c->split_crc = sc;
        if ((st = make_absolute(c, "split_file", "--split-file", c->split_file)) != DNAS_OK) goto fail;
    }
    if ((st = make_absolute(c, "data_dir", "--data", c->data_dir)) != DNAS_OK) goto fail;
    if ((st = dnas_search_create(c, &r->s)) != DNAS_OK) goto fail;
    dnas_search *s = r->s;

    if (!resume && (st = dnas_mkdir_p(p->dir)) != DNAS_OK) goto fail;
    if ((st = dnas_lock_dir(p->dir, &r->lock)) != DNAS_OK) goto fail;
    uint64_t log_bytes = 0, alphas_bytes = 0;
    if (resume) {
        st = dnas_search_load(s, p->ckpt, &log_bytes, &alphas_bytes);
        if (st == DNAS_OK) st = dnas_rundir_check_log(p->log, log_bytes);
        if (st == DNAS_OK) st = dnas_rundir_check_log(p->alphas, alphas_bytes);
        if (st == DNAS_OK) st = dnas_rundir_truncate_log(p->log, log_bytes);
        if (st == DNAS_OK) st = dnas_rundir_truncate_log(p->alphas, alphas_bytes);
        if (st == DNAS_OK) st = sync_config_json(p, stored_json, c);
    } else {
        st = check_new_dir(p);
        if (st == DNAS_OK) {
            dnas_sbuf sb = {0};
            dnas_search_config_write(c, &sb, 1);
            st = sb.oom ? DNAS_ERR_OOM : dnas_write_file_atomic(p->config, sb.buf, sb.len);
            dnas_sb_free(&sb);
        }
        /* The initial checkpoint: a search stopped at any point from here on can be resumed. */
        if (st == DNAS_OK) st = dnas_search_save(s, p->ckpt, 0, 0);
    }
    if (st == DNAS_OK) {
        dnas_loader_config lc;
        dnas_loader_config_default(&lc);
        lc.data = &r->data;
        lc.idx = r->sp.train;
        lc.n_idx = r->sp.n_train;
        lc.valid_data = &r->data;
        lc.valid_idx = r->sp.valid;
        lc.n_valid_idx = r->sp.n_valid;
        lc.batch = c->batch;
        lc.seed = c->seed;
        st = dnas_loader_create(&lc, &r->L);
    }
    if (st == DNAS_OK) st = dnas_loader_seek(r->L, s->epoch, s->step);
    if (st != DNAS_OK) goto fail;
    /* A new events file per session; TensorBoard drops what earlier ones hold past this step. */
    if (s->epoch < c->epochs && dnas_tfevents_open(p->dir, s->total_steps + 1, &r->ev) != DNAS_OK)
        dnas_log(DNAS_LOG_WARNING, "warning: %s; the search goes on without TensorBoard events",
                 dnas_last_error());

    r->spe = dnas_loader_steps(r->L);
    if (resume && s->epoch >= c->epochs)
        dnas_log(DNAS_LOG_INFO, "the search in %s had finished", p->dir);
    else if (resume)
        dnas_log(DNAS_LOG_INFO, "resuming %s at epoch %d step %d/%d", p->dir, s->epoch + 1, s->step, r->spe);
    r->t_last = r->t_start = dnas_now_s();
    *out = r;
    return DNAS_OK;
fail:
    failed(r, st);
    dnas_run_close(r);
    return st;
}

/* One pass of the loop: a step and what follows it. */
static dnas_status one_step(dnas_run *r) {
    dnas_search *s = r->s;
    const dnas_search_config *c = &r->cfg;
    const run_paths *p = &r->p;
    s->lr = dnas_cosine_lr((float)c->lr, (float)c->lr_min, s->epoch,
                           c->lr_epochs > 0 ? c->lr_epochs : c->epochs);
    dnas_loader_batch b;
    DNAS_TRY(dnas_loader_next(r->L, &b));
    /* A failed step (divergence included) returns before anything is logged or saved. */
    DNAS_TRY(dnas_search_step(s, &b.train, &b.valid));
    s->step++;
    r->steps_here++;
    r->dirty = 1;
    double t = dnas_now_s(), rate = (double)r->steps_here / (t - r->t_start);
    if (c->progress && t - r->t_last > 0.5) {
        progress_line(s, r->spe, rate);
        r->t_last = t;
    }
    if (s->step % c->log_every == 0) {
        DNAS_TRY(log_line(s, p->log, "step", rate));
        events_line(&r->ev, s, 0, rate);
    }
    if (s->step >= r->spe) {
        DNAS_TRY(end_of_epoch(s, p, rate, &r->ev));
        /* --track-ev's eigenvalue and RobustDARTS' stop / roll back (hessian.c, rdarts.c). */
        int ev_act = DNAS_EV_NONE;
        DNAS_TRY(dnas_hessian_epoch_end(s, &b.valid, p->dir, p->log, &ev_act));
        s->strat->on_epoch_end(s);
        s->epoch++;
        s->step = 0;
        memset(&s->train_m, 0, sizeof s->train_m);
        memset(&s->valid_m, 0, sizeof s->valid_m);
        if (ev_act == DNAS_EV_STOP) s->epoch = c->epochs; /* DARTS-ES: the search is over */
        if (ev_act == DNAS_EV_ROLLBACK) DNAS_TRY(dnas_loader_seek(r->L, s->epoch, 0));
        DNAS_TRY(checkpoint(s, p));
        r->dirty = 0;
    } else if (c->ckpt_every && s->step % c->ckpt_every == 0) {
        DNAS_TRY(checkpoint(s, p));
        r->dirty = 0;
    }
    int stop = (c->stop && *c->stop) || r->interrupt;
    if (stop || (c->max_steps && r->steps_here >= c->max_steps && s->epoch < c->epochs)) {
        if (r->dirty) DNAS_TRY(checkpoint(s, p));
        r->dirty = 0;
        r->interrupt = 0; /* reported once: a session may go on stepping */
        if (c->progress) dnas_log_terminal("\n");
        if (stop)
            return dnas_fail(DNAS_ERR_INTERRUPTED, "interrupted at epoch %d step %d; checkpoint "
                             "saved, continue with: dnas search --resume %s", s->epoch + 1, s->step,
                             p->dir);
        return dnas_fail(DNAS_ERR_INTERRUPTED, "stopped after %ld step%s (--max-steps) at epoch "
                         "%d step %d: the search is incomplete; checkpoint saved, continue with: "
                         "dnas search --resume %s", r->steps_here, r->steps_here == 1 ? "" : "s",
                         s->epoch + 1, s->step, p->dir);
    }
    return DNAS_OK;
}

static dnas_status usable(const dnas_run *r) {
    if (r->broken)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "the search in %s stopped with an error; close it "
                         "and continue from its checkpoint with a resume", r->p.dir);
    return DNAS_OK;
}

dnas_status dnas_run_steps(dnas_run *r, long n) {
    DNAS_TRY(usable(r));
    const dnas_search_config *c = &r->cfg;
    dnas_search *s = r->s;
    /* A session that goes on after --max-steps stopped it: not one more step. */
    if (c->max_steps && r->steps_here >= c->max_steps && s->epoch < c->epochs)
        return dnas_fail(DNAS_ERR_INTERRUPTED, "--max-steps %d reached at epoch %d step %d: the "
                         "search is incomplete; continue with: dnas search --resume %s",
                         c->max_steps, s->epoch + 1, s->step, r->p.dir);
    for (long i = 0; (n < 0 || i < n) && s->epoch < c->epochs; i++) {
        dnas_status st = one_step(r);
        if (st != DNAS_OK) {
            if (st != DNAS_ERR_INTERRUPTED) r->broken = 1;
            return failed(r, st);
        }
    }
    return DNAS_OK;
}

void dnas_run_interrupt(dnas_run *r) { r->interrupt = 1; }

dnas_status dnas_run_checkpoint(dnas_run *r) {
    DNAS_TRY(usable(r));
    if (r->lock < 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "the search in %s is finished and its directory "
                         "released: nothing to save", r->p.dir);
    DNAS_TRY(checkpoint(r->s, &r->p));
    r->dirty = 0;
    return DNAS_OK;
}

dnas_status dnas_run_finish(dnas_run *r, dnas_search_result *res) {
    memset(res, 0, sizeof *res);
    if (r->finished) {
        *res = r->result;
        return DNAS_OK;
    }
    DNAS_TRY(usable(r));
    dnas_search *s = r->s;
    const dnas_search_config *c = &r->cfg;
    if (s->epoch < c->epochs)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "the search in %s is at epoch %d step %d of %d "
                         "epochs: run it to its end before finishing", r->p.dir, s->epoch + 1,
                         s->step, c->epochs);
    dnas_status st = report(s, res, r->t0);
    if (st != DNAS_OK) return failed(r, st);
    dnas_log(DNAS_LOG_INFO, "search done in %.1f s: %s", res->seconds, res->arch);
    if (r->tab) {
        dnas_space_bench q;
        if ((st = r->space->bench_find(r->tab, res->arch, &q)) != DNAS_OK) return failed(r, st);
        dnas_log(DNAS_LOG_INFO, "NAS-Bench-201 (200 epochs): CIFAR-10 valid %.2f test %.2f | "
                 "CIFAR-100 valid %.2f test %.2f | ImageNet16-120 valid %.2f test %.2f",
                 q.c10_valid, q.c10_test, q.c100_valid, q.c100_test, q.in16_valid, q.in16_test);
        dnas_sbuf sb = {0};
        dnas_sb_printf(&sb, "{\"kind\": \"result\", \"arch\": ");
        dnas_sb_json_string(&sb, res->arch);
        dnas_sb_printf(&sb, ", \"nb201_index\": %d, \"c10_valid\": %.2f, \"c10_test\": %.2f, "
                       "\"c100_valid\": %.2f, \"c100_test\": %.2f, \"in16_valid\": %.2f, "
                       "\"in16_test\": %.2f}", q.index, q.c10_valid, q.c10_test, q.c100_valid,
                       q.c100_test, q.in16_valid, q.in16_test);
        if ((st = append_sb(r->p.log, &sb)) != DNAS_OK) return failed(r, st);
    }
    r->finished = 1;
    r->result = *res;
    return DNAS_OK;
}

void dnas_run_unlock(dnas_run *r) {
    dnas_unlock_dir(r->lock);
    r->lock = -1;
}

dnas_search *dnas_run_search(dnas_run *r) { return r->s; }
const dnas_search_config *dnas_run_config(const dnas_run *r) { return &r->cfg; }
int dnas_run_steps_per_epoch(const dnas_run *r) { return r->spe; }
const char *dnas_run_dir(const dnas_run *r) { return r->p.dir; }

/* The configuration a resume runs with: the one stored in req->out_dir's checkpoint, with only
 * the settings that may differ between sessions taken from req. *stored gets the stored one
 * as config.json text (the caller frees it). */
static dnas_status resume_config(const dnas_search_config *req, dnas_search_config *c,
                                 dnas_sbuf *stored) {
    const char *dir = req->out_dir;
    if (!dir[0]) return dnas_fail(DNAS_ERR_INVALID_ARG, "--resume needs a run directory");
    run_paths p;
    make_paths(&p, dir);
    if (!dnas_file_exists(p.ckpt) && dnas_file_exists(p.config))
        return dnas_fail(DNAS_ERR_IO, "%s holds no %s: its search stopped before saving one; "
                         "start it again with dnas search --out %s", dir, CKPT_NAME, dir);
    DNAS_TRY(dnas_search_load_config(p.ckpt, c));
    dnas_search_config_write(c, stored, 1);
    if (stored->oom) {
        dnas_sb_free(stored);
        return dnas_fail(DNAS_ERR_OOM, "out of memory reading %s", p.ckpt);
    }
    /* The run directory may have moved since; the thread count is the caller's (note: the
     * bit-identical guarantee holds for the same thread count). */
    memcpy(c->out_dir, req->out_dir, sizeof c->out_dir);
    if (req->threads > 0) c->threads = req->threads;
    if (req->data_dir[0]) memcpy(c->data_dir, req->data_dir, sizeof c->data_dir);
    if (req->table[0]) memcpy(c->table, req->table, sizeof c->table);
    c->stop = req->stop;
    c->progress = req->progress;
    c->max_steps = req->max_steps;
    c->resume = 1;
    return DNAS_OK;
}

dnas_status dnas_run_open(const dnas_search_config *c, dnas_run **out) {
    *out = NULL;
    if (c->resume) {
        dnas_search_config rc;
        dnas_sbuf stored = {0};
        DNAS_TRY(resume_config(c, &rc, &stored));
        dnas_status st = open_run(&rc, stored.buf, out);
        dnas_sb_free(&stored);
        return st;
    }
    dnas_search_config cc = *c;
    cc.data_n = 0;
    cc.data_crc = 0;
    cc.split_crc = 0;
    return open_run(&cc, NULL, out);
}

dnas_status dnas_search_run(const dnas_search_config *c, dnas_search_result *r) {
    memset(r, 0, sizeof *r);
    dnas_run *run;
    DNAS_TRY(dnas_run_open(c, &run));
    dnas_status st = dnas_run_steps(run, -1);
    if (st == DNAS_OK) st = dnas_run_finish(run, r);
    dnas_run_close(run);
    return st;
}

dnas_status dnas_search_resume(const char *dir, int threads, volatile int *stop, int progress,
                               dnas_search_result *r) {
    dnas_search_config req;
    DNAS_TRY(dnas_search_config_default(&req, NULL));
    if (!dir || strlen(dir) >= sizeof req.out_dir)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "--resume: directory name %s", dir ? "too long" : "missing");
    snprintf(req.out_dir, sizeof req.out_dir, "%s", dir);
    req.threads = threads > 0 ? threads : 0;
    req.stop = stop;
    req.progress = progress;
    req.resume = 1;
    return dnas_search_run(&req, r);
}
