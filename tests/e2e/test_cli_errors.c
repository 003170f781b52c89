/* Bad input gets one clear line naming the file or flag, a non-zero exit, and never an
 * overwritten file: unknown space/flag/command, impossible sizes, allocation failure, truncated
 * or corrupt data, corrupt or foreign checkpoints, malformed arch strings, reused run dirs. */
#include "test.h"
#include "e2e.h"
#include "io/checkpoint.h"

static char table[600];

/* The last run failed with exit code != 0 and printed exactly one line that contains `want`. */
static void expect_error(int rc, const char *want, const char *what) {
    int lines = e2e_count_lines(e2e_out);
    CHECK(rc != 0 && rc < 128, "%s: exit status %d (want a clean non-zero exit)", what, rc);
    CHECK(lines == 1, "%s: %d output lines, want 1: %s", what, lines, e2e_out);
    CHECK(strstr(e2e_out, want) != NULL, "%s: message lacks '%s': %s", what, want, e2e_out);
    printf("  %-28s -> exit %d: %s", what, rc, e2e_out);
}

static void test_usage_errors(void) {
    expect_error(e2e_run(e2e_argv(e2e_tool(), "info", "--space", "nb999", NULL)), "nb999", "unknown space");
    expect_error(e2e_run(e2e_argv(e2e_tool(), "info", "--space", "nb201", "--bogus", "1", NULL)), "--bogus", "unknown info flag");
    expect_error(e2e_run(e2e_argv(e2e_tool(), "frobnicate", NULL)), "frobnicate", "unknown command");
    expect_error(e2e_run(e2e_argv(e2e_tool(), "search", "--out", "/tmp/x", "--learning-rat", "0.1", NULL)), "--learning-rat", "unknown search flag");
    expect_error(e2e_run(e2e_argv(e2e_tool(), "search", "--algo", "darts9", NULL)), "darts9", "unknown algo");
    expect_error(e2e_run(e2e_argv(e2e_tool(), "search", "--out", "/tmp/x", "--lr", "fast", NULL)), "--lr", "non-numeric value");
    expect_error(e2e_run(e2e_argv(e2e_tool(), "bench", "step", "--batch", "0", NULL)), "--batch", "bench batch 0");
}

static void test_impossible_sizes(void) {
    expect_error(e2e_run(e2e_argv(e2e_tool(), "info", "--batch", "0", NULL)), "batch", "batch 0");
    expect_error(e2e_run(e2e_argv(e2e_tool(), "info", "--channels", "0", NULL)), "channels", "channels 0");
    expect_error(e2e_run(e2e_argv(e2e_tool(), "info", "--cells", "-3", NULL)), "cells", "cells -3");
    expect_error(e2e_run(e2e_argv(e2e_tool(), "info", "--classes", "1", NULL)), "classes", "classes 1");
    expect_error(e2e_run(e2e_argv(e2e_tool(), "search", "--out", "/tmp/x", "--epochs", "0", NULL)), "--epochs", "epochs 0");
    expect_error(e2e_run(e2e_argv(e2e_tool(), "search", "--out", "/tmp/x", "--momentum", "1.5", NULL)), "--momentum", "momentum 1.5");
}

/* Fail each allocation of `dnas info` in turn: every one must give a clean one-line error. */
static void test_allocation_failures(void) {
    int rc = e2e_run(e2e_argv(e2e_tool(), "info", "--space", "nb201", NULL));
    CHECK(rc == 0, "dnas info failed: %s", e2e_out);
    int n_fail = 0, n_tried = 0;
    for (int k = 1; k <= 40; k++) {
        char env[64];
        snprintf(env, sizeof env, "%d", k);
        setenv("DNAS_FAIL_ALLOC_AT", env, 1);
        rc = e2e_run(e2e_argv(e2e_tool(), "info", "--space", "nb201", NULL));
        unsetenv("DNAS_FAIL_ALLOC_AT");
        n_tried++;
        if (rc == 0) break; /* past the last allocation: it succeeded */
        n_fail++;
        CHECK(rc == 1 && e2e_count_lines(e2e_out) == 1 && strstr(e2e_out, "out of memory"),
              "allocation %d: exit %d, output: %s", k, rc, e2e_out);
    }
    printf("  %d allocations failed one at a time: each a one-line 'out of memory' error\n", n_fail);
    CHECK(n_fail >= 5, "only %d allocations seen", n_fail);
}

