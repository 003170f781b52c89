/* End to end: reduced NB201 searches on the real CIFAR-10 (decoded from ../shared/data by
 * `make testdata`), and a search killed with SIGKILL mid-epoch then resumed, which must end
 * bit-identical to an uninterrupted one. */
#include "test.h"
#include "e2e.h"
#include "io/checkpoint.h"
#include "core/alloc.h"

static char table[600];

static double last_epoch_value(const char *log, const char *key) {
    /* The last "epoch" line's value of key. */
    const char *p = log, *last = NULL;
    while ((p = strstr(p, "\"kind\": \"epoch\""))) last = p++;
    if (!last) return -1;
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *k = strstr(last, pat);
    return k ? atof(k + strlen(pat)) : -1;
}

static void run_dir(char *buf, size_t cap, const char *tag) {
    snprintf(buf, cap, "/tmp/dnas-e2e-%d-%s", (int)getpid(), tag);
    e2e_rm_rf(buf);
}

static void test_reduced_darts1_learns(void) {
    char dir[256], path[400], log[65536];
    run_dir(dir, sizeof dir, "v1");
    int rc = e2e_run(e2e_argv(e2e_tool(), "search", "--space", "nb201", "--algo", "darts1",
                              "--dataset", "cifar10", "--data", e2e_cifar_dir(), "--channels", "8",
                              "--cells", "1", "--train-images", "1536", "--epochs", "2", "--seed", "1",
                              "--threads", "2", "--progress", "0", "--log-every", "8", "--table", table,
                              "--out", dir, NULL));
    printf("%s", e2e_out);
    CHECK(rc == 0, "search exited %d", rc);
    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    e2e_slurp(path, log, sizeof log);
    double acc = last_epoch_value(log, "train_acc"), vacc = last_epoch_value(log, "valid_acc");
    printf("  epoch 2: supernet train acc %.2f%%, valid (arch batches) acc %.2f%% (chance 10%%)\n", acc, vacc);
    CHECK(acc > 20.0, "supernet train accuracy %.2f%% is not above chance", acc);
    CHECK(strstr(log, "\"kind\": \"result\"") && strstr(log, "\"c10_test\""), "no NB201 result line in log.jsonl");
    snprintf(path, sizeof path, "%s/alphas.jsonl", dir);
    char alphas[65536];
    e2e_slurp(path, alphas, sizeof alphas);
    CHECK(e2e_count_lines(alphas) == 2, "alphas.jsonl has %d lines, expected 2", e2e_count_lines(alphas));
    snprintf(path, sizeof path, "%s/genotype.txt", dir);
    char geno[256];
    e2e_slurp(path, geno, sizeof geno);
    CHECK(geno[0] == '|' && strstr(geno, "~2|"), "genotype.txt holds '%s'", geno);
    snprintf(path, sizeof path, "%s/config.json", dir);
    CHECK(e2e_file_exists(path), "no config.json");
    e2e_rm_rf(dir);
}

/* A reduced DARTS-V2 search must learn, not merely run: 2 epochs of 16 steps (512 images,
 * batch 32). Measured (seed 2, 2 threads): epoch 1 train loss 2.249, epoch 2 train loss 2.091,
 * acc 22.1%, arch-batch loss 2.090; chance is ln 10 = 2.303 and 10%. The thresholds leave
 * about 0.1 of margin for other builds' rounding; a search whose weights do not learn stays
 * near chance (measured with --lr 0: epoch 2 train loss 2.314, acc 12.1%), which the old
 * check (loss < 2.6) passed. Cost: about 6 s of CPU (0.17 s a step on one thread). */
static void test_reduced_darts2_learns(void) {
    char dir[256], path[400], log[65536];
    run_dir(dir, sizeof dir, "v2");
    int rc = e2e_run(e2e_argv(e2e_tool(), "search", "--space", "nb201", "--algo", "darts2",
                              "--dataset", "cifar10", "--data", e2e_cifar_dir(), "--channels", "8",
                              "--cells", "1", "--train-images", "512", "--batch", "32", "--epochs", "2",
                              "--seed", "2", "--threads", "2", "--progress", "0", "--out", dir, NULL));
    printf("%s", e2e_out);
    CHECK(rc == 0, "darts2 search exited %d", rc);
    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    e2e_slurp(path, log, sizeof log);
    const char *first = strstr(log, "\"kind\": \"epoch\""), *k = first ? strstr(first, "\"train_loss\": ") : NULL;
    double loss1 = k ? atof(k + strlen("\"train_loss\": ")) : -1;
    double loss = last_epoch_value(log, "train_loss"), acc = last_epoch_value(log, "train_acc");
    double vloss = last_epoch_value(log, "valid_loss");
    printf("  darts2: train loss epoch 1 %.3f, epoch 2 %.3f (acc %.1f%%), arch-batch loss %.3f; chance 2.303, 10%%\n",
           loss1, loss, acc, vloss);
    CHECK(loss > 0 && loss < 2.20, "darts2 epoch-2 train loss %.3f is not clearly below chance (2.303)", loss);
    CHECK(loss1 > 0 && loss < loss1 - 0.05, "darts2 train loss did not fall between epochs (%.3f -> %.3f)", loss1, loss);
    CHECK(acc > 16.0, "darts2 epoch-2 train accuracy %.1f%% is not clearly above chance (10%%)", acc);
    CHECK(vloss > 0 && vloss < 2.20, "darts2 arch-batch loss %.3f is not clearly below chance", vloss);
    e2e_rm_rf(dir);
}

