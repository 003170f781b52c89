/* End to end: dnas export --to pytorch. Tiny `dnas train` runs (NB201 C 4 N 1; DARTS_V2 C 4
 * L 5 with the auxiliary head and drop path) and a tiny search are exported, and
 * tests/ref/check_export.py loads each export in PyTorch: same weight count as `dnas info`
 * (the auxiliary head apart), state_dict keys = safetensors keys, eval-mode logits on the
 * check batch within RTOL x max(1, max |logit|) of dnas's, a training step runs. A search
 * directory is refused without --untrained and exported as the default evaluation network
 * with it. Bad input (missing directory, corrupt or truncated checkpoint, OUT non-empty or a
 * file, bad usage) fails with one line naming the file and leaves OUT as it was.
 *
 * Without torch the PyTorch half prints SKIP (counted as skipped); torch is part of the
 * project's setup, so that is not expected here. */
#include "test.h"
#include "e2e.h"
#include <dirent.h>
#include <sys/wait.h>

/* Logit error allowed, relative to max(1, max |logit|): measured at most 4.5e-8 on these
 * networks (default build, 2 threads; the full-size NB201 net of the search case likewise). */
#define RTOL "1e-6"

#define ARCH "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|skip_connect~2|"

static char base[256];

/* base/name in one of 16 rotating buffers (callers keep at most a few at a time). */
static const char *in_base(const char *name) {
    static char p[16][512];
    static int k;
    char *s = p[k++ & 15];
    snprintf(s, sizeof p[0], "%s/%s", base, name);
    return s;
}

/* "weights   N" and "auxiliary head M" of the last `dnas info` output. */
static void info_counts(long *w, long *aux) {
    const char *a = strstr(e2e_out, "\nweights "), *b = strstr(e2e_out, "\nauxiliary head ");
    *w = a ? atol(a + 9) : -1;
    *aux = b ? atol(b + 16) : 0;
}

/* Runs check_export.py on OUT; returns 1 if it passed, 0 if it failed, -1 if it skipped. */
static int py_check(const char *out, long w, long aux) {
    char cmd[1500], buf[4096];
    snprintf(cmd, sizeof cmd, "python3 '%s' '%s' --weights %ld --aux-weights %ld --rtol %s 2>&1",
             t_src_path("tests/ref/check_export.py"), out, w, aux, RTOL);
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(buf, 1, sizeof buf - 1, p) : 0;
    buf[n] = 0;
    int status = p ? pclose(p) : -1;
    int rc = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    printf("  %s", buf);
    if (rc == 127 || !strncmp(buf, "SKIP", 4)) return -1;
    CHECK(rc == 0 && strstr(buf, "ok: "), "check_export.py %s: exit %d", out, rc);
    return rc == 0 && strstr(buf, "ok: ") != NULL;
}

static int train(const char *out, const char *const *extra) {
    const char *argv[64] = {e2e_tool(), "train", "--out", out, "--epochs", "1", "--train-images",
                            "256", "--test-images", "256", "--batch", "32", "--threads", "1",
                            "--progress", "0", "--data", e2e_cifar_dir()};
    int n = 18;
    for (; *extra; extra++) argv[n++] = *extra;
    argv[n] = NULL;
    int rc = e2e_run((char *const *)argv);
    CHECK(rc == 0, "dnas train %s: exit %d: %s", out, rc, e2e_out);
    return rc == 0;
}

static int export_ok(const char *run, const char *out, int untrained) {
    int rc = e2e_run(e2e_argv(e2e_tool(), "export", run, "--to", "pytorch", out,
                              untrained ? "--untrained" : NULL, NULL));
    CHECK(rc == 0, "dnas export %s: exit %d: %s", run, rc, e2e_out);
    if (rc == 0) printf("  %s", e2e_out);
    return rc == 0;
}

static void test_export_nb201(void) {
    const char *extra[] = {"--space", "nb201", "--genotype", ARCH, "--channels", "4", "--cells", "1", NULL};
    if (!train(in_base("nb201-run"), extra)) return;
    if (!export_ok(in_base("nb201-run"), in_base("nb201-out"), 0)) return;
    long w, aux;
    CHECK(e2e_run(e2e_argv(e2e_tool(), "info", "--space", "nb201", "--genotype", ARCH, "--channels",
                           "4", "--cells", "1", NULL)) == 0, "dnas info: %s", e2e_out);
    info_counts(&w, &aux);
    if (py_check(in_base("nb201-out"), w, aux) < 0)
        SKIP_CASE("no torch in python3: the export was not checked in PyTorch");
}

