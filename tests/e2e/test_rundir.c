/* The run directory under stress: a checkpoint with a bad stored configuration, a log shorter
 * than its checkpoint, a kill before the first periodic checkpoint, a directory that holds only
 * a config.json or someone else's files, two processes on one directory, --max-steps, a resume
 * from another working directory or with the data moved, a bad --table, config.json edits,
 * a diverging alpha, and a FIFO as the checkpoint. Every search here is tiny (C=4, one cell). */
#include "test.h"
#include "e2e.h"
#include "io/checkpoint.h"
#include <limits.h>

static char tool_abs[PATH_MAX], data_abs[PATH_MAX];

static void run_dir(char *buf, size_t cap, const char *tag) {
    snprintf(buf, cap, "/tmp/dnas-e2e-%d-%s", (int)getpid(), tag);
    e2e_rm_rf(buf);
}

/* argv of a tiny search into `dir`, then the NULL-terminated extra flags (later flags win).
 * One thread: steps this small gain nothing from two, and OpenMP threads spinning against the
 * other tests' jobs on a busy machine made them ten times slower. */
static char **tiny_argv(const char *dir, va_list ap) {
    static char *argv[64];
    const char *base[] = {tool_abs, "search", "--data", e2e_cifar_dir(), "--channels", "4",
                          "--cells", "1", "--train-images", "128", "--epochs", "1", "--threads", "1",
                          "--progress", "0", "--out", dir};
    int n = 0;
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++) argv[n++] = (char *)base[i];
    for (const char *a = va_arg(ap, const char *); a && n < 63; a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    argv[n] = NULL;
    return argv;
}

static int run_tiny(const char *dir, ...) {
    va_list ap;
    va_start(ap, dir);
    char **argv = tiny_argv(dir, ap);
    va_end(ap);
    return e2e_run(argv);
}

static pid_t spawn_tiny(const char *out, const char *dir, ...) {
    va_list ap;
    va_start(ap, dir);
    char **argv = tiny_argv(dir, ap);
    va_end(ap);
    return e2e_spawn(argv, out);
}

/* The last run failed cleanly with one line containing `want`. */
static void expect_error(int rc, const char *want, const char *what) {
    int lines = e2e_count_lines(e2e_out);
    CHECK(rc > 0 && rc < 128, "%s: exit status %d (want a clean non-zero exit)", what, rc);
    CHECK(lines == 1, "%s: %d output lines, want 1: %s", what, lines, e2e_out);
    CHECK(strstr(e2e_out, want) != NULL, "%s: message lacks '%s': %s", what, want, e2e_out);
    printf("  %-30s -> exit %d: %s", what, rc, e2e_out);
}

static long file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void read_in(const char *dir, const char *name, char *buf, size_t cap) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    e2e_slurp(p, buf, cap);
}

static int count_str(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++) n++;
    return n;
}

/* A line of the output that starts with '|' is an arch printed as a final result. */
static int printed_arch(const char *out) {
    return out[0] == '|' || strstr(out, "\n|") != NULL;
}

static int no_control_chars(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 && *s != '\n') return 0;
    return 1;
}

/* A checkpoint holding only a stored configuration. */
static void write_config_ckpt(const char *dir, const char *config) {
    char ck[600];
    mkdir(dir, 0755);
    snprintf(ck, sizeof ck, "%s/checkpoint.dnas", dir);
    dnas_ckpt_writer *w = NULL;
    CHECK(dnas_ckpt_write_begin(ck, "search/nb201", &w) == DNAS_OK, "%s", dnas_last_error());
    dnas_ckpt_put(w, "config", config, strlen(config));
    CHECK(dnas_ckpt_write_commit(w) == DNAS_OK, "%s", dnas_last_error());
}

/* An invalid setting in the checkpoint's stored configuration: the real reason, once, naming
 * the checkpoint; a data error (exit 1), not a usage error (2); no raw control characters. */
