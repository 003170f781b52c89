/* `dnas select`: the final architecture of a finished search, by magnitude (the search's own
 * derive rule) or by perturbation (DARTS-PT, pt.c), with the benchmark lookup. */
#include "select.h"
#include "../core/alloc.h"
#include "../core/clock.h"
#include "../core/log.h"
#include <stdio.h>
#include <string.h>

typedef struct {
    char ckpt[600], sel_ckpt[600], log[600], genotype[600];
} select_paths;

static void paths_make(select_paths *p, const char *dir, const char *method) {
    snprintf(p->ckpt, sizeof p->ckpt, "%s/checkpoint.dnas", dir);
    snprintf(p->sel_ckpt, sizeof p->sel_ckpt, "%s/select-%s.dnas", dir, method);
    snprintf(p->log, sizeof p->log, "%s/select-%s.jsonl", dir, method);
    snprintf(p->genotype, sizeof p->genotype, "%s/genotype-%s.txt", dir, method);
}

/* Writes the genotype file, or checks that an existing one says the same (a rerun of a
 * finished selection); a different one is never overwritten. */
static dnas_status put_genotype(const char *path, const char *arch) {
    char line[DNAS_GENOTYPE_MAX + 2];
    snprintf(line, sizeof line, "%s\n", arch);
    if (dnas_file_exists(path)) {
        char *old = NULL;
        size_t n = 0;
        DNAS_TRY(dnas_read_file(path, &old, &n));
        int same = n == strlen(line) && memcmp(old, line, n) == 0;
        dnas_free(old);
        if (same) return DNAS_OK;
        return dnas_fail(DNAS_ERR_IO, "%s already holds another genotype; not overwritten (move "
                         "it away to select again)", path);
    }
    return dnas_write_file_atomic(path, line, strlen(line));
}

static dnas_status result_line(const char *log, const char *method, const dnas_select_result *r) {
    dnas_sbuf sb = {0};
    dnas_sb_printf(&sb, "{\"kind\": \"result\", \"method\": ");
    dnas_sb_json_string(&sb, method);
    dnas_sb_printf(&sb, ", \"arch\": ");
    dnas_sb_json_string(&sb, r->arch);
    if (r->has_bench)
        dnas_sb_printf(&sb, ", \"nb201_index\": %d, \"c10_valid\": %.2f, \"c10_test\": %.2f, "
                       "\"c100_valid\": %.2f, \"c100_test\": %.2f, \"in16_valid\": %.2f, "
                       "\"in16_test\": %.2f", r->bench.index, r->bench.c10_valid, r->bench.c10_test,
                       r->bench.c100_valid, r->bench.c100_test, r->bench.in16_valid,
                       r->bench.in16_test);
    dnas_sb_printf(&sb, ", \"seconds\": %.1f}", r->seconds);
    dnas_status st = sb.oom ? DNAS_ERR_OOM : dnas_append_line(log, sb.buf);
    dnas_sb_free(&sb);
    return st;
}

dnas_status dnas_select_run(const dnas_select_config *c, dnas_select_result *r) {
    double t0 = dnas_now_s();
    memset(r, 0, sizeof *r);
    int pt = strcmp(c->method, "pt") == 0;
    if (!pt && strcmp(c->method, "magnitude") != 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "--method: unknown selection '%s' (known: "
                         "magnitude, pt)", c->method);
    if (!c->dir[0]) return dnas_fail(DNAS_ERR_INVALID_ARG, "select needs a run directory");
    select_paths p;
    paths_make(&p, c->dir, c->method);
    dnas_search_config cfg;
    DNAS_TRY(dnas_search_load_config(p.ckpt, &cfg));
    if (c->data_dir[0]) snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", c->data_dir);
    if (c->table[0]) snprintf(cfg.table, sizeof cfg.table, "%s", c->table);
    if (c->threads > 0) cfg.threads = c->threads;
    /* Magnitude reads alpha only: a batch of 1 keeps the planned activations small. */
    if (!pt) cfg.batch = 1;

    dnas_search *s = NULL;
    dnas_cifar data = {0};
    dnas_split sp = {0};
    uint64_t lb = 0, ab = 0;
    void *tab = NULL;
    int lock = -1;
    const dnas_space *space = dnas_space_find(cfg.space);
    dnas_status st = space ? dnas_lock_dir(c->dir, &lock) : DNAS_ERR_INVALID_ARG;
    /* The table first: a bad --table fails before any selection work. */
    if (st == DNAS_OK && cfg.table[0] && space->bench_load) st = space->bench_load(cfg.table, &tab);
    if (st == DNAS_OK) st = dnas_search_create(&cfg, &s);
    if (st == DNAS_OK) st = dnas_search_load(s, p.ckpt, &lb, &ab);
    if (st == DNAS_OK && s->epoch < cfg.epochs)
        st = dnas_fail(DNAS_ERR_INVALID_ARG, "%s: the search stopped at epoch %d of %d; finish it "
                       "with `dnas search --resume %s` before selecting", p.ckpt, s->epoch,
                       cfg.epochs, c->dir);
    if (st == DNAS_OK && pt) {
        if (dnas_file_exists(p.sel_ckpt)) {
            dnas_log(DNAS_LOG_INFO, "pt: resuming the selection from %s", p.sel_ckpt);
            st = dnas_search_load(s, p.sel_ckpt, &lb, &ab);
        }
        if (st == DNAS_OK) st = dnas_search_load_data(&cfg, &data, &sp);
        if (st == DNAS_OK) st = dnas_select_pt(s, &data, &sp, p.sel_ckpt, p.log, c->progress, c->stop);
    }
    if (st == DNAS_OK) st = dnas_search_genotype(s, r->arch, sizeof r->arch);
    if (st == DNAS_OK) st = put_genotype(p.genotype, r->arch);
    if (st == DNAS_OK && tab) {
        dnas_space_bench q;
        st = space->bench_find(tab, r->arch, &q);
        if (st == DNAS_OK) {
            r->has_bench = 1;
            r->bench = (dnas_nb201_result){q.index, q.c10_valid, q.c10_test, q.c100_valid,
                                           q.c100_test, q.in16_valid, q.in16_test};
        }
    }
    r->seconds = dnas_now_s() - t0;
    if (st == DNAS_OK && pt) st = result_line(p.log, c->method, r);
    dnas_search_destroy(s);
    if (tab) space->bench_free(tab);
    dnas_unlock_dir(lock);
    dnas_split_free(&sp);
    dnas_cifar_free(&data);
    return st;
}
