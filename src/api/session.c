/* The embedding API (include/dnas.h, "embedding"): version, heap configurations and search
 * sessions. A session is the run loop's handle (src/search/run.h) plus the selection a
 * configuration asks for, which sits above the search layer, hence this file above both. */
#include "../../include/dnas.h"
#include "../core/alloc.h"
#include "../core/status.h"
#include "../search/run.h"
#include "../select/select.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

const char *dnas_version(void) { return DNAS_VERSION_STRING; }

dnas_status dnas_search_config_new(const char *algo, dnas_search_config **out) {
    *out = NULL;
    dnas_search_config *c = dnas_alloc(sizeof *c, "search configuration");
    if (!c) return DNAS_ERR_OOM;
    dnas_status st = dnas_search_config_default(c, algo);
    if (st != DNAS_OK) {
        dnas_free(c);
        return st;
    }
    *out = c;
    return DNAS_OK;
}

void dnas_search_config_free(dnas_search_config *c) { dnas_free(c); }

dnas_status dnas_search_config_json(const dnas_search_config *c, char *buf, size_t cap) {
    dnas_sbuf sb = {0};
    dnas_search_config_write(c, &sb, 1);
    dnas_status st = DNAS_OK;
    if (sb.oom) st = dnas_fail(DNAS_ERR_OOM, "out of memory formatting the configuration");
    else if (!buf || sb.len + 1 > cap)
        st = dnas_fail(DNAS_ERR_INVALID_ARG, "configuration text needs %zu bytes, the buffer "
                       "holds %zu", sb.len + 1, cap);
    else memcpy(buf, sb.buf, sb.len + 1);
    dnas_sb_free(&sb);
    return st;
}

struct dnas_session {
    dnas_run *run;
    int selected;              /* finish ran the configured selection */
    dnas_select_result sel;
};

dnas_status dnas_session_open(const dnas_search_config *c, dnas_session **out) {
    if (!out) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_session_open: no output handle");
    *out = NULL;
    if (!c) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_session_open: no configuration");
    dnas_session *h = dnas_calloc(sizeof *h, "search session");
    if (!h) return DNAS_ERR_OOM;
    dnas_status st = dnas_run_open(c, &h->run);
    if (st != DNAS_OK) {
        dnas_free(h);
        return st;
    }
    *out = h;
    return DNAS_OK;
}

dnas_status dnas_session_open_resume(const char *dir, int threads, dnas_session **out) {
    if (!out) return dnas_fail(DNAS_ERR_INVALID_ARG, "dnas_session_open_resume: no output handle");
    *out = NULL;
    dnas_search_config req;
    DNAS_TRY(dnas_search_config_default(&req, NULL));
    if (!dir || !dir[0] || strlen(dir) >= sizeof req.out_dir)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "resume: directory name %s",
                         dir && dir[0] ? "too long" : "missing");
    snprintf(req.out_dir, sizeof req.out_dir, "%s", dir);
    req.threads = threads > 0 ? threads : 0;
    req.progress = 0;
    req.resume = 1;
    return dnas_session_open(&req, out);
}

dnas_status dnas_session_step(dnas_session *h, long n) {
    if (n < 0) return dnas_fail(DNAS_ERR_INVALID_ARG, "step: n must be >= 0 (got %ld)", n);
    return dnas_run_steps(h->run, n);
}

dnas_status dnas_session_run_epoch(dnas_session *h) {
    const dnas_search *s = dnas_run_search(h->run);
    if (s->epoch >= s->cfg.epochs) return DNAS_OK;
    return dnas_run_steps(h->run, dnas_run_steps_per_epoch(h->run) - s->step);
}

void dnas_session_interrupt(dnas_session *h) { dnas_run_interrupt(h->run); }

int dnas_session_epoch(const dnas_session *h) { return dnas_run_search(h->run)->epoch; }
int dnas_session_epoch_step(const dnas_session *h) { return dnas_run_search(h->run)->step; }
long dnas_session_total_steps(const dnas_session *h) { return dnas_run_search(h->run)->total_steps; }
int dnas_session_steps_per_epoch(const dnas_session *h) { return dnas_run_steps_per_epoch(h->run); }
int dnas_session_epochs(const dnas_session *h) { return dnas_run_config(h->run)->epochs; }
int dnas_session_done(const dnas_session *h) {
    return dnas_run_search(h->run)->epoch >= dnas_run_config(h->run)->epochs;
}
const char *dnas_session_dir(const dnas_session *h) { return dnas_run_dir(h->run); }
const dnas_search_config *dnas_session_config(const dnas_session *h) { return dnas_run_config(h->run); }