static void test_stored_config_errors(void) {
    char d[256];
    run_dir(d, sizeof d, "cfg");
    write_config_ckpt(d, "space=nb201\nepochs=abc\n");
    int rc = e2e_run(e2e_argv(tool_abs, "search", "--resume", d, "--progress", "0", NULL));
    expect_error(rc, "'abc' is not an integer", "stored epochs=abc");
    CHECK(rc == 1, "exit %d, want 1 (a bad file, not a usage error)", rc);
    CHECK(count_str(e2e_out, "stored configuration") == 1, "garbled message: %s", e2e_out);
    CHECK(strstr(e2e_out, "checkpoint.dnas") != NULL, "the message does not name the checkpoint");

    write_config_ckpt(d, "space=nb201\nchannels=0\n");
    rc = e2e_run(e2e_argv(tool_abs, "search", "--resume", d, "--progress", "0", NULL));
    expect_error(rc, "--channels", "stored channels=0");
    CHECK(rc == 1 && strstr(e2e_out, "stored configuration"), "exit %d: %s", rc, e2e_out);

    write_config_ckpt(d, "space=nb201\ndata_dir=/tmp/a\033[2Jb\n");
    rc = e2e_run(e2e_argv(tool_abs, "search", "--resume", d, "--progress", "0", NULL));
    expect_error(rc, "stored configuration", "stored control character");
    CHECK(no_control_chars(e2e_out), "raw control character in the message");
    e2e_rm_rf(d);
}

/* A log.jsonl shorter than the checkpoint says is refused, not padded with NUL bytes. */
static void test_short_log_refused(void) {
    char d[256], lg[600], buf[4096];
    run_dir(d, sizeof d, "short");
    int rc = run_tiny(d, "--train-images", "640", "--log-every", "1", "--ckpt-every", "2",
                      "--max-steps", "2", NULL);
    CHECK(rc == 0 || rc == 3, "search exited %d: %s", rc, e2e_out);
    snprintf(lg, sizeof lg, "%s/log.jsonl", d);
    CHECK(truncate(lg, 5) == 0, "cannot truncate %s", lg);
    rc = e2e_run(e2e_argv(tool_abs, "search", "--resume", d, "--progress", "0", NULL));
    expect_error(rc, "log.jsonl", "log shorter than checkpoint");
    CHECK(strstr(e2e_out, "shorter") != NULL, "message does not say the log is too short");
    CHECK(file_size(lg) == 5, "log.jsonl is now %ld bytes, was 5", file_size(lg));
    e2e_slurp(lg, buf, sizeof buf);
    CHECK(strlen(buf) == 5, "log.jsonl holds NUL bytes");
    e2e_rm_rf(d);
}

/* A search killed before its first periodic checkpoint can still be resumed (the initial
 * checkpoint), and ends with a log of exactly one run's lines. */
static void test_kill_before_first_checkpoint(void) {
    char d[256], out[300], lg[600], buf[65536];
    run_dir(d, sizeof d, "early");
    snprintf(out, sizeof out, "%s.out", d);
    snprintf(lg, sizeof lg, "%s/log.jsonl", d);
    pid_t pid = spawn_tiny(out, d, "--train-images", "1280", "--log-every", "1", "--seed", "5", NULL);
    int status = 0, exited = 0, killed_running = 0;
    for (;;) {
        e2e_slurp(lg, buf, sizeof buf);
        if (e2e_count_lines(buf) >= 2) {
            killed_running = waitpid(pid, &status, WNOHANG) == 0;
            kill(pid, SIGKILL);
            break;
        }
        if (waitpid(pid, &status, WNOHANG) == pid) {
            exited = 1;
            break;
        }
        usleep(2000);
    }
    if (!exited) waitpid(pid, &status, 0);
    unlink(out);
    CHECK(killed_running, "the search was not killed mid-epoch");
    e2e_slurp(lg, buf, sizeof buf);
    printf("  killed with SIGKILL after %d log lines, before the epoch's checkpoint\n",
           e2e_count_lines(buf));
    int rc = e2e_run(e2e_argv(tool_abs, "search", "--resume", d, "--progress", "0", NULL));
    printf("%s", e2e_out);
    CHECK(rc == 0, "resume after an early kill: exit %d", rc);
    e2e_slurp(lg, buf, sizeof buf);
    CHECK(e2e_count_lines(buf) == 21, "log.jsonl has %d lines, want 20 steps + 1 epoch",
          e2e_count_lines(buf));
    CHECK(count_str(buf, "\"step\": 1,") == 1, "step 1 logged %d times", count_str(buf, "\"step\": 1,"));
    e2e_rm_rf(d);
}