static void test_export_darts_aux(void) {
    const char *extra[] = {"--genotype", "DARTS_V2", "--channels", "4", "--cells", "5", "--auxiliary",
                           "1", "--drop-path", "0.2", NULL};
    if (!train(in_base("darts-run"), extra)) return;
    if (!export_ok(in_base("darts-run"), in_base("darts-out"), 0)) return;
    long w, aux;
    CHECK(e2e_run(e2e_argv(e2e_tool(), "info", "--space", "darts", "--genotype", "DARTS_V2",
                           "--channels", "4", "--cells", "5", "--auxiliary", "1", NULL)) == 0,
          "dnas info: %s", e2e_out);
    info_counts(&w, &aux);
    CHECK(aux > 0, "dnas info reports no auxiliary head");
    if (py_check(in_base("darts-out"), w, aux) < 0)
        SKIP_CASE("no torch in python3: the export was not checked in PyTorch");
}

/* A finished search: refused without --untrained; with it, its genotype.txt as the NB201
 * benchmark network at the protocol's size (C 16, N 5), freshly initialised. */
static void test_export_search(void) {
    const char *s = in_base("search-run");
    int rc = e2e_run(e2e_argv(e2e_tool(), "search", "--space", "nb201", "--algo", "darts1",
                              "--epochs", "1", "--channels", "4", "--cells", "1", "--train-images",
                              "64", "--batch", "32", "--threads", "1", "--progress", "0", "--data",
                              e2e_cifar_dir(), "--out", s, NULL));
    CHECK(rc == 0, "tiny search: exit %d: %s", rc, e2e_out);
    if (rc) return;
    rc = e2e_run(e2e_argv(e2e_tool(), "export", s, "--to", "pytorch", in_base("search-out"), NULL));
    CHECK(rc > 0 && rc < 128 && e2e_count_lines(e2e_out) == 1 && strstr(e2e_out, "dnas train --genotype") &&
              strstr(e2e_out, "genotype.txt"),
          "a search without --untrained: exit %d: %s", rc, e2e_out);
    CHECK(!e2e_file_exists(in_base("search-out")), "the refused export created its OUT");
    printf("  search without --untrained -> exit %d: %s", rc, e2e_out);
    if (!export_ok(s, in_base("search-out"), 1)) return;
    char geno[1024], got[1024];
    e2e_slurp(in_base("search-run/genotype.txt"), geno, sizeof geno);
    e2e_slurp(in_base("search-out/genotype.txt"), got, sizeof got);
    CHECK(!strcmp(geno, got), "exported genotype %s is not the search's %s", got, geno);
    char *nl = strchr(geno, '\n');
    if (nl) *nl = 0;
    long w, aux;
    CHECK(e2e_run(e2e_argv(e2e_tool(), "info", "--space", "nb201", "--genotype", geno, NULL)) == 0,
          "dnas info: %s", e2e_out);
    info_counts(&w, &aux);
    if (py_check(in_base("search-out"), w, aux) < 0)
        SKIP_CASE("no torch in python3: the export was not checked in PyTorch");
}

/* The last run failed cleanly: non-zero, one line, containing `want`. */
static void expect_error(int rc, const char *want, const char *what) {
    CHECK(rc > 0 && rc < 128, "%s: exit status %d", what, rc);
    CHECK(e2e_count_lines(e2e_out) == 1, "%s: not one line: %s", what, e2e_out);
    CHECK(strstr(e2e_out, want) != NULL, "%s: message lacks '%s': %s", what, want, e2e_out);
    printf("  %-28s -> exit %d: %s", what, rc, e2e_out);
}

/* No staging directory left beside OUTs. */
static int leftovers(void) {
    DIR *d = opendir(base);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".export-tmp-") != NULL;
    if (d) closedir(d);
    return n;
}

