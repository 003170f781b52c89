/* End to end: dnas train on the real CIFAR-10 (decoded by `make testdata`). A tiny NB201
 * network trains and tests, writing its run directory; a training stopped by --max-steps and
 * resumed twice ends bit-identical to an uninterrupted one; bad input fails with one line and
 * leaves nothing behind; a tiny DARTS network (auxiliary head, drop path, cutout) trains and
 * resumes bit-identically too; an SNAS edge_all genotype (14 pairs per cell type, 'none' edges,
 * a node of 3 edges, an all-'none' node) trains with drop path and counts the hand-counted
 * weights of tests/unit/test_edge_all_net.c. Every network here is tiny (C = 4). */
#include "test.h"
#include "e2e.h"
#include "edge_all_hand.h"
#include "io/checkpoint.h"
#include <dirent.h>

#define ARCH "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"

static void run_dir(char *buf, size_t cap, const char *tag) {
    snprintf(buf, cap, "/tmp/dnas-e2e-train-%d-%s", (int)getpid(), tag);
    e2e_rm_rf(buf);
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

/* The value of "key" in the first object of `json` at or after `from` (-1 if absent). */
static double json_num(const char *from, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *k = from ? strstr(from, pat) : NULL;
    return k ? atof(k + strlen(pat)) : -1;
}

/* Every line of a log with the wall-clock fields cut off, which differ between runs. */
static void strip_timing(const char *in, char *out, size_t cap) {
    size_t o = 0;
    while (*in && o + 1 < cap) {
        const char *nl = strchr(in, '\n');
        size_t len = nl ? (size_t)(nl - in) : strlen(in);
        const char *cut = strstr(in, "\"steps_per_s\"");
        const char *cut2 = strstr(in, "\"seconds\"");
        if (cut2 && (!cut || cut2 < cut)) cut = cut2;
        if (cut && cut < in + len) len = (size_t)(cut - in);
        if (o + len + 2 > cap) break;
        memcpy(out + o, in, len);
        o += len;
        out[o++] = '\n';
        in = nl ? nl + 1 : in + strlen(in);
    }
    out[o] = 0;
}

/* The last run failed cleanly: a non-zero exit, one line, containing `want`. */
static void expect_error(int rc, const char *want, const char *what) {
    int lines = e2e_count_lines(e2e_out);
    CHECK(rc > 0 && rc < 128, "%s: exit status %d (want a clean non-zero exit)", what, rc);
    CHECK(lines == 1, "%s: %d output lines, want 1: %s", what, lines, e2e_out);
    CHECK(strstr(e2e_out, want) != NULL, "%s: message lacks '%s': %s", what, want, e2e_out);
    printf("  %-34s -> exit %d: %s", what, rc, e2e_out);
}

/* Names and sizes of a directory's files, to see that a refused command changed nothing. */
static void snapshot(const char *dir, char *buf, size_t cap) {
    buf[0] = 0;
    DIR *d = opendir(dir);
    if (!d) return;
    size_t o = 0;
    for (struct dirent *e; (e = readdir(d));) {
        char p[600];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (e->d_name[0] == '.' || stat(p, &sb) != 0) continue;
        o += (size_t)snprintf(buf + o, cap - o, "%s:%lld:%lld;", e->d_name, (long long)sb.st_size,
                              (long long)sb.st_mtime);
        if (o >= cap) break;
    }
    closedir(d);
}

/* Compares the training state in two checkpoints entry by entry, byte for byte (log_bytes
 * differs: log lines carry wall-clock times of varying width). */
static void compare_ckpts(const char *a, const char *b) {
    dnas_ckpt *ca = NULL, *cb = NULL;
    CHECK(dnas_ckpt_read(a, NULL, &ca) == DNAS_OK, "%s", dnas_last_error());
    CHECK(dnas_ckpt_read(b, NULL, &cb) == DNAS_OK, "%s", dnas_last_error());
    if (!ca || !cb) {
        dnas_ckpt_free(ca);
        dnas_ckpt_free(cb);
        return;
    }
    const char *names[] = {"weights", "buffers", "sgd.momentum", "epoch", "step", "total_steps",
                           "meters", "test", "grad_norm", "data.n", "data.crc"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t na = 0, nb = 0;
        const void *pa = dnas_ckpt_find(ca, names[i], &na), *pb = dnas_ckpt_find(cb, names[i], &nb);
        CHECK(pa && pb && na == nb, "entry %s missing or of another size", names[i]);
        if (pa && pb && na == nb) {
            int same = memcmp(pa, pb, na) == 0;
            printf("  %-13s %8zu bytes: %s\n", names[i], na, same ? "identical" : "DIFFERENT");
            CHECK(same, "entry %s differs between the resumed and the uninterrupted run", names[i]);
        }
    }
    dnas_ckpt_free(ca);
    dnas_ckpt_free(cb);
}

/* Uninterrupted vs stopped by --max-steps 3, resumed with --max-steps 3 (across an epoch's
 * end and its test), then resumed to the end: same checkpoint state, result and log. `argv`
 * ends with "--out", then NULL; extra[] are flags only the resumes get. */
static void check_resume(char **base, int n_base, const char *tag, const char *geno_check) {
    char da[256], db[256], pa[400], pb[400];
    run_dir(da, sizeof da, tag);
    snprintf(db, sizeof db, "%s-stop", da);
    e2e_rm_rf(db);
    char *argv[64];
    memcpy(argv, base, (size_t)n_base * sizeof *argv);
    argv[n_base] = "--out";
    argv[n_base + 1] = da;
    argv[n_base + 2] = NULL;
    int rc = e2e_run(argv);
    CHECK(rc == 0, "%s: uninterrupted training exited %d: %s", tag, rc, e2e_out);
    argv[n_base + 1] = db;
    argv[n_base + 2] = "--max-steps";
    argv[n_base + 3] = "3";
    argv[n_base + 4] = NULL;
    rc = e2e_run(argv);
    CHECK(rc == 3 && strstr(e2e_out, "--resume"), "%s: --max-steps 3: exit %d (want 3): %s", tag,
          rc, e2e_out);
    rc = e2e_run(e2e_argv(e2e_tool(), "train", "--resume", db, "--max-steps", "3", "--progress",
                          "0", "--threads", "1", NULL));
    CHECK(rc == 3 && strstr(e2e_out, "resuming"), "%s: second stop: exit %d: %s", tag, rc, e2e_out);
    /* The last resume also names the stored space and genotype, which must be accepted. */
    rc = e2e_run(e2e_argv(e2e_tool(), "train", "--resume", db, "--progress", "0", "--threads", "1",
                          "--genotype", geno_check, NULL));
    CHECK(rc == 0 && strstr(e2e_out, "test_acc"), "%s: final resume exited %d: %s", tag, rc, e2e_out);
    snprintf(pa, sizeof pa, "%s/checkpoint.dnas", da);
    snprintf(pb, sizeof pb, "%s/checkpoint.dnas", db);
    compare_ckpts(pa, pb);
    static char la[65536], lb[65536], sa[65536], sb[65536];
    read_in(da, "result.json", la, sizeof la);
    read_in(db, "result.json", lb, sizeof lb);
    CHECK(la[0] && strcmp(la, lb) == 0, "%s: result.json differs:\n%s%s", tag, la, lb);
    read_in(da, "log.jsonl", la, sizeof la);
    read_in(db, "log.jsonl", lb, sizeof lb);
    strip_timing(la, sa, sizeof sa);
    strip_timing(lb, sb, sizeof sb);
    CHECK(e2e_count_lines(la) == e2e_count_lines(lb) && strcmp(sa, sb) == 0,
          "%s: log.jsonl differs (%d vs %d lines)", tag, e2e_count_lines(la), e2e_count_lines(lb));
    e2e_rm_rf(da);
    e2e_rm_rf(db);
}

/* (1) The brief's tiny NB201 training: it runs, writes the run directory, and reports a test
 * accuracy in [0, 100] in log.jsonl, result.json and on stdout. */
static void test_nb201_tiny(void) {
    char d[256];
    static char log[65536], res[4096], cfg[4096];
    run_dir(d, sizeof d, "nb201");
    int rc = e2e_run(e2e_argv(e2e_tool(), "train", "--space", "nb201", "--genotype", ARCH,
                              "--channels", "4", "--cells", "1", "--batch", "16", "--train-images",
                              "64", "--epochs", "2", "--data", e2e_cifar_dir(), "--threads", "1",
                              "--progress", "0", "--log-every", "2", "--out", d, NULL));
    printf("%s", e2e_out);
    CHECK(rc == 0, "training exited %d", rc);
    const char *files[] = {"config.json", "log.jsonl", "checkpoint.dnas", "result.json"};
    for (int i = 0; i < 4; i++) {
        char p[400];
        snprintf(p, sizeof p, "%s/%s", d, files[i]);
        CHECK(e2e_file_exists(p), "no %s", files[i]);
    }
    read_in(d, "log.jsonl", log, sizeof log);
    CHECK(count_str(log, "\"kind\": \"epoch\"") == 2, "%d epoch lines, want 2",
          count_str(log, "\"kind\": \"epoch\""));
    /* 4 steps per epoch, a step line every 2 steps. */
    CHECK(count_str(log, "\"kind\": \"step\"") == 4, "%d step lines, want 4",
          count_str(log, "\"kind\": \"step\""));
    const char *keys[] = {"epoch", "step", "lr", "drop_prob", "train_loss", "train_acc",
                          "test_loss", "test_acc", "seconds"};
    const char *ep = strstr(log, "\"kind\": \"epoch\"");
    for (size_t i = 0; ep && i < sizeof keys / sizeof keys[0]; i++)
        CHECK(json_num(ep, keys[i]) >= 0, "the epoch line lacks %s", keys[i]);
    /* NB201 benchmark protocol: lr 0.1, cosine over 2 epochs -> 0.05 in the second. */
    CHECK(fabs(json_num(ep, "lr") - 0.1) < 1e-9, "epoch 1 lr %g, want 0.1", json_num(ep, "lr"));
    read_in(d, "result.json", res, sizeof res);
    double acc = json_num(res, "test_acc"), best = json_num(res, "best_test_acc");
    printf("  result.json: %s", res);
    CHECK(acc >= 0 && acc <= 100 && best >= acc && best <= 100, "test acc %g best %g", acc, best);
    CHECK(strstr(e2e_out, "test_acc ") != NULL, "no result on stdout");
    /* The benchmark network's size: NB201's table lists 0.802426 M parameters for ARCH. */
    rc = e2e_run(e2e_argv(e2e_tool(), "info", "--genotype", ARCH, "--batch", "2", NULL));
    CHECK(rc == 0 && strstr(e2e_out, "weights        802426 "), "dnas info %s: %s", ARCH, e2e_out);
    read_in(d, "config.json", cfg, sizeof cfg);
    CHECK(strstr(cfg, "\"genotype\": \"" ARCH "\"") && strstr(cfg, "\"nesterov\": 1") &&
              strstr(cfg, "\"weight_decay\": 0.0005"),
          "config.json lacks the genotype or the NB201 protocol: %s", cfg);
    e2e_rm_rf(d);
}

/* (2) NB201, the genotype read from a file as a search leaves it (genotype.txt, with its
 * newline); the final resume names the same file. */
static void test_nb201_resume_bit_identical(void) {
    char gf[256];
    snprintf(gf, sizeof gf, "/tmp/dnas-e2e-train-%d-genotype.txt", (int)getpid());
    FILE *f = fopen(gf, "w");
    if (f) {
        fputs(ARCH "\n", f);
        fclose(f);
    }
    char *base[] = {(char *)e2e_tool(), "train", "--space", "nb201", "--genotype", gf,
                    "--channels", "4", "--cells", "1", "--batch", "16", "--train-images", "64",
                    "--epochs", "2", "--test-images", "1000", "--data", (char *)e2e_cifar_dir(),
                    "--threads", "1", "--progress", "0", "--log-every", "1"};
    check_resume(base, (int)(sizeof base / sizeof base[0]), "nb201-resume", gf);
    unlink(gf);
}

/* SIGTERM (as SIGINT) stops a training at a step boundary with a checkpoint and exit 130;
 * --resume then continues from that step to the end. */
static void test_sigterm_checkpoints(void) {
    char d[256], out[300], lg[400], ck[400];
    run_dir(d, sizeof d, "term");
    snprintf(out, sizeof out, "%s.out", d);
    pid_t pid = e2e_spawn(e2e_argv(e2e_tool(), "train", "--space", "nb201", "--genotype", ARCH,
                                   "--channels", "4", "--cells", "1", "--batch", "16",
                                   "--train-images", "640", "--test-images", "100", "--epochs", "1",
                                   "--data", e2e_cifar_dir(), "--threads", "1", "--progress", "0",
                                   "--log-every", "1", "--out", d, NULL),
                          out);
    snprintf(lg, sizeof lg, "%s/log.jsonl", d);
    for (;;) {
        char log[65536];
        e2e_slurp(lg, log, sizeof log);
        if (e2e_count_lines(log) >= 5) break;
        int st_early = 0;
        if (waitpid(pid, &st_early, WNOHANG) == pid) {
            CHECK(0, "the training exited before it could be signalled");
            return;
        }
        usleep(2000);
    }
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    char msg[4096];
    e2e_slurp(out, msg, sizeof msg);
    printf("  after SIGTERM: exit %d: %s", WIFEXITED(status) ? WEXITSTATUS(status) : -1, msg);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 130, "SIGTERM: want exit 130");
    CHECK(strstr(msg, "dnas train --resume") != NULL, "the message does not say how to resume");
    snprintf(ck, sizeof ck, "%s/checkpoint.dnas", d);
    dnas_ckpt *c = NULL;
    uint64_t step = 0;
    CHECK(dnas_ckpt_read(ck, NULL, &c) == DNAS_OK && dnas_ckpt_get_u64(c, "step", &step) == DNAS_OK,
          "no readable checkpoint after SIGTERM: %s", dnas_last_error());
    dnas_ckpt_free(c);
    CHECK(step >= 5, "checkpoint at step %llu, the training had logged 5 steps", (unsigned long long)step);
    int rc = e2e_run(e2e_argv(e2e_tool(), "train", "--resume", d, "--progress", "0", NULL));
    CHECK(rc == 0 && strstr(e2e_out, "resuming"), "resume after SIGTERM: exit %d: %s", rc, e2e_out);
    char res[4096];
    read_in(d, "result.json", res, sizeof res);
    CHECK(json_num(res, "total_steps") == 40, "result.json after the resume: %s", res);
    e2e_rm_rf(d);
    unlink(out);
}