/* A directory holding only config.json (a search that died before its initial checkpoint) is
 * taken over; one holding someone's genotype.txt or alphas.jsonl is refused, untouched. */
static void test_new_search_and_existing_files(void) {
    char d[256], p[600], buf[256];
    run_dir(d, sizeof d, "over");
    mkdir(d, 0755);
    snprintf(p, sizeof p, "%s/config.json", d);
    write_text(p, "{\"space\": \"nb201\"}\n");
    int rc = run_tiny(d, NULL);
    CHECK(rc == 0, "a directory with only config.json: exit %d: %s", rc, e2e_out);
    snprintf(p, sizeof p, "%s/checkpoint.dnas", d);
    CHECK(e2e_file_exists(p), "no checkpoint after taking the directory over");
    e2e_rm_rf(d);

    const char *names[] = {"genotype.txt", "alphas.jsonl"};
    for (int i = 0; i < 2; i++) {
        mkdir(d, 0755);
        snprintf(p, sizeof p, "%s/%s", d, names[i]);
        write_text(p, "keep me\n");
        rc = run_tiny(d, NULL);
        expect_error(rc, names[i], names[i]);
        e2e_slurp(p, buf, sizeof buf);
        CHECK(strcmp(buf, "keep me\n") == 0, "%s was changed: '%s'", names[i], buf);
        e2e_rm_rf(d);
    }
}

/* Two processes on one run directory: the second is refused while the first runs. */
static void test_run_dir_lock(void) {
    char d[256], out[300], lg[600], buf[65536];
    run_dir(d, sizeof d, "lock");
    snprintf(out, sizeof out, "%s.out", d);
    snprintf(lg, sizeof lg, "%s/log.jsonl", d);
    pid_t pid = spawn_tiny(out, d, "--train-images", "2560", "--epochs", "3", "--log-every", "1",
                           "--ckpt-every", "1", NULL);
    for (;;) {
        e2e_slurp(lg, buf, sizeof buf);
        if (e2e_count_lines(buf) >= 3) break;
        int st = 0;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            CHECK(0, "the first search ended early");
            return;
        }
        usleep(2000);
    }
    int rc = e2e_run_timeout(e2e_argv(tool_abs, "search", "--resume", d, "--progress", "0",
                                  "--max-steps", "2", NULL), 120);
    int still = waitpid(pid, NULL, WNOHANG) == 0;
    expect_error(rc, "in use", "second process on a run dir");
    CHECK(still, "the first search ended before the second one was tried");
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 130, "first search: status %d", status);
    unlink(out);
    e2e_rm_rf(d);
}

/* --max-steps: no final architecture, a distinct exit status (3), how to continue; the help
 * says so; the resumed search then finishes and prints the architecture. */
static void test_max_steps_is_incomplete(void) {
    char d[256];
    run_dir(d, sizeof d, "maxs");
    int rc = run_tiny(d, "--train-images", "256", "--max-steps", "1", NULL);
    printf("  --max-steps 1: exit %d: %s", rc, e2e_out);
    CHECK(rc == 3, "exit %d, want 3 (stopped early)", rc);
    CHECK(!printed_arch(e2e_out), "an architecture was printed as if the search had finished");
    CHECK(strstr(e2e_out, "incomplete") && strstr(e2e_out, "--resume"), "no resume hint");
    rc = e2e_run(e2e_argv(tool_abs, "search", "--resume", d, "--progress", "0", NULL));
    CHECK(rc == 0 && printed_arch(e2e_out), "resume: exit %d: %s", rc, e2e_out);
    rc = e2e_run(e2e_argv(tool_abs, "search", "--help", NULL));
    CHECK(rc == 0 && strstr(e2e_out, "exit status") && strstr(e2e_out, "3 "),
          "dnas search --help does not document the exit status of --max-steps");
    e2e_rm_rf(d);
}