/* Compares the search state in two checkpoints entry by entry, byte for byte. */
static void compare_ckpts(const char *a, const char *b) {
    dnas_ckpt *ca = NULL, *cb = NULL;
    CHECK(dnas_ckpt_read(a, NULL, &ca) == DNAS_OK, "%s", dnas_last_error());
    CHECK(dnas_ckpt_read(b, NULL, &cb) == DNAS_OK, "%s", dnas_last_error());
    if (!ca || !cb) {
        dnas_ckpt_free(ca);
        dnas_ckpt_free(cb);
        return;
    }
    const char *names[] = {"weights", "buffers", "alpha", "sgd.momentum", "adam.m", "adam.v",
                           "adam.t", "epoch", "step", "total_steps", "meters"};
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

static void test_sigkill_resume_bit_identical(void) {
    char da[256], db[256], pa[400], pb[400];
    run_dir(da, sizeof da, "ref");
    run_dir(db, sizeof db, "kill");
#define SEARCH_ARGS(dir)                                                                      \
    e2e_tool(), "search", "--space", "nb201", "--algo", "darts1", "--dataset", "cifar10",     \
        "--data", e2e_cifar_dir(), "--channels", "4", "--cells", "1", "--train-images", "1280", \
        "--epochs", "2", "--seed", "7", "--threads", "2", "--progress", "0", "--log-every", "1", \
        "--ckpt-every", "3", "--out", dir, NULL
    int rc = e2e_run(e2e_argv(SEARCH_ARGS(da)));
    CHECK(rc == 0, "uninterrupted search exited %d: %s", rc, e2e_out);

    char out[300];
    snprintf(out, sizeof out, "%s.out", db);
    pid_t pid = e2e_spawn(e2e_argv(SEARCH_ARGS(db)), out);
    snprintf(pb, sizeof pb, "%s/log.jsonl", db);
    /* Kill it once it is well into the second epoch (20 steps per epoch, one log line each). */
    /* No time limit on the wait (sanitizer builds are slow); stop waiting if it exits first. */
    int killed_running = 0, status = 0, exited = 0;
    for (;;) {
        char log[65536];
        e2e_slurp(pb, log, sizeof log);
        if (e2e_count_lines(log) >= 27) {
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
    CHECK(killed_running && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
          "the search was not killed mid-run (it finished first?)");
    char log[65536];
    e2e_slurp(pb, log, sizeof log);
    printf("  killed with SIGKILL after %d log lines\n", e2e_count_lines(log));
    rc = e2e_run(e2e_argv(e2e_tool(), "search", "--resume", db, "--threads", "2", "--progress", "0", NULL));
    printf("%s", e2e_out);
    CHECK(rc == 0, "resume exited %d", rc);
    snprintf(pa, sizeof pa, "%s/checkpoint.dnas", da);
    snprintf(pb, sizeof pb, "%s/checkpoint.dnas", db);
    compare_ckpts(pa, pb);
    /* The per-epoch alpha log must not have doubled or lost lines. */
    char aa[65536], ab[65536];
    snprintf(pa, sizeof pa, "%s/alphas.jsonl", da);
    snprintf(pb, sizeof pb, "%s/alphas.jsonl", db);
    e2e_slurp(pa, aa, sizeof aa);
    e2e_slurp(pb, ab, sizeof ab);
    CHECK(strcmp(aa, ab) == 0, "alphas.jsonl differs between resumed and uninterrupted runs");
    e2e_rm_rf(da);
    e2e_rm_rf(db);
    unlink(out);
}

/* SIGTERM (and SIGINT) stop a search at a step boundary with a checkpoint and exit 130;
 * --resume then continues from that exact step. */
static void test_sigterm_checkpoints(void) {
    char d[256], out[300], lg[400], ck[400];
    run_dir(d, sizeof d, "term");
    snprintf(out, sizeof out, "%s.out", d);
    pid_t pid = e2e_spawn(e2e_argv(e2e_tool(), "search", "--data", e2e_cifar_dir(), "--channels", "4",
                                   "--cells", "1", "--train-images", "1280", "--epochs", "1", "--seed", "3",
                                   "--threads", "2", "--progress", "0", "--log-every", "1", "--out", d, NULL),
                          out);
    snprintf(lg, sizeof lg, "%s/log.jsonl", d);
    for (;;) {
        char log[65536];
        e2e_slurp(lg, log, sizeof log);
        if (e2e_count_lines(log) >= 5) break;
        int st_early = 0;
        if (waitpid(pid, &st_early, WNOHANG) == pid) {
            CHECK(0, "the search exited before it could be signalled");
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
    CHECK(strstr(msg, "--resume") != NULL, "the message does not say how to resume");
    snprintf(ck, sizeof ck, "%s/checkpoint.dnas", d);
    dnas_ckpt *c = NULL;
    uint64_t step = 0;
    CHECK(dnas_ckpt_read(ck, NULL, &c) == DNAS_OK && dnas_ckpt_get_u64(c, "step", &step) == DNAS_OK,
          "no readable checkpoint after SIGTERM: %s", dnas_last_error());
    dnas_ckpt_free(c);
    CHECK(step >= 5, "checkpoint at step %llu, the search had logged 5 steps", (unsigned long long)step);
    int rc = e2e_run(e2e_argv(e2e_tool(), "search", "--resume", d, "--progress", "0", NULL));
    CHECK(rc == 0 && strstr(e2e_out, "resuming"), "resume after SIGTERM: exit %d: %s", rc, e2e_out);
    e2e_rm_rf(d);
    unlink(out);
}

int main(void) {
    snprintf(table, sizeof table, "%s/nb201/nb201.csv", t_shared_data());
    if (!e2e_require_cifar()) return 1;
    RUN(test_reduced_darts1_learns);
    RUN(test_reduced_darts2_learns);
    RUN(test_sigkill_resume_bit_identical);
    RUN(test_sigterm_checkpoints);
    TEST_EXIT();
}