/* (3) Bad input: one line, a non-zero exit, and nothing created or overwritten. */
static void test_bad_input(void) {
    char d[256], ok[256], empty[256], before[4096], after[4096];
    run_dir(d, sizeof d, "bad");
    run_dir(ok, sizeof ok, "bad-ok");
    run_dir(empty, sizeof empty, "bad-empty");
    const char *data = e2e_cifar_dir();
#define TRAIN(...)                                                                               \
    e2e_run(e2e_argv(e2e_tool(), "train", "--data", data, "--channels", "4", "--cells", "1",      \
                     "--batch", "16", "--train-images", "64", "--epochs", "1", "--threads", "1",  \
                     "--progress", "0", __VA_ARGS__, NULL))
    int rc = TRAIN("--space", "darts", "--genotype", "DARTS_V9", "--out", d);
    expect_error(rc, "--genotype", "unknown genotype name");
    CHECK(strstr(e2e_out, "DARTS_V2") != NULL, "the message does not list the known names");
    CHECK(!e2e_file_exists(d), "a refused training created %s", d);
    rc = TRAIN("--genotype", "DARTS_V9", "--out", d);
    expect_error(rc, "--genotype", "unknown name, space guessed");
    rc = TRAIN("--space", "nb201", "--genotype", "|nor_conv_3x3~0|+|bogus~0|", "--out", d);
    expect_error(rc, "--genotype", "malformed arch string");
    rc = TRAIN("--space", "darts", "--genotype", "Genotype(normal=[('sep_conv_3x3', 0)]", "--out", d);
    expect_error(rc, "--genotype", "malformed DARTS genotype");
    rc = TRAIN("--genotype", "/nonexistent/dir/genotype.txt", "--out", d);
    expect_error(rc, "no such file", "genotype file missing");
    rc = TRAIN("--space", "darts", "--genotype", ARCH, "--out", d);
    expect_error(rc, "--genotype", "darts space, NB201 arch string");
    rc = TRAIN("--space", "nb201", "--genotype", "DARTS_V2", "--out", d);
    expect_error(rc, "--genotype", "nb201 space, DARTS name");
    rc = TRAIN("--space", "nas101", "--genotype", ARCH, "--out", d);
    expect_error(rc, "--space", "unknown space");
    rc = TRAIN("--space", "nb201", "--genotype", ARCH, "--batch", "0", "--out", d);
    expect_error(rc, "--batch", "--batch 0");
    rc = TRAIN("--space", "darts", "--genotype", "DARTS_V2", "--drop-path", "1.5", "--out", d);
    expect_error(rc, "--drop-path", "--drop-path 1.5");
    rc = TRAIN("--space", "darts", "--genotype", "DARTS_V2", "--cutout", "-1", "--out", d);
    expect_error(rc, "--cutout", "--cutout -1");
    rc = TRAIN("--space", "nb201", "--genotype", ARCH, "--auxiliary", "1", "--out", d);
    expect_error(rc, "auxiliary", "nb201 with --auxiliary 1");
    rc = TRAIN("--space", "nb201", "--genotype", ARCH, "--no-such-flag", "1", "--out", d);
    expect_error(rc, "--no-such-flag", "unknown flag");
    rc = e2e_run(e2e_argv(e2e_tool(), "train", "--space", "nb201", "--out", d, NULL));
    expect_error(rc, "--genotype", "no --genotype");
    CHECK(!e2e_file_exists(d), "a refused training created %s", d);

    /* --resume of a directory without a checkpoint (empty, or missing). */
    mkdir(empty, 0755);
    rc = e2e_run(e2e_argv(e2e_tool(), "train", "--resume", empty, "--progress", "0", NULL));
    expect_error(rc, "checkpoint.dnas", "--resume of an empty directory");
    snapshot(empty, after, sizeof after);
    CHECK(after[0] == 0, "the refused resume wrote into %s: %s", empty, after);
    rc = e2e_run(e2e_argv(e2e_tool(), "train", "--resume", d, "--progress", "0", NULL));
    expect_error(rc, "no such directory", "--resume of a missing directory");
    CHECK(!e2e_file_exists(d), "a refused resume created %s", d);

    /* A finished run: its directory is never overwritten, and a resume must not change it. */
    rc = TRAIN("--space", "nb201", "--genotype", ARCH, "--test-images", "100", "--out", ok);
    CHECK(rc == 0, "small training failed: %s", e2e_out);
    snapshot(ok, before, sizeof before);
    rc = TRAIN("--space", "nb201", "--genotype", ARCH, "--out", ok);
    expect_error(rc, "already holds a run", "--out of an existing run");
    rc = e2e_run(e2e_argv(e2e_tool(), "train", "--resume", ok, "--space", "darts", NULL));
    expect_error(rc, "--space", "--resume with another --space");
    rc = e2e_run(e2e_argv(e2e_tool(), "train", "--resume", ok, "--genotype",
                          "|nor_conv_1x1~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
                          NULL));
    expect_error(rc, "--genotype", "--resume with another --genotype");
    rc = e2e_run(e2e_argv(e2e_tool(), "train", "--resume", ok, "--genotype", "|garbage", NULL));
    expect_error(rc, "--genotype", "--resume with a malformed --genotype");
    rc = e2e_run(e2e_argv(e2e_tool(), "train", "--resume", ok, "--epochs", "5", NULL));
    expect_error(rc, "--epochs", "--resume with a stored setting");
    snapshot(ok, after, sizeof after);
    CHECK(strcmp(before, after) == 0, "the run directory changed after refused commands:\n%s\n%s",
          before, after);
    /* A search's checkpoint is not a training run. */
    rc = e2e_run(e2e_argv(e2e_tool(), "search", "--data", data, "--channels", "4", "--cells", "1",
                          "--train-images", "64", "--epochs", "1", "--threads", "1",
                          "--progress", "0", "--out", d, NULL));
    CHECK(rc == 0, "tiny search failed: %s", e2e_out);
    snapshot(d, before, sizeof before);
    rc = e2e_run(e2e_argv(e2e_tool(), "train", "--resume", d, "--progress", "0", NULL));
    expect_error(rc, "not a training run", "--resume of a search");
    snapshot(d, after, sizeof after);
    CHECK(strcmp(before, after) == 0, "the search directory changed after a refused resume");
#undef TRAIN
    e2e_rm_rf(d);
    e2e_rm_rf(ok);
    e2e_rm_rf(empty);
}