static void make_link_dir(const char *dir, int permute) {
    const char *files[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                           "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};
    mkdir(dir, 0755);
    for (int i = 0; i < 6; i++) {
        char src[PATH_MAX + 64], dst[600];
        int j = permute && i < 5 ? (i + 1) % 5 : i;
        snprintf(src, sizeof src, "%s/%s", data_abs, files[j]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        CHECK(symlink(src, dst) == 0, "symlink %s", dst);
    }
}

/* A search started with a relative --data resumes from another directory; moved data is given
 * to --resume with --data (checked to be the same data set); --table too, checked at once. */
static void test_resume_elsewhere_and_moved_data(void) {
    char d[256], lnk[300], perm[300], cfg[4096], cwd[PATH_MAX];
    run_dir(d, sizeof d, "moved");
    int rc = run_tiny(d, "--train-images", "256", "--max-steps", "1", NULL);
    CHECK(rc == 0 || rc == 3, "search: exit %d: %s", rc, e2e_out);
    read_in(d, "config.json", cfg, sizeof cfg);
    CHECK(strstr(cfg, "\"data_dir\": \"/") != NULL, "config.json stores a relative data_dir: %s", cfg);
    CHECK(getcwd(cwd, sizeof cwd) != NULL, "getcwd");
    CHECK(chdir("/") == 0, "chdir /");
    rc = e2e_run(e2e_argv(tool_abs, "search", "--resume", d, "--progress", "0", NULL));
    CHECK(chdir(cwd) == 0, "chdir back");
    CHECK(rc == 0, "resume from another working directory: exit %d: %s", rc, e2e_out);
    e2e_rm_rf(d);

    snprintf(lnk, sizeof lnk, "%s-data", d);
    snprintf(perm, sizeof perm, "%s-perm", d);
    e2e_rm_rf(lnk);
    e2e_rm_rf(perm);
    make_link_dir(lnk, 0);
    make_link_dir(perm, 1);
    rc = run_tiny(d, "--data", lnk, "--train-images", "256", "--max-steps", "1", NULL);
    CHECK(rc == 0 || rc == 3, "search on linked data: exit %d: %s", rc, e2e_out);
    e2e_rm_rf(lnk);
    expect_error(e2e_run(e2e_argv(tool_abs, "search", "--resume", d, "--progress", "0", NULL)),
                 "--data", "resume, data moved away");
    expect_error(e2e_run(e2e_argv(tool_abs, "search", "--resume", d, "--progress", "0", "--data",
                                  perm, NULL)),
                 "not the data set", "resume --data other data");
    expect_error(e2e_run(e2e_argv(tool_abs, "search", "--resume", d, "--progress", "0", "--data",
                                  data_abs, "--table", "/nonexistent/nb201.csv", NULL)),
                 "/nonexistent/nb201.csv", "resume --table missing");
    rc = e2e_run(e2e_argv(tool_abs, "search", "--resume", d, "--progress", "0", "--data", data_abs,
                          NULL));
    CHECK(rc == 0 && printed_arch(e2e_out), "resume --data <moved data>: exit %d: %s", rc, e2e_out);
    e2e_rm_rf(perm);
    e2e_rm_rf(d);
}

/* A bad --table is refused before the search, leaving no run directory. */
static void test_bad_table_refused_at_start(void) {
    char d[256];
    run_dir(d, sizeof d, "tab");
    expect_error(run_tiny(d, "--table", "/nonexistent/nb201.csv", NULL), "/nonexistent/nb201.csv",
                 "missing --table");
    CHECK(!e2e_file_exists(d), "a search with a bad --table ran (left %s)", d);
    e2e_rm_rf(d);
}

/* Editing config.json has no effect on a resume: the tool says so. */
static void test_config_json_edit_warns(void) {
    char d[256], p[600], cfg[4096];
    run_dir(d, sizeof d, "edit");
    int rc = run_tiny(d, "--train-images", "256", "--max-steps", "1", NULL);
    CHECK(rc == 0 || rc == 3, "search: exit %d: %s", rc, e2e_out);
    read_in(d, "config.json", cfg, sizeof cfg);
    char *lr = strstr(cfg, "\"lr\": 0.025");
    CHECK(lr != NULL, "no lr in config.json: %s", cfg);
    if (lr) memcpy(lr, "\"lr\": 0.925", 11);
    snprintf(p, sizeof p, "%s/config.json", d);
    write_text(p, cfg);
    rc = e2e_run(e2e_argv(tool_abs, "search", "--resume", d, "--progress", "0", NULL));
    printf("%s", e2e_out);
    CHECK(rc == 0, "resume: exit %d", rc);
    CHECK(strstr(e2e_out, "config.json") && strstr(e2e_out, "ignored"),
          "no warning that the config.json edit is ignored");
    e2e_rm_rf(d);
}

/* An arch learning rate that overflows alpha within one step: the search stops with an error
 * instead of logging NaN alphas, deriving an arch from them and checkpointing them. */
static void test_divergence_not_checkpointed(void) {
    char d[256], buf[8192], ck[600];
    run_dir(d, sizeof d, "nan");
    int rc = run_tiny(d, "--train-images", "64", "--arch-lr", "3.4e38", NULL);
    expect_error(rc, "alpha", "alpha overflows");
    CHECK(!printed_arch(e2e_out), "an architecture was printed");
    read_in(d, "alphas.jsonl", buf, sizeof buf);
    CHECK(!strstr(buf, "nan") && !strstr(buf, "inf"), "alphas.jsonl holds non-finite values");
    snprintf(ck, sizeof ck, "%s/checkpoint.dnas", d);
    dnas_ckpt *c = NULL;
    if (e2e_file_exists(ck) && dnas_ckpt_read(ck, NULL, &c) == DNAS_OK) {
        size_t n = 0;
        const float *a = dnas_ckpt_find(c, "alpha", &n);
        int finite = a != NULL;
        for (size_t i = 0; a && i < n / sizeof(float); i++) finite &= isfinite(a[i]) != 0;
        CHECK(finite, "the checkpoint holds a non-finite alpha");
        dnas_ckpt_free(c);
    }
    e2e_rm_rf(d);
}

/* A FIFO in place of the checkpoint is refused at once (it used to block forever). */
static void test_fifo_checkpoint(void) {
    char d[256], ck[600];
    run_dir(d, sizeof d, "fifo");
    mkdir(d, 0755);
    snprintf(ck, sizeof ck, "%s/checkpoint.dnas", d);
    CHECK(mkfifo(ck, 0644) == 0, "mkfifo");
    int rc = e2e_run_timeout(e2e_argv(tool_abs, "search", "--resume", d, "--progress", "0", NULL), 60);
    CHECK(rc != -1, "dnas blocked on a FIFO checkpoint (killed after 60 s)");
    expect_error(rc, "not a regular file", "FIFO checkpoint");
    e2e_rm_rf(d);
}

int main(void) {
    if (!realpath(e2e_tool(), tool_abs) || !realpath(e2e_cifar_dir(), data_abs)) {
        printf("FAIL e2e: %s or %s missing (run make testdata)\n", e2e_tool(), e2e_cifar_dir());
        return 1;
    }
    RUN(test_stored_config_errors);
    RUN(test_short_log_refused);
    RUN(test_kill_before_first_checkpoint);
    RUN(test_new_search_and_existing_files);
    RUN(test_run_dir_lock);
    RUN(test_max_steps_is_incomplete);
    RUN(test_resume_elsewhere_and_moved_data);
    RUN(test_bad_table_refused_at_start);
    RUN(test_config_json_edit_warns);
    RUN(test_divergence_not_checkpointed);
    RUN(test_fifo_checkpoint);
    TEST_EXIT();
}