static void corrupt_copy(const char *name, int truncate_it) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", in_base("nb201-run"), in_base(name));
    CHECK(system(cmd) == 0, "cp");
    char p[600];
    snprintf(p, sizeof p, "%s/checkpoint.dnas", in_base(name));
    FILE *f = fopen(p, "r+b");
    CHECK(f != NULL, "open %s", p);
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    if (truncate_it) {
        fclose(f);
        CHECK(truncate(p, size / 2) == 0, "truncate");
        return;
    }
    fseek(f, size / 2, SEEK_SET);
    int c = fgetc(f);
    fseek(f, size / 2, SEEK_SET);
    fputc(c ^ 0x10, f);
    fclose(f);
}

static void test_export_bad_input(void) {
    char run[512], out[512], mine[512];
    snprintf(run, sizeof run, "%s", in_base("nb201-run"));
    snprintf(out, sizeof out, "%s", in_base("bad-out"));
    snprintf(mine, sizeof mine, "%s", in_base("bad-out/model.py"));
    if (!e2e_file_exists(run)) SKIP_CASE("the NB201 run of test_export_nb201 is missing");
    char *const *a;
    a = e2e_argv(e2e_tool(), "export", in_base("no-such-run"), "--to", "pytorch", out, NULL);
    expect_error(e2e_run(a), "no-such-run", "missing run directory");
    corrupt_copy("flipped-run", 0);
    a = e2e_argv(e2e_tool(), "export", in_base("flipped-run"), "--to", "pytorch", out, NULL);
    expect_error(e2e_run(a), "flipped-run/checkpoint.dnas", "corrupt checkpoint");
    corrupt_copy("truncated-run", 1);
    a = e2e_argv(e2e_tool(), "export", in_base("truncated-run"), "--to", "pytorch", out, NULL);
    expect_error(e2e_run(a), "truncated-run/checkpoint.dnas", "truncated checkpoint");
    CHECK(!e2e_file_exists(out), "a failed export created %s", out);

    /* OUT holding a file of the user's: refused, the file untouched, nothing added. */
    CHECK(mkdir(out, 0755) == 0, "mkdir %s", out);
    FILE *f = fopen(mine, "w");
    if (f) {
        fputs("mine\n", f);
        fclose(f);
    }
    a = e2e_argv(e2e_tool(), "export", run, "--to", "pytorch", out, NULL);
    expect_error(e2e_run(a), "not empty", "non-empty OUT");
    char buf[64];
    e2e_slurp(mine, buf, sizeof buf);
    CHECK(!strcmp(buf, "mine\n"), "the user's %s was changed: %s", mine, buf);
    CHECK(!e2e_file_exists(in_base("bad-out/weights.safetensors")), "files were added to a non-empty OUT");
    a = e2e_argv(e2e_tool(), "export", run, "--to", "pytorch", mine, NULL);
    expect_error(e2e_run(a), "not a directory", "OUT is a file");
    /* An empty OUT is fine. */
    CHECK(unlink(mine) == 0, "unlink");
    a = e2e_argv(e2e_tool(), "export", run, "--to", "pytorch", out, NULL);
    CHECK(e2e_run(a) == 0 && e2e_file_exists(in_base("bad-out/weights.safetensors")),
          "export into an empty directory: %s", e2e_out);

    a = e2e_argv(e2e_tool(), "export", run, "--to", "onnx", in_base("onnx-out"), NULL);
    int rc = e2e_run(a);
    CHECK(rc == 2, "--to onnx: exit %d", rc);
    expect_error(rc, "pytorch", "--to onnx");
    a = e2e_argv(e2e_tool(), "export", run, NULL);
    rc = e2e_run(a);
    CHECK(rc == 2, "no --to: exit %d", rc);
    expect_error(rc, "--to pytorch OUT", "no --to");
    CHECK(leftovers() == 0, "a staging directory was left behind in %s", base);
}

int main(void) {
    snprintf(base, sizeof base, "/tmp/dnas-e2e-export-%d", (int)getpid());
    e2e_rm_rf(base);
    if (mkdir(base, 0755) != 0) return 1;
    char probe[600];
    snprintf(probe, sizeof probe, "%s/test_batch.bin", e2e_cifar_dir());
    if (!e2e_file_exists(probe)) {
        printf("FAIL %s is missing: run `make testdata`\n", probe);
        return 1;
    }
    RUN(test_export_nb201);
    RUN(test_export_darts_aux);
    RUN(test_export_search);
    RUN(test_export_bad_input);
    e2e_rm_rf(base);
    TEST_EXIT();
}