/* Every 5th allocation failing in turn, until a run gets through: each failure is a clean
 * exit 1 whose last line says "out of memory" (the sanitizer build also checks for leaks). */
static void test_allocation_failures(void) {
    char d[256], k_str[16];
    run_dir(d, sizeof d, "oom");
    int n_fail = 0, done = 0;
    for (int k = 1; k < 400 && !done; k += 5) {
        e2e_rm_rf(d);
        snprintf(k_str, sizeof k_str, "%d", k);
        setenv("DNAS_FAIL_ALLOC_AT", k_str, 1);
        int rc = e2e_run(e2e_argv(e2e_tool(), "train", "--genotype", ARCH, "--channels", "4",
                                  "--cells", "1", "--batch", "16", "--train-images", "64",
                                  "--epochs", "1", "--test-images", "64", "--data",
                                  e2e_cifar_dir(), "--threads", "1", "--progress", "0", "--out",
                                  d, NULL));
        unsetenv("DNAS_FAIL_ALLOC_AT");
        if (rc == 0) {
            done = 1;
            break;
        }
        const char *last = e2e_out, *p;
        while ((p = strchr(last, '\n')) && p[1]) last = p + 1;
        CHECK(rc == 1 && strstr(last, "out of memory"), "allocation %d: exit %d: %s", k, rc, e2e_out);
        n_fail++;
    }
    printf("  %d runs failed cleanly, then one got through\n", n_fail);
    CHECK(done && n_fail >= 10, "only %d allocations failed before a run got through", n_fail);
    e2e_rm_rf(d);
}