void dnas_session_alpha_shape(const dnas_session *h, int *groups, int *rows, int *cols) {
    const dnas_space *sp = dnas_run_search(h->run)->space;
    if (groups) *groups = sp->groups;
    if (rows) *rows = sp->rows;
    if (cols) *cols = sp->cols;
}

static size_t arch_count(const dnas_search *s) {
    return (size_t)s->space->groups * s->space->rows * s->space->cols;
}

static dnas_status check_count(const dnas_search *s, size_t n, const char *what) {
    if (n != arch_count(s))
        return dnas_fail(DNAS_ERR_INVALID_ARG, "%s: %zu values given, the %s space's alpha holds "
                         "%d x %d x %d = %zu", what, n, s->space->name, s->space->groups,
                         s->space->rows, s->space->cols, arch_count(s));
    return DNAS_OK;
}

dnas_status dnas_session_get_alpha(const dnas_session *h, float *out, size_t n) {
    const dnas_search *s = dnas_run_search(h->run);
    DNAS_TRY(check_count(s, n, "get_alpha"));
    memcpy(out, s->alpha, n * sizeof(float));
    return DNAS_OK;
}

dnas_status dnas_session_set_alpha(dnas_session *h, const float *in, size_t n) {
    dnas_search *s = dnas_run_search(h->run);
    DNAS_TRY(check_count(s, n, "set_alpha"));
    for (size_t i = 0; i < n; i++)
        if (!isfinite(in[i]))
            return dnas_fail(DNAS_ERR_INVALID_ARG, "set_alpha: value %zu is %g (alpha must be "
                             "finite)", i, (double)in[i]);
    memcpy(s->alpha, in, n * sizeof(float));
    return DNAS_OK;
}

dnas_status dnas_session_get_weights(const dnas_session *h, float *out, size_t n) {
    const dnas_search *s = dnas_run_search(h->run);
    DNAS_TRY(check_count(s, n, "get_weights"));
    dnas_search_weights(s, out);
    return DNAS_OK;
}

dnas_status dnas_session_genotype(const dnas_session *h, char *buf, size_t cap) {
    char arch[DNAS_GENOTYPE_MAX];
    DNAS_TRY(dnas_search_genotype(dnas_run_search(h->run), arch, sizeof arch));
    if (!buf || strlen(arch) + 1 > cap)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype: %zu bytes needed, the buffer holds %zu",
                         strlen(arch) + 1, cap);
    memcpy(buf, arch, strlen(arch) + 1);
    return DNAS_OK;
}

dnas_status dnas_session_save(dnas_session *h) { return dnas_run_checkpoint(h->run); }

dnas_status dnas_session_finish(dnas_session *h, dnas_search_result *r, dnas_select_result *sel) {
    dnas_search_result tmp;
    if (!r) r = &tmp;
    if (sel) memset(sel, 0, sizeof *sel);
    DNAS_TRY(dnas_run_finish(h->run, r));
    if (!h->selected && strcmp(r->select, "pt") == 0) {
        const dnas_search_config *c = dnas_run_config(h->run);
        dnas_select_config sc;
        memset(&sc, 0, sizeof sc);
        snprintf(sc.method, sizeof sc.method, "pt");
        snprintf(sc.dir, sizeof sc.dir, "%s", r->dir);
        sc.threads = c->threads;
        sc.progress = c->progress;
        sc.stop = c->stop;
        /* The selection locks the directory itself, and the search is over. */
        dnas_run_unlock(h->run);
        DNAS_TRY(dnas_select_run(&sc, &h->sel));
        h->selected = 1;
    }
    if (sel && h->selected) *sel = h->sel;
    return DNAS_OK;
}

void dnas_session_close(dnas_session *h) {
    if (!h) return;
    dnas_run_close(h->run);
    dnas_free(h);
}
