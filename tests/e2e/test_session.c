/* The embedding API in C (include/dnas.h, "embedding"): a session stepped in uneven pieces
 * ends exactly where dnas_search_run ends; the log callback gets every line; alpha's getters
 * and setter check sizes; open fails cleanly (nothing left behind) when any allocation fails;
 * close then resume continues. Run under test-asan, this covers the sessions' error paths. */
#include "dnas.h"
#include "test.h"
#include "e2e.h"

static char base[256];

static void cfg_tiny(dnas_search_config *c, const char *dir) {
    dnas_search_config_default(c, "darts1");
    const char *kv[][2] = {{"channels", "4"}, {"cells", "1"}, {"train_images", "128"},
                           {"batch", "32"}, {"epochs", "2"}, {"seed", "5"}, {"threads", "1"},
                           {"progress", "0"}, {"log_every", "1"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) dnas_search_config_set(c, kv[i][0], kv[i][1]);
    dnas_search_config_set(c, "data", e2e_cifar_dir());
    dnas_search_config_set(c, "out", dir);
}

static void slurp_in(const char *dir, const char *name, char *buf, size_t cap) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    e2e_slurp(p, buf, cap);
}

typedef struct {
    int lines, progress, bad, epoch_lines;
} log_count;

static void on_log(void *user, dnas_log_level level, const char *line) {
    log_count *n = user;
    n->lines++;
    n->progress += level == DNAS_LOG_PROGRESS;
    n->bad += strchr(line, '\n') != NULL || strchr(line, '\033') != NULL;
    n->epoch_lines += strncmp(line, "epoch ", 6) == 0 && level == DNAS_LOG_INFO;
}

static void test_session_matches_search_run(void) {
    char da[300], db[300];
    snprintf(da, sizeof da, "%s-run", base);
    snprintf(db, sizeof db, "%s-session", base);
    dnas_search_config c;
    dnas_search_result ra, rb;
    cfg_tiny(&c, da);
    dnas_status st = dnas_search_run(&c, &ra);
    CHECK(st == DNAS_OK, "dnas_search_run: %s", dnas_last_error());

    log_count n = {0};
    dnas_set_log_callback(on_log, &n);
    dnas_search_config *hc = NULL;
    CHECK(dnas_search_config_new("darts1", &hc) == DNAS_OK, "config_new: %s", dnas_last_error());
    if (!hc) return;
    cfg_tiny(hc, db);
    dnas_session *h = NULL;
    st = dnas_session_open(hc, &h);
    dnas_search_config_free(hc);
    CHECK(st == DNAS_OK, "session_open: %s", dnas_last_error());
    if (!h) {
        dnas_set_log_callback(NULL, NULL);
        return;
    }
    int g = 0, r = 0, k = 0;
    dnas_session_alpha_shape(h, &g, &r, &k);
    CHECK(g == 1 && r == 6 && k == 5, "alpha shape %d x %d x %d", g, r, k);
    CHECK(dnas_session_steps_per_epoch(h) == 4 && dnas_session_epochs(h) == 2, "4 steps x 2 epochs");
    float a[30], w[30];
    CHECK(dnas_session_get_alpha(h, a, 29) == DNAS_ERR_INVALID_ARG &&
          strstr(dnas_last_error(), "1 x 6 x 5 = 30"), "wrong size: %s", dnas_last_error());
    CHECK(dnas_session_finish(h, &rb, NULL) == DNAS_ERR_INVALID_ARG, "finish before the end");
    CHECK(dnas_session_step(h, 1) == DNAS_OK && dnas_session_step(h, 2) == DNAS_OK, "steps: %s",
          dnas_last_error());
    CHECK(dnas_session_run_epoch(h) == DNAS_OK && dnas_session_epoch(h) == 1 &&
          dnas_session_epoch_step(h) == 0, "run_epoch ends epoch 1 (at %d/%d)",
          dnas_session_epoch(h), dnas_session_epoch_step(h));
    CHECK(dnas_session_save(h) == DNAS_OK, "save: %s", dnas_last_error());
    CHECK(dnas_session_step(h, 100) == DNAS_OK && dnas_session_done(h) &&
          dnas_session_total_steps(h) == 8, "stepping past the end stops at it (%ld steps)",
          dnas_session_total_steps(h));
    dnas_select_result sel;
    CHECK(dnas_session_finish(h, &rb, &sel) == DNAS_OK, "finish: %s", dnas_last_error());
    CHECK(strcmp(ra.arch, rb.arch) == 0 && sel.arch[0] == 0, "arch %s vs %s", ra.arch, rb.arch);
    CHECK(dnas_session_get_alpha(h, a, 30) == DNAS_OK && dnas_session_get_weights(h, w, 30) == DNAS_OK,
          "alpha: %s", dnas_last_error());
    a[3] = NAN;
    CHECK(dnas_session_set_alpha(h, a, 30) == DNAS_ERR_INVALID_ARG, "NaN alpha accepted");
    dnas_session_close(h);
    dnas_set_log_callback(NULL, NULL);
    CHECK(n.epoch_lines == 2 && n.progress == 0 && n.bad == 0 && n.lines >= 3,
          "log callback: %d lines, %d epoch lines, %d progress, %d with control characters",
          n.lines, n.epoch_lines, n.progress, n.bad);
    static char fa[65536], fb[65536];
    const char *same[] = {"alphas.jsonl", "genotype.txt"};
    for (int i = 0; i < 2; i++) {
        slurp_in(da, same[i], fa, sizeof fa);
        slurp_in(db, same[i], fb, sizeof fb);
        CHECK(fa[0] && strcmp(fa, fb) == 0, "%s differs between dnas_search_run and a session", same[i]);
    }
    /* Closed and opened again: the finished search, its position kept. */
    h = NULL;
    CHECK(dnas_session_open_resume(db, 1, &h) == DNAS_OK && dnas_session_done(h) &&
          dnas_session_total_steps(h) == 8, "resume: %s", dnas_last_error());
    char geno[1024];
    CHECK(h && dnas_session_genotype(h, geno, sizeof geno) == DNAS_OK && strcmp(geno, ra.arch) == 0,
          "genotype after resume: %s", h ? geno : dnas_last_error());
    CHECK(h && dnas_session_genotype(h, geno, 4) == DNAS_ERR_INVALID_ARG, "small buffer accepted");
    dnas_session_close(h);
    e2e_rm_rf(da);
    e2e_rm_rf(db);
}

