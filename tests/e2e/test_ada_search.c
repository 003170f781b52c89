/* End to end (real CIFAR-10, `make testdata`): DARTS-ADA's roll-back (ALGORITHMS.md §B9,
 * --algo rdarts --rdarts-es ada) on a tiny NB201 supernet, 3 epochs of 4 steps, an eigenvalue
 * every epoch. Window 1, delta 1, start 0 and factor 1e-6 make the rule fire at the first
 * check (epoch 1: ratio ev1/ev0 > 1e-6, stop epoch 0). The power iteration gets room to
 * converge (it takes 44-48 products at epoch 1): with 10 the unconverged estimate of ev1 came
 * out +0.025 on the AVX2 build and -0.007 on ARCH=x86-64, whose ratio never fires; --ada-mul 3 with --ada-max-wd 1e-3 lets
 * one increase through (3e-4 -> 9e-4) and ignores the next (2.7e-3 > 1e-3), so the run:
 *  - logs a "rollback" at epoch 1 back to epoch 0 with the old weight decay 3e-4, reruns epoch
 *    1 (its re-check logs "ignored" with weight decay 9e-4), and finishes epoch 2;
 *  - right after the roll-back (--max-steps 8 stops there) its checkpoint holds exactly the
 *    state saved at the end of epoch 0 (rdarts-ada-0.dnas: weights, BN statistics, alpha, both
 *    optimisers, position), with the weight decay multiplied by 3 and one increase counted;
 *  - resumed from there, it ends bit-identical to the uninterrupted run. */
#include "test.h"
#include "e2e.h"
#include "e2e_search.h"

static void run_dir(char *buf, size_t cap, const char *tag) {
    snprintf(buf, cap, "/tmp/dnas-e2e-ada-%d-%s", (int)getpid(), tag);
    e2e_rm_rf(buf);
}

static int count(const char *s, const char *pat) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, pat)); p++) n++;
    return n;
}

static double ckpt_double(const char *path, const char *name) {
    dnas_ckpt *c = NULL;
    double v = -1;
    if (dnas_ckpt_read(path, NULL, &c) == DNAS_OK) dnas_ckpt_get(c, name, &v, sizeof v);
    dnas_ckpt_free(c);
    return v;
}

static uint64_t ckpt_u64(const char *path, const char *name) {
    dnas_ckpt *c = NULL;
    uint64_t v = 999;
    if (dnas_ckpt_read(path, NULL, &c) == DNAS_OK) dnas_ckpt_get_u64(c, name, &v);
    dnas_ckpt_free(c);
    return v;
}

#define ADA_ARGS(dir)                                                                            \
    e2e_tool(), "search", "--space", "nb201", "--algo", "rdarts", "--rdarts-es", "ada",          \
        "--rdarts-order", "1", "--data", e2e_cifar_dir(), "--channels", "4", "--cells", "1",     \
        "--train-images", "64", "--batch", "16", "--epochs", "3", "--seed", "3", "--threads",     \
        "2", "--progress", "0", "--ev-every", "1", "--ev-iters", "100", "--es-window", "1",      \
        "--es-delta", "1", "--es-start", "0", "--es-factor", "1e-6", "--ada-mul", "3",           \
        "--ada-max-wd", "1e-3", "--log-every", "1", "--out", dir

