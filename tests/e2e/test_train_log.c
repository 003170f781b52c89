/* The log callback (dnas_set_log_callback) gets what `dnas train` and `dnas report` would print
 * on stderr: a small NB201 training through the C API with progress on sends the "training ..."
 * line, PROGRESS lines (at most every 0.5 s), the two epoch lines and "training done", none with a
 * newline or terminal control in it, and nothing reaches stderr; a resume after config.json was
 * edited sends the "resuming" line and the config warning as a WARNING; `dnas report` on a
 * run whose log.jsonl ends in a truncated line sends its warning. */
#include "dnas.h"
#include "test.h"
#include "e2e.h"

#define ARCH "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"

typedef struct {
    int lines, info, warn, progress, bad, epoch, start, done, resuming, cfg_warn, report_warn;
} counts;

static void on_log(void *user, dnas_log_level level, const char *line) {
    counts *n = user;
    n->lines++;
    n->info += level == DNAS_LOG_INFO;
    n->warn += level == DNAS_LOG_WARNING;
    n->progress += level == DNAS_LOG_PROGRESS && strncmp(line, "epoch ", 6) == 0;
    n->bad += strchr(line, '\n') != NULL || strchr(line, '\r') != NULL || strchr(line, '\033') != NULL;
    n->epoch += level == DNAS_LOG_INFO && strncmp(line, "epoch ", 6) == 0 && strstr(line, "test loss");
    n->start += level == DNAS_LOG_INFO && strncmp(line, "training nb201 ", 15) == 0 && strstr(line, " weights, 2 epochs of 20 steps");
    n->done += level == DNAS_LOG_INFO && strncmp(line, "training done in ", 17) == 0;
    n->resuming += level == DNAS_LOG_INFO && strncmp(line, "resuming ", 9) == 0;
    n->cfg_warn += level == DNAS_LOG_WARNING && strstr(line, "differs from the configuration stored") != NULL;
    n->report_warn += level == DNAS_LOG_WARNING && strncmp(line, "warning: ", 9) == 0 &&
                      strstr(line, "log.jsonl") != NULL;
}

static void test_train_and_report_lines(void) {
    char dir[256], path[400];
    snprintf(dir, sizeof dir, "/tmp/dnas-e2e-trainlog-%d", (int)getpid());
    e2e_rm_rf(dir);
    dnas_train_config c;
    dnas_train_config_default(&c, "nb201");
    const char *kv[][2] = {{"genotype", ARCH}, {"channels", "16"}, {"cells", "1"}, {"batch", "32"},
                           {"train_images", "640"}, {"test_images", "32"}, {"epochs", "2"},
                           {"threads", "1"}, {"progress", "1"}, {"max_steps", "30"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        CHECK(dnas_train_config_set(&c, kv[i][0], kv[i][1]) == DNAS_OK, "%s: %s", kv[i][0], dnas_last_error());
    dnas_train_config_set(&c, "data", e2e_cifar_dir());
    dnas_train_config_set(&c, "out", dir);

    /* stderr to a file for the run: with a callback set nothing may land there. */
    char errpath[300];
    snprintf(errpath, sizeof errpath, "%s.stderr", dir);
    fflush(stderr);
    int saved = dup(2);
    FILE *ef = fopen(errpath, "w");
    if (ef) dup2(fileno(ef), 2);

    counts n = {0};
    dnas_set_log_callback(on_log, &n);
    dnas_train_result r;
    dnas_status st = dnas_train_run(&c, &r); /* stops after 30 of 40 steps (--max-steps) */
    counts first = n;
    /* A hand edit of config.json: the resume warns and uses the checkpoint's copy. */
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "a");
    if (f) {
        fputs(" ", f);
        fclose(f);
    }
    dnas_status st2 = dnas_train_resume(dir, 1, NULL, 1, &r);
    /* A truncated last line in log.jsonl: report skips it with a warning. */
    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    f = fopen(path, "a");
    if (f) {
        fputs("{\"kind\": \"epo", f);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/report.html", dir);
    dnas_status st3 = dnas_report_write(dir, NULL, path);
    dnas_set_log_callback(NULL, NULL);

    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    if (ef) fclose(ef);
    static char err[4096];
    e2e_slurp(errpath, err, sizeof err);
    unlink(errpath);

    CHECK(st == DNAS_ERR_INTERRUPTED, "the first run: %d %s", st, dnas_last_error());
    CHECK(st2 == DNAS_OK, "resume: %s", dnas_last_error());
    CHECK(st3 == DNAS_OK, "report: %s", dnas_last_error());
    printf("  %d lines: %d info, %d warnings, %d progress; stderr got %zu bytes\n", n.lines, n.info,
           n.warn, n.progress, strlen(err));
    CHECK(first.start == 1 && first.epoch == 1 && first.done == 0,
          "first run: start %d, progress %d, epoch lines %d, done %d", first.start, first.progress,
          first.epoch, first.done);
    /* Progress lines come at most every 0.5 s: 40 steps of C 16 at batch 32 take longer. */
    CHECK(n.resuming == 1 && n.cfg_warn == 1 && n.epoch == 2 && n.done == 1 && n.progress >= 1,
          "resume: resuming %d, config warning %d, epoch lines %d, done %d, progress %d", n.resuming,
          n.cfg_warn, n.epoch, n.done, n.progress);
    CHECK(n.report_warn == 1, "report: %d warnings about log.jsonl", n.report_warn);
    CHECK(n.bad == 0, "%d lines with a newline or terminal control", n.bad);
    CHECK(err[0] == 0, "stderr got output with a callback set: %s", err);
    e2e_rm_rf(dir);
}

int main(void) {
    if (!e2e_require_cifar()) return 1;
    RUN(test_train_and_report_lines);
    TEST_EXIT();
}
