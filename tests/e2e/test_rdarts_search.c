/* End to end (real CIFAR-10, `make testdata`): --track-ev logs the Hessian's eigenvalue for any
 * strategy; rdarts with DARTS-ES stops on a forced trigger, and a run stopped by --max-steps
 * and resumed ends bit-identical to an uninterrupted one (RobustDARTS state included). */
#include "test.h"
#include "e2e.h"
#include "e2e_search.h"

static void run_dir(char *buf, size_t cap, const char *tag) {
    snprintf(buf, cap, "/tmp/dnas-e2e-rd-%d-%s", (int)getpid(), tag);
    e2e_rm_rf(buf);
}

static int count(const char *s, const char *pat) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, pat)); p++) n++;
    return n;
}

static void test_track_ev_logs_eigenvalues(void) {
    char dir[256], path[400];
    static char log[1 << 16];
    run_dir(dir, sizeof dir, "track");
    int rc = e2e_run(e2e_argv(e2e_tool(), "search", "--space", "nb201", "--algo", "darts1",
                              "--data", e2e_cifar_dir(), "--channels", "4", "--cells", "1",
                              "--train-images", "128", "--batch", "32", "--epochs", "3",
                              "--threads", "2", "--progress", "0", "--track-ev", "1",
                              "--ev-every", "1", "--ev-iters", "20", "--out", dir, NULL));
    CHECK(rc == 0, "search exited %d: %s", rc, e2e_out);
    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    e2e_slurp(path, log, sizeof log);
    int n = count(log, "\"kind\": \"eigenvalue\"");
    const char *v = strstr(log, "\"kind\": \"eigenvalue\", \"epoch\": 0, \"value\": ");
    double ev = v ? atof(v + strlen("\"kind\": \"eigenvalue\", \"epoch\": 0, \"value\": ")) : 0;
    printf("  %d eigenvalue lines; epoch 0: %g\n", n, ev);
    CHECK(n == 3, "%d eigenvalue lines, expected 3 (every epoch)", n);
    CHECK(v && isfinite(ev) && ev != 0 && strstr(v, "\"iterations\": "), "epoch 0 line malformed");
    e2e_rm_rf(dir);
}

static void compare(const char *a, const char *b) {
    const char *names[] = {"weights", "buffers", "alpha", "sgd.momentum", "adam.m", "adam.v",
                           "adam.t", "epoch", "step", "total_steps", "rdarts.ev", "rdarts.ev_epoch",
                           "rdarts.ring", "rdarts.ring_epoch", "rdarts.wd", "rdarts.increases"};
    e2e_ckpt_entries(a, b, names, (int)(sizeof names / sizeof names[0]), 0);
}

static void test_rdarts_es_stops_and_resumes_identically(void) {
    char da[256], db[256], pa[400], pb[400];
    static char la[1 << 16], lb[1 << 16];
    run_dir(da, sizeof da, "ref");
    run_dir(db, sizeof db, "cut");
    /* window 1, delta 1, start 0, factor 1e-6: the first check (epoch 1) triggers and returns
     * the architecture of epoch 0; 4 steps an epoch. */
#define RD_ARGS(dir)                                                                           \
    e2e_tool(), "search", "--space", "nb201", "--algo", "rdarts", "--data", e2e_cifar_dir(),   \
        "--channels", "4", "--cells", "1", "--train-images", "128", "--batch", "32",           \
        "--epochs", "4", "--seed", "3", "--threads", "2", "--progress", "0", "--ev-every", "1", \
        "--ev-iters", "20", "--es-window", "1", "--es-delta", "1", "--es-start", "0",          \
        "--es-factor", "1e-6", "--log-every", "1", "--out", dir
    int rc = e2e_run(e2e_argv(RD_ARGS(da), NULL));
    CHECK(rc == 0, "rdarts exited %d: %s", rc, e2e_out);
    snprintf(pa, sizeof pa, "%s/log.jsonl", da);
    e2e_slurp(pa, la, sizeof la);
    const char *es = strstr(la, "\"kind\": \"early_stop\"");
    printf("  %s", es ? es : "no early_stop line\n");
    CHECK(es && strstr(es, "\"epoch\": 1, \"stop_epoch\": 0") && strstr(es, "\"action\": \"stop\""),
          "no early stop at epoch 1 back to epoch 0");
    CHECK(count(la, "\"kind\": \"epoch\"") == 2, "%d epochs ran, expected 2", count(la, "\"kind\": \"epoch\""));

    rc = e2e_run(e2e_argv(RD_ARGS(db), "--max-steps", "6", NULL));
    CHECK(rc != 0 && strstr(e2e_out, "--max-steps"), "--max-steps 6: exit %d", rc);
    rc = e2e_run(e2e_argv(e2e_tool(), "search", "--resume", db, "--threads", "2", "--progress", "0", NULL));
    CHECK(rc == 0, "resume exited %d: %s", rc, e2e_out);
    snprintf(pa, sizeof pa, "%s/checkpoint.dnas", da);
    snprintf(pb, sizeof pb, "%s/checkpoint.dnas", db);
    compare(pa, pb);
    snprintf(pb, sizeof pb, "%s/log.jsonl", db);
    e2e_slurp(pb, lb, sizeof lb);
    /* Eigenvalue and decision lines identical (step lines carry a timing). */
    const char *ea = strstr(la, "\"kind\": \"eigenvalue\""), *eb = strstr(lb, "\"kind\": \"eigenvalue\"");
    CHECK(ea && eb && strncmp(ea, eb, 120) == 0, "first eigenvalue lines differ");
    const char *sa = strstr(la, "\"kind\": \"early_stop\""), *sb = strstr(lb, "\"kind\": \"early_stop\"");
    CHECK(sa && sb && strncmp(sa, sb, strcspn(sa, "\n")) == 0, "early_stop lines differ");
    char ga[256], gb[256];
    CHECK(e2e_same_text(da, db, "genotype.txt", ga, gb, sizeof ga) && ga[0] == '|',
          "genotypes '%s' vs '%s'", ga, gb);
    e2e_rm_rf(da);
    e2e_rm_rf(db);
}

int main(void) {
    if (!e2e_have_cifar("test_rdarts_search")) return 0;
    RUN(test_track_ev_logs_eigenvalues);
    RUN(test_rdarts_es_stops_and_resumes_identically);
    TEST_EXIT();
}