static void copy_file(const char *src, const char *dst, long truncate_to) {
    FILE *a = fopen(src, "rb"), *b = fopen(dst, "wb");
    char buf[65536];
    long total = 0;
    size_t n;
    while (a && b && (n = fread(buf, 1, sizeof buf, a)) > 0) {
        if (truncate_to >= 0 && total + (long)n > truncate_to) n = (size_t)(truncate_to - total);
        fwrite(buf, 1, n, b);
        total += (long)n;
        if (truncate_to >= 0 && total >= truncate_to) break;
    }
    if (a) fclose(a);
    if (b) fclose(b);
}

static void test_bad_dataset(void) {
    char dir[256], src[600], dst[600];
    snprintf(dir, sizeof dir, "/tmp/dnas-e2e-%d-data", (int)getpid());
    e2e_rm_rf(dir);
    mkdir(dir, 0755);
    const char *files[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                           "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};
    for (int i = 0; i < 6; i++) {
        snprintf(src, sizeof src, "%s/%s", e2e_cifar_dir(), files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        copy_file(src, dst, i == 2 ? 3073L * 5000 + 17 : -1);
    }
    char out[300];
    snprintf(out, sizeof out, "%s-run", dir);
    e2e_rm_rf(out);
    expect_error(e2e_run(e2e_argv(e2e_tool(), "search", "--data", dir, "--out", out, "--progress", "0", NULL)),
                 "data_batch_3.bin", "truncated CIFAR file");
    CHECK(!e2e_file_exists(out), "a failed search left a run directory behind");
    /* A corrupt label byte in an otherwise complete file. */
    snprintf(dst, sizeof dst, "%s/data_batch_3.bin", dir);
    snprintf(src, sizeof src, "%s/data_batch_3.bin", e2e_cifar_dir());
    copy_file(src, dst, -1);
    FILE *f = fopen(dst, "r+b");
    fseek(f, 3073L * 123, SEEK_SET);
    fputc(200, f);
    fclose(f);
    expect_error(e2e_run(e2e_argv(e2e_tool(), "search", "--data", dir, "--out", out, "--progress", "0", NULL)),
                 "data_batch_3.bin", "bad label in CIFAR file");
    snprintf(dst, sizeof dst, "%s/nonexistent", dir);
    expect_error(e2e_run(e2e_argv(e2e_tool(), "search", "--data", dst, "--out", out, "--progress", "0", NULL)),
                 "nonexistent", "missing data directory");
    e2e_rm_rf(dir);
    e2e_rm_rf(out);
}

/* Snapshot of every file in a run directory (name + content) to prove nothing was touched. */
static void snapshot(const char *dir, char *buf, size_t cap) {
    char cmd[700];
    snprintf(cmd, sizeof cmd, "cd '%s' && ls -l --time-style=+%%s.%%N && md5sum *", dir);
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(buf, 1, cap - 1, p) : 0;
    buf[n] = 0;
    if (p) pclose(p);
}

static void test_bad_checkpoints_and_run_dirs(void) {
    char dir[256], ck[400], before[8192], after[8192];
    snprintf(dir, sizeof dir, "/tmp/dnas-e2e-%d-ckpt", (int)getpid());
    e2e_rm_rf(dir);
    int rc = e2e_run(e2e_argv(e2e_tool(), "search", "--data", e2e_cifar_dir(), "--channels", "4", "--cells", "1",
                              "--train-images", "128", "--epochs", "1", "--threads", "2", "--progress", "0",
                              "--out", dir, NULL));
    CHECK(rc == 0, "small search failed: %s", e2e_out);
    snprintf(ck, sizeof ck, "%s/checkpoint.dnas", dir);

    /* A new search into an existing run directory is refused, nothing overwritten. */
    snapshot(dir, before, sizeof before);
    expect_error(e2e_run(e2e_argv(e2e_tool(), "search", "--data", e2e_cifar_dir(), "--out", dir, "--progress", "0", NULL)),
                 "already holds a search", "reused run directory");
    snapshot(dir, after, sizeof after);
    CHECK(strcmp(before, after) == 0, "the run directory changed after a refused search");

    /* A bit-flipped checkpoint. */
    char good[400];
    snprintf(good, sizeof good, "%s.good", ck);
    copy_file(ck, good, -1);
    FILE *f = fopen(ck, "r+b");
    fseek(f, 5000, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 5000, SEEK_SET);
    fputc(c ^ 0x10, f);
    fclose(f);
    snapshot(dir, before, sizeof before);
    expect_error(e2e_run(e2e_argv(e2e_tool(), "search", "--resume", dir, "--progress", "0", NULL)),
                 "checkpoint.dnas", "bit-flipped checkpoint");
    snapshot(dir, after, sizeof after);
    CHECK(strcmp(before, after) == 0, "the run directory changed after a refused resume");

    /* A truncated checkpoint. */
    copy_file(good, ck, 3000);
    expect_error(e2e_run(e2e_argv(e2e_tool(), "search", "--resume", dir, "--progress", "0", NULL)),
                 "truncated", "truncated checkpoint");

    /* A checkpoint of a space this build does not have. */
    dnas_ckpt_writer *w = NULL;
    CHECK(dnas_ckpt_write_begin(ck, "search/nas101", &w) == DNAS_OK, "%s", dnas_last_error());
    dnas_ckpt_put(w, "config", "space=nas101\n", 13);
    CHECK(dnas_ckpt_write_commit(w) == DNAS_OK, "%s", dnas_last_error());
    expect_error(e2e_run(e2e_argv(e2e_tool(), "search", "--resume", dir, "--progress", "0", NULL)),
                 "search/nas101", "checkpoint of another space");

    char dir2[300];
    snprintf(dir2, sizeof dir2, "%s-missing", dir);
    /* A missing run directory. */
    expect_error(e2e_run(e2e_argv(e2e_tool(), "search", "--resume", dir2, "--progress", "0", NULL)),
                 dir2, "resume of a missing directory");
    e2e_rm_rf(dir);
}

/* A tiny search into a fresh directory with one extra flag (so that a flag wrongly accepted
 * costs a fraction of a second, not a full search); returns the exit status. */
static int tiny_search(const char *flag, const char *value) {
    char dir[256];
    snprintf(dir, sizeof dir, "/tmp/dnas-e2e-%d-tiny", (int)getpid());
    e2e_rm_rf(dir);
    int rc = e2e_run_timeout(e2e_argv(e2e_tool(), "search", "--data", e2e_cifar_dir(), "--channels", "4",
                                  "--cells", "1", "--train-images", "64", "--epochs", "1", "--threads", "1",
                                  "--progress", "0", "--out", dir, flag, value, NULL), 60);
    e2e_rm_rf(dir);
    return rc;
}

static int has_raw_control(const char *s) {
    for (; *s; s++)
        if (((unsigned char)*s < 0x20 && *s != '\n') || *s == 0x7f) return 1;
    return 0;
}

/* Control characters in a string flag are refused (a newline would inject settings into the
 * checkpoint's stored configuration); messages never echo them raw. */
static void test_control_characters(void) {
    char out[300];
    snprintf(out, sizeof out, "/tmp/dnas-e2e-%d-ctl\nlr=5", (int)getpid());
    expect_error(tiny_search("--out", out), "--out", "newline in --out");
    CHECK(!has_raw_control(e2e_out), "raw control character in: %s", e2e_out);
    e2e_rm_rf(out);
    expect_error(tiny_search("--data", "/tmp/x\033[31mred"), "--data", "escape in --data");
    CHECK(!has_raw_control(e2e_out), "raw control character in: %s", e2e_out);
    expect_error(tiny_search("--table", "/tmp/t\r.csv"), "--table", "CR in --table");
    CHECK(!has_raw_control(e2e_out), "raw control character in: %s", e2e_out);
    expect_error(tiny_search("--lr\a", "0.1"), "--lr", "BEL in a flag name");
    CHECK(!has_raw_control(e2e_out), "raw control character in: %s", e2e_out);
    expect_error(e2e_run(e2e_argv(e2e_tool(), "info", "--space", "nb\n201", NULL)), "nb", "newline in --space");
    CHECK(!has_raw_control(e2e_out), "raw control character in: %s", e2e_out);
}

/* A too-long value is reported under the flag the user typed. */
static void test_long_value_names_flag(void) {
    char v[700];
    memset(v, 'a', sizeof v - 1);
    v[0] = '/';
    v[sizeof v - 1] = 0;
    expect_error(tiny_search("--out", v), "--out:", "--out too long");
    CHECK(!strstr(e2e_out, "out_dir"), "the message names the internal field: %s", e2e_out);
    expect_error(tiny_search("--data", v), "--data:", "--data too long");
    CHECK(!strstr(e2e_out, "data_dir"), "the message names the internal field: %s", e2e_out);
}

/* Upper bounds on sizes and 0/1 switches, one-line errors naming the flag. */
static void test_upper_bounds(void) {
    static const char *cases[][2] = {
        {"--channels", "1000000000"}, {"--cells", "1000000000"}, {"--batch", "100000000"},
        {"--epochs", "1000000000"},   {"--threads", "100000"},   {"--track-bn", "7"},
        {"--nesterov", "5"},          {"--progress", "7"},       {"--arch-lr", "1e39"},
        {"--lr", "1e300"},            {"--weight-decay", "-1e39"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "%s %s", cases[i][0], cases[i][1]);
        int rc = tiny_search(cases[i][0], cases[i][1]);
        expect_error(rc, cases[i][0], what);
        CHECK(rc == 2, "%s: exit %d, want 2", what, rc);
    }
    expect_error(e2e_run_timeout(e2e_argv(e2e_tool(), "info", "--channels", "1000000000", NULL), 60),
                 "--channels", "info --channels 1e9");
    expect_error(e2e_run_timeout(e2e_argv(e2e_tool(), "info", "--cells", "1000000000", NULL), 60),
                 "--cells", "info --cells 1e9");
    /* More threads than cores: allowed, with a warning. */
    char big[32];
    snprintf(big, sizeof big, "%ld", sysconf(_SC_NPROCESSORS_ONLN) * 8);
    int rc = tiny_search("--threads", big);
    CHECK(rc == 0 && strstr(e2e_out, "warning") && strstr(e2e_out, "--threads"),
          "--threads %s: exit %d, no warning: %s", big, rc, e2e_out);
}

/* Data files that are not regular files: a FIFO (used to block forever, deaf to SIGINT) and
 * a directory (used to report 9223372036854775807 bytes); open errors other than a missing
 * file do not suggest `make testdata`. */
static void test_non_regular_data_files(void) {
    char dir[256], src[600], dst[600];
    snprintf(dir, sizeof dir, "/tmp/dnas-e2e-%d-nreg", (int)getpid());
    e2e_rm_rf(dir);
    mkdir(dir, 0755);
    const char *files[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                           "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};
    char absdata[4096];
    CHECK(realpath(e2e_cifar_dir(), absdata) != NULL, "realpath");
    for (int i = 1; i < 6; i++) {
        snprintf(src, sizeof src, "%s/%s", absdata, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        CHECK(symlink(src, dst) == 0, "symlink");
    }
    snprintf(dst, sizeof dst, "%s/%s", dir, files[0]);
    CHECK(mkfifo(dst, 0644) == 0, "mkfifo");
    char out[300];
    snprintf(out, sizeof out, "%s-run", dir);
    e2e_rm_rf(out);
    int rc = e2e_run_timeout(e2e_argv(e2e_tool(), "search", "--data", dir, "--out", out, "--progress", "0", NULL), 60);
    CHECK(rc != -1, "dnas blocked on a FIFO data file (killed after 60 s)");
    expect_error(rc, "not a regular file", "FIFO data file");
    unlink(dst);
    mkdir(dst, 0755);
    rc = e2e_run_timeout(e2e_argv(e2e_tool(), "search", "--data", dir, "--out", out, "--progress", "0", NULL), 60);
    expect_error(rc, "directory", "directory as a data file");
    CHECK(!strstr(e2e_out, "9223372036854775807"), "nonsense size: %s", e2e_out);
    rc = e2e_run(e2e_argv(e2e_tool(), "search", "--data", "/etc/hostname", "--out", out, "--progress", "0", NULL));
    expect_error(rc, "/etc/hostname", "a file as --data");
    CHECK(!strstr(e2e_out, "make testdata"), "suggests `make testdata` for a non-missing file: %s", e2e_out);
    CHECK(!e2e_file_exists(out), "a failed search left a run directory behind");
    e2e_rm_rf(dir);
    e2e_rm_rf(out);
}

static void test_query(void) {
    expect_error(e2e_run(e2e_argv(e2e_tool(), "query", "|skip_connect~0|+|bad_op~0|none~1|", "--table", table, NULL)),
                 "bad_op", "malformed arch string");
    expect_error(e2e_run(e2e_argv(e2e_tool(), "query", "|skip_connect~0|", "--table", table, NULL)),
                 "|skip_connect~0|", "truncated arch string");
    expect_error(e2e_run(e2e_argv(e2e_tool(), "query",
                                  "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
                                  "--table", "/nonexistent/nb201.csv", NULL)),
                 "/nonexistent/nb201.csv", "missing table");
    /* The two reference rows (shared/data/nb201/README.md; ALGORITHMS.md §C1). */
    int rc = e2e_run(e2e_argv(e2e_tool(), "query",
                              "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
                              "--table", table, NULL));
    printf("%s", e2e_out);
    CHECK(rc == 0 && strstr(e2e_out, "cifar10         valid 39.77  test 54.30") &&
              strstr(e2e_out, "cifar100        valid 15.03  test 15.61") &&
              strstr(e2e_out, "imagenet16-120  valid 16.43  test 16.32"),
          "all-skip arch numbers differ from the NB201 table (54.30 C10 test)");
    rc = e2e_run(e2e_argv(e2e_tool(), "query",
                          "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
                          "--table", table, NULL));
    printf("%s", e2e_out);
    CHECK(rc == 0 && strstr(e2e_out, "index           6111") && strstr(e2e_out, "test 94.37"),
          "best arch: expected index 6111, C10 test 94.37");
}

/* valgrind: no leak and no memory error in `dnas info` (and in a failing `dnas info`). */
static void test_valgrind_info(void) {
#ifdef __SANITIZE_ADDRESS__
    SKIP_CASE("valgrind cannot run an AddressSanitizer build (make test runs this case)");
#endif
    if (system("valgrind --version >/dev/null 2>&1") != 0) {
        CHECK(0, "valgrind is not installed (scripts/setup installs it)");
        return;
    }
    char tool[600];
    snprintf(tool, sizeof tool, "%s", e2e_tool());
    const char *vg = "/usr/bin/valgrind";
    int rc = e2e_run(e2e_argv(vg, "-q", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect,possible",
                              "--error-exitcode=33", tool, "info", "--space", "nb201", "--batch", "8", NULL));
    CHECK(rc == 0, "valgrind on dnas info: exit %d: %s", rc, e2e_out);
    setenv("DNAS_FAIL_ALLOC_AT", "20", 1);
    rc = e2e_run(e2e_argv(vg, "-q", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect,possible",
                          "--error-exitcode=33", tool, "info", "--space", "nb201", "--batch", "8", NULL));
    unsetenv("DNAS_FAIL_ALLOC_AT");
    CHECK(rc == 1, "valgrind on a failing dnas info: exit %d (33 = leak/memory error): %s", rc, e2e_out);
    printf("  valgrind: dnas info and dnas info with its 20th allocation failing: no leaks, no errors\n");
}

int main(void) {
    snprintf(table, sizeof table, "%s/nb201/nb201.csv", t_shared_data());
    RUN(test_usage_errors);
    RUN(test_impossible_sizes);
    RUN(test_allocation_failures);
    RUN(test_bad_dataset);
    RUN(test_bad_checkpoints_and_run_dirs);
    RUN(test_query);
    RUN(test_control_characters);
    RUN(test_long_value_names_flag);
    RUN(test_upper_bounds);
    RUN(test_non_regular_data_files);
    RUN(test_valgrind_info);
    TEST_EXIT();
}