/* (4) A tiny DARTS training with the evaluation protocol's parts (auxiliary head, drop path,
 * cutout); then the resume check over 2 epochs, so that drop path is on (p = 0.1) in the
 * second. While darts_net.c is a placeholder, the training must fail cleanly instead. */
static void test_darts_tiny(void) {
    char d[256];
    static char log[65536];
    run_dir(d, sizeof d, "darts");
    int rc = e2e_run(e2e_argv(e2e_tool(), "train", "--space", "darts", "--genotype", "DARTS_V2",
                              "--channels", "4", "--cells", "5", "--batch", "8", "--train-images",
                              "32", "--epochs", "1", "--auxiliary", "1", "--drop-path", "0.2",
                              "--cutout", "16", "--data", e2e_cifar_dir(), "--threads", "1",
                              "--progress", "0", "--out", d, NULL));
    printf("%s", e2e_out);
    if (rc != 0 && strstr(e2e_out, "not built yet")) {
        expect_error(rc, "DARTS", "DARTS network not built yet");
        CHECK(!e2e_file_exists(d), "a refused training created %s", d);
        SKIP_CASE("the DARTS evaluation network (src/space/darts_net.c) is a placeholder; "
                  "checked that it fails cleanly");
    }
    CHECK(rc == 0, "DARTS training exited %d", rc);
    read_in(d, "log.jsonl", log, sizeof log);
    const char *ep = strstr(log, "\"kind\": \"epoch\"");
    double acc = json_num(ep, "test_acc");
    CHECK(ep && acc >= 0 && acc <= 100, "no epoch line with a test accuracy: %s", log);
    CHECK(fabs(json_num(ep, "lr") - 0.025) < 1e-9, "DARTS lr %g, want 0.025", json_num(ep, "lr"));
    e2e_rm_rf(d);

    /* The parameter counts of ALGORITHMS.md §A3 (auxiliary head apart). */
    rc = e2e_run(e2e_argv(e2e_tool(), "info", "--space", "darts", "--genotype", "DARTS_V2",
                          "--batch", "2", NULL));
    CHECK(rc == 0 && strstr(e2e_out, "weights        3349342 ") &&
              strstr(e2e_out, "auxiliary head 476426"),
          "dnas info DARTS_V2: %s", e2e_out);
    rc = e2e_run(e2e_argv(e2e_tool(), "info", "--genotype", "DARTS_V1", "--batch", "2", NULL));
    CHECK(rc == 0 && strstr(e2e_out, "weights        3169414 "), "dnas info DARTS_V1: %s", e2e_out);

    char *base[] = {(char *)e2e_tool(), "train", "--space", "darts", "--genotype", "DARTS_V2",
                    "--channels", "4", "--cells", "5", "--batch", "8", "--train-images", "32",
                    "--epochs", "2", "--auxiliary", "1", "--drop-path", "0.2", "--cutout", "16",
                    "--test-images", "200", "--data", (char *)e2e_cifar_dir(), "--threads", "1",
                    "--progress", "0", "--log-every", "1"};
    /* The resume names the cell by its text: the same cell as the stored name. */
    check_resume(base, (int)(sizeof base / sizeof base[0]), "darts-resume",
                 "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
                 "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
                 "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
                 "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
                 "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])");
}