static void test_ada_rolls_back_and_resumes_identically(void) {
    char da[256], db[256], pa[400], pb[400];
    static char la[1 << 17];
    run_dir(da, sizeof da, "ref");
    run_dir(db, sizeof db, "cut");
    int rc = e2e_run(e2e_argv(ADA_ARGS(da), NULL));
    CHECK(rc == 0, "rdarts ada exited %d: %s", rc, e2e_out);
    snprintf(pa, sizeof pa, "%s/log.jsonl", da);
    e2e_slurp(pa, la, sizeof la);
    const char *rb = strstr(la, "\"action\": \"rollback\"");
    const char *ig = strstr(la, "\"action\": \"ignored\"");
    CHECK(rb && count(la, "\"action\": \"rollback\"") == 1, "%d rollback lines, want 1",
          count(la, "\"action\": \"rollback\""));
    const char *line = rb;
    while (line && line > la && line[-1] != '\n') line--;
    CHECK(line && strncmp(line, "{\"kind\": \"early_stop\", \"epoch\": 1, \"stop_epoch\": 0,", 50) == 0,
          "the rollback is not at epoch 1 back to epoch 0: %.120s", line ? line : "");
    CHECK(rb && strstr(rb, "\"weight_decay\": 0.0003,"), "rollback logged with a weight decay other "
          "than 3e-4");
    CHECK(ig && ig > rb && strstr(ig, "\"weight_decay\": 0.0009,"), "no ignored re-trigger with weight "
          "decay 9e-4 after the rollback");
    /* Epochs 0, 1, (rolled back) 1 again, 2: four epoch lines, and the run finished. */
    CHECK(count(la, "\"kind\": \"epoch\"") == 4, "%d epoch lines, want 4", count(la, "\"kind\": \"epoch\""));
    CHECK(strstr(e2e_out, "DARTS-ADA") && strstr(e2e_out, "0.0003 -> 0.0009"), "no roll-back message");
    snprintf(pa, sizeof pa, "%s/checkpoint.dnas", da);
    CHECK(ckpt_u64(pa, "epoch") == 3 && ckpt_u64(pa, "total_steps") == 12,
          "final position epoch %llu, total steps %llu (want 3, 12: the rerun epoch replaced the "
          "rolled-back one)", (unsigned long long)ckpt_u64(pa, "epoch"),
          (unsigned long long)ckpt_u64(pa, "total_steps"));
    CHECK(fabs(ckpt_double(pa, "rdarts.wd") - 9e-4) < 1e-12 && ckpt_u64(pa, "rdarts.increases") == 1,
          "final weight decay %g, increases %llu", ckpt_double(pa, "rdarts.wd"),
          (unsigned long long)ckpt_u64(pa, "rdarts.increases"));

    /* Stop right after the roll-back (end of epoch 1 = step 8): the state is epoch 0's. */
    rc = e2e_run(e2e_argv(ADA_ARGS(db), "--max-steps", "8", NULL));
    CHECK(rc == 3, "--max-steps 8: exit %d: %s", rc, e2e_out);
    snprintf(pa, sizeof pa, "%s/rdarts-ada-0.dnas", db);
    snprintf(pb, sizeof pb, "%s/checkpoint.dnas", db);
    static const char *const state[] = {"weights", "buffers", "alpha", "sgd.momentum", "adam.m",
                                        "adam.v", "adam.t", "epoch", "step", "total_steps"};
    e2e_ckpt_entries(pa, pb, state, 10, 0);
    static const char *const wd[] = {"rdarts.wd", "rdarts.increases"};
    e2e_ckpt_entries(pa, pb, wd, 2, 1);
    CHECK(ckpt_u64(pb, "epoch") == 1 && ckpt_u64(pb, "step") == 0 && ckpt_u64(pb, "total_steps") == 4,
          "after the roll-back: epoch %llu step %llu total %llu (want 1, 0, 4)",
          (unsigned long long)ckpt_u64(pb, "epoch"), (unsigned long long)ckpt_u64(pb, "step"),
          (unsigned long long)ckpt_u64(pb, "total_steps"));
    CHECK(fabs(ckpt_double(pb, "rdarts.wd") - 9e-4) < 1e-12 && fabs(ckpt_double(pa, "rdarts.wd") - 3e-4) < 1e-12,
          "weight decay %g after, %g in the snapshot (want 9e-4, 3e-4)", ckpt_double(pb, "rdarts.wd"),
          ckpt_double(pa, "rdarts.wd"));

    /* Resumed across the roll-back: bit-identical to the uninterrupted run. */
    rc = e2e_run(e2e_argv(e2e_tool(), "search", "--resume", db, "--threads", "2", "--progress", "0", NULL));
    CHECK(rc == 0, "resume exited %d: %s", rc, e2e_out);
    snprintf(pa, sizeof pa, "%s/checkpoint.dnas", da);
    static const char *const all[] = {"weights", "buffers", "alpha", "sgd.momentum", "adam.m",
                                      "adam.v", "adam.t", "epoch", "step", "total_steps",
                                      "rdarts.ev", "rdarts.ev_epoch", "rdarts.ring",
                                      "rdarts.ring_epoch", "rdarts.wd", "rdarts.increases"};
    e2e_ckpt_entries(pa, pb, all, 16, 0);
    char ga[512], gb[512];
    CHECK(e2e_same_text(da, db, "genotype.txt", ga, gb, sizeof ga) && ga[0] == '|',
          "genotypes '%s' vs '%s'", ga, gb);
    printf("  rollback at epoch 1 to epoch 0, weight decay 3e-4 -> 9e-4; resumed run %s\n",
           t_cur_failed ? "DIFFERENT" : "bit-identical");
    e2e_rm_rf(da);
    e2e_rm_rf(db);
}

int main(void) {
    if (!e2e_have_cifar("test_ada_search")) return 0;
    RUN(test_ada_rolls_back_and_resumes_identically);
    TEST_EXIT();
}