/* Each allocation of open fails in turn: a clean error, no handle (and, under ASan, no leak). */
static void test_open_allocation_failures(void) {
    char d[300];
    snprintf(d, sizeof d, "%s-oom", base);
    dnas_search_config c;
    cfg_tiny(&c, d);
    long n_allocs = 0;
    for (long at = 1; at < 100000 && !n_allocs; at++) {
        dnas_failing_allocator f;
        dnas_failing_allocator_install(&f, at);
        dnas_session *h = NULL;
        dnas_status st = dnas_session_open(&c, &h);
        dnas_set_allocator(NULL);
        if (f.calls < at) n_allocs = f.calls; /* nothing failed: every allocation was tried */
        if (st == DNAS_OK) {
            /* Only what the search can do without (TensorBoard events) may fail. */
            CHECK(f.calls < at || strstr(dnas_last_error(), "tfevents"), "allocation %ld failed "
                  "and open still succeeded (last error: %s)", at, dnas_last_error());
            dnas_session_close(h);
        } else {
            CHECK(h == NULL && st == DNAS_ERR_OOM && strstr(dnas_last_error(), "out of memory"),
                  "allocation %ld failing: status %d, %s", at, (int)st, dnas_last_error());
        }
        e2e_rm_rf(d); /* the initial checkpoint may have been written before a later failure */
    }
    CHECK(n_allocs > 0, "open never finished without a failed allocation");
    printf("  open handled a failure at each of its %ld allocations\n", n_allocs);
    e2e_rm_rf(d);
}

int main(void) {
    snprintf(base, sizeof base, "/tmp/dnas-e2e-%d-session", (int)getpid());
    if (!e2e_require_cifar()) return 1;
    CHECK(strcmp(dnas_version(), DNAS_VERSION_STRING) == 0, "version %s", dnas_version());
    RUN(test_session_matches_search_run);
    RUN(test_open_allocation_failures);
    TEST_EXIT();
}