/* (5) SNAS's edge_all form (test_edge_all_net.c's hand cells: 5130 weights at C 4, L 3). */
static void test_darts_edge_all_tiny(void) {
    static const char *const geno = DNAS_TEST_EDGE_ALL_HAND;
    char d[256];
    static char log[65536];
    run_dir(d, sizeof d, "edge-all");
    int rc = e2e_run(e2e_argv(e2e_tool(), "train", "--space", "darts", "--genotype", geno,
                              "--channels", "4", "--cells", "3", "--batch", "8", "--train-images",
                              "32", "--test-images", "64", "--epochs", "2", "--drop-path", "0.2",
                              "--auxiliary", "0",
                              "--data", e2e_cifar_dir(), "--threads", "1", "--progress", "0",
                              "--out", d, NULL));
    CHECK(rc == 0, "edge_all training exited %d: %s", rc, e2e_out);
    CHECK(strstr(e2e_out, ": 5130 weights, 2 epochs"), "not the hand count of 5130 weights: %s", e2e_out);
    read_in(d, "log.jsonl", log, sizeof log);
    CHECK(count_str(log, "\"kind\": \"epoch\"") == 2, "want 2 epoch lines: %s", log);
    const char *ep = strstr(log, "\"kind\": \"epoch\"");
    double acc = json_num(ep, "test_acc"), loss = json_num(ep, "train_loss");
    CHECK(acc >= 0 && acc <= 100 && loss > 0 && isfinite(loss), "epoch line: %.300s", ep ? ep : log);
    e2e_rm_rf(d);
}

int main(void) {
    if (!e2e_require_cifar()) return 1;
    RUN(test_nb201_tiny);
    RUN(test_nb201_resume_bit_identical);
    RUN(test_sigterm_checkpoints);
    RUN(test_bad_input);
    RUN(test_allocation_failures);
    RUN(test_darts_tiny);
    RUN(test_darts_edge_all_tiny);
    TEST_EXIT();
}
