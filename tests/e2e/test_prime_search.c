/* End to end: `dnas search --algo prime` on the real CIFAR-10 with tiny supernets (C = 4,
 * batch 8, 64 images a split half = 8 iterations an epoch, 2 epochs), NB201 (1 cell per stage)
 * and DARTS (5 layers):
 *  - clip (CRB) mode with prox (NB201) and code-mode ADMM (DARTS) on the 50/50 split
 *    (--dyno-split 0), the informed schedule at
 *    f = 1 from tau0 = 8 and an arch lr of 0.05, so that alpha steps run and ops get pruned in
 *    16 iterations (ADMM's Z/U every 2 alpha steps: --admm-freq 3 in code mode): the search completes, its genotype parses back, log.jsonl has one
 *    {"kind": "prime"} line per epoch and the last one counts pruned ops;
 *  - a search stopped by --max-steps (mid-epoch) and resumed ends bit-identical to an
 *    uninterrupted one: weights, alpha, Adam state and DARTS-PRIME's own state (schedule, clock,
 *    masks, Z, U, counters) in the checkpoint, alphas.jsonl, the prime log lines, the genotype;
 *  - --dyno-split (on by default) at f = 3: the 128 search images split 96/32, so an epoch is 12
 *    iterations (f = 1: 64/64, 8) and the prox clock ends at exactly 2 epochs; resumed, it is
 *    bit-identical too; --dyno-split 0 at f = 3 keeps the 64/64 split (8 iterations);
 *  - the default recommended run (softmax + prox + informed schedule f = 10, --dyno-split: 116/12
 *    images; its threshold starts below the gradient energy, so 30 iterations take no alpha step) and clean ADMM on
 *    softmax (from tau0 = 20: alpha steps run) complete without pruning anything. */
#include "test.h"
#include "e2e.h"
#include "e2e_search.h"

static void run_dir(char *buf, size_t cap, const char *tag) {
    snprintf(buf, cap, "/tmp/dnas-e2e-prime-%d-%s", (int)getpid(), tag);
    e2e_rm_rf(buf);
}

#define TINY "--channels", "4", "--batch", "8", "--train-images", "64", "--threads", "1", \
             "--progress", "0", "--seed", "3", "--epochs", "2"
#define PRUNING "--prime-act", "clip", "--sched-tau0", "8", "--arch-lr", "0.05", "--admm-freq", "3"

/* The {"kind": "prime"} lines of dir/log.jsonl, concatenated into out; returns their count and
 * the last line's "pruned" and "alpha_steps_total". */
static int admm_updates; /* the last line's "admm_updates" (prime_lines) */
static int prime_lines(const char *dir, char *out, size_t cap, int *pruned, int *steps) {
    static char log[1 << 17];
    char path[400];
    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    e2e_slurp(path, log, sizeof log);
    int n = 0;
    out[0] = 0;
    *pruned = *steps = -1;
    for (char *l = log; *l;) {
        char *e = strchr(l, '\n');
        size_t len = e ? (size_t)(e - l) : strlen(l);
        if (strstr(l, "\"kind\": \"prime\"") && strstr(l, "\"kind\": \"prime\"") < l + len) {
            n++;
            if (strlen(out) + len + 2 < cap) strncat(out, l, len);
            const char *p = strstr(l, "\"pruned\": "), *q = strstr(l, "\"alpha_steps_total\": ");
            if (p) *pruned = atoi(p + 10);
            if (q) *steps = atoi(q + 21);
            const char *u = strstr(l, "\"admm_updates\": ");
            admm_updates = u ? atoi(u + 16) : -1;
        }
        l += len + (e ? 1 : 0);
    }
    return n;
}

static void compare_ckpts(const char *a, const char *b) {
    const char *names[] = {"weights", "buffers", "alpha", "adam.m", "adam.v", "total_steps",
                           "prime.state", "prime.counters", "prime.mask", "prime.z", "prime.u"};
    e2e_ckpt_entries(a, b, names, (int)(sizeof names / sizeof names[0]), 0);
}

/* The first prime line's "iters" and the last one's "clock" in `lines`. */
static void iters_clock(const char *lines, int *iters, double *clock) {
    const char *p = strstr(lines, "\"iters\": "), *q = NULL;
    for (const char *c = lines; (c = strstr(c, "\"clock\": ")) != NULL; c++) q = c;
    *iters = p ? atoi(p + 9) : -1;
    *clock = q ? atof(q + 9) : -1.0;
}

static void resume_case(const char *space, const char *cells, const char *reg, const char *stop_at,
                        const char *f, const char *dyno, int want_iters) {
    char da[256], db[256], pa[400], pb[400], tag[64];
    snprintf(tag, sizeof tag, "%s-%s-full", space, reg);
    run_dir(da, sizeof da, tag);
    snprintf(tag, sizeof tag, "%s-%s-stop", space, reg);
    run_dir(db, sizeof db, tag);
    int rc = e2e_run(e2e_argv(e2e_tool(), "search", "--algo", "prime", "--space", space, "--cells",
                              cells, "--prime-reg", reg, PRUNING, "--sched-freq", f, "--dyno-split", dyno, "--data",
                              e2e_cifar_dir(), TINY, "--out", da, NULL));
    CHECK(rc == 0, "%s %s uninterrupted: exit %d: %s", space, reg, rc, e2e_out);
    rc = e2e_run(e2e_argv(e2e_tool(), "search", "--algo", "prime", "--space", space, "--cells", cells,
                          "--prime-reg", reg, PRUNING, "--sched-freq", f, "--dyno-split", dyno, "--data", e2e_cifar_dir(),
                          TINY, "--max-steps", stop_at, "--out", db, NULL));
    CHECK(rc == 3, "%s %s --max-steps %s: exit %d (want 3): %s", space, reg, stop_at, rc, e2e_out);
    rc = e2e_run(e2e_argv(e2e_tool(), "search", "--resume", db, "--threads", "1", "--progress", "0", NULL));
    CHECK(rc == 0, "%s %s resume: exit %d: %s", space, reg, rc, e2e_out);
    snprintf(pa, sizeof pa, "%s/checkpoint.dnas", da);
    snprintf(pb, sizeof pb, "%s/checkpoint.dnas", db);
    compare_ckpts(pa, pb);
    static char aa[1 << 17], ab[1 << 17], la[8192], lb[8192];
    snprintf(pa, sizeof pa, "%s/alphas.jsonl", da);
    snprintf(pb, sizeof pb, "%s/alphas.jsonl", db);
    e2e_slurp(pa, aa, sizeof aa);
    e2e_slurp(pb, ab, sizeof ab);
    CHECK(aa[0] && strcmp(aa, ab) == 0, "%s %s: alphas.jsonl differs", space, reg);
    int pra, prb, sa, sb;
    int na = prime_lines(da, la, sizeof la, &pra, &sa), nb = prime_lines(db, lb, sizeof lb, &prb, &sb);
    CHECK(na == 2 && nb == 2, "%s %s: %d and %d prime log lines, want 2 (one per epoch)", space, reg, na, nb);
    CHECK(strcmp(la, lb) == 0, "%s %s: the prime log lines differ after the resume", space, reg);
    int iters;
    double clock;
    iters_clock(la, &iters, &clock);
    CHECK(iters == want_iters && fabs(clock - 2.0) < 1e-9, "%s %s f %s: %d iterations an epoch (want "
          "%d), clock %.6f after 2 epochs (want 2)", space, reg, f, iters, want_iters, clock);
    CHECK(pra > 0, "%s %s: clip mode pruned %d ops in 2 epochs", space, reg, pra);
    /* With tau0 = 8 under the first FIs, the first epoch takes no alpha step while tau grows;
     * the schedule settles at alpha steps in 1/(1 + f) of the iterations (ALGORITHMS-2.md
     * B(a)), so ask the second epoch for that share. (It was "> 4" until the lazy BN outputs
     * changed the rounding: this 4-channel supernet's trajectory is chaotic, 6 steps before, 4
     * after.) */
    int want_sa = want_iters / (1 + atoi(f));
    CHECK(sa >= want_sa, "%s %s: only %d alpha steps (want >= %d)", space, reg, sa, want_sa);
    int upd = admm_updates;
    if (strcmp(reg, "admm") == 0) CHECK(upd >= 2, "%s admm: %d Z/U updates", space, upd);
    char ta[2048], tb[2048];
    int ok = e2e_read_genotype(da, space, ta, sizeof ta) && e2e_read_genotype(db, space, tb, sizeof tb);
    CHECK(ok && strcmp(ta, tb) == 0, "%s %s: genotypes differ or do not parse", space, reg);
    if (ok) printf("  %-5s clip %-5s %d alpha steps, %d Z/U updates, %d ops pruned: %.80s\n", space, reg,
                   sa, upd, pra, ta);
    e2e_rm_rf(da);
    e2e_rm_rf(db);
}

/* (On the 50/50 split the settings above were tuned for: the pruning and ADMM counts depend on
 * which images alpha sees.) */
static void test_clip_prox_nb201(void) { resume_case("nb201", "1", "prox", "5", "1", "0", 8); }
static void test_clip_admm_darts(void) { resume_case("darts", "5", "admm", "11", "1", "0", 8); }
/* Stopped in the first epoch, past the 8 iterations a 64/64 split would have. */
static void test_dyno_split_resume(void) { resume_case("nb201", "1", "prox", "10", "3", "1", 12); }

static void test_dyno_split_off(void) {
    char d[256], lines[8192];
    run_dir(d, sizeof d, "nodyno");
    int rc = e2e_run(e2e_argv(e2e_tool(), "search", "--algo", "prime", "--space", "nb201", "--cells",
                              "1", "--sched-freq", "3", "--dyno-split", "0", "--data", e2e_cifar_dir(),
                              TINY, "--out", d, NULL));
    CHECK(rc == 0, "exit %d: %s", rc, e2e_out);
    int pruned, steps, iters;
    double clock;
    CHECK(prime_lines(d, lines, sizeof lines, &pruned, &steps) == 2, "two prime lines");
    iters_clock(lines, &iters, &clock);
    CHECK(iters == 8 && fabs(clock - 2.0) < 1e-9, "--dyno-split 0: %d iterations, clock %.6f (want 8, 2)",
          iters, clock);
    rc = e2e_run(e2e_argv(e2e_tool(), "search", "--algo", "darts1", "--dyno-split", "1", "--data",
                          e2e_cifar_dir(), TINY, "--out", d, NULL));
    CHECK(rc != 0 && strstr(e2e_out, "--dyno-split"), "--dyno-split 1 with darts1: exit %d: %s", rc, e2e_out);
    e2e_rm_rf(d);
}

/* The defaults (softmax, prox, informed f = 10) and clean ADMM: complete, prune nothing. */
static void plain_case(const char *space, const char *cells, const char *const *extra, int min_steps) {
    char d[256], lines[8192], g[2048];
    run_dir(d, sizeof d, "plain");
    int rc = e2e_run(e2e_argv(e2e_tool(), "search", "--algo", "prime", "--space", space, "--cells",
                              cells, "--data", e2e_cifar_dir(), TINY, "--out", d, extra[0], extra[1],
                              extra[2], extra[3], extra[4], extra[5], NULL));
    CHECK(rc == 0, "%s: exit %d: %s", space, rc, e2e_out);
    int pruned, steps, n = prime_lines(d, lines, sizeof lines, &pruned, &steps);
    CHECK(n == 2 && pruned == 0, "%s: %d prime lines, %d pruned (softmax prunes nothing)", space, n, pruned);
    CHECK(e2e_read_genotype(d, space, g, sizeof g), "%s: genotype", space);
    printf("  %-5s softmax %s %s: %d alpha steps\n", space, extra[0] ? extra[1] : "", extra[2] ? extra[3] : "", steps);
    CHECK(steps >= min_steps, "%s: %d alpha steps, want >= %d", space, steps, min_steps);
    e2e_rm_rf(d);
}

static void test_default_darts(void) {
    const char *const none[6] = {NULL};
    plain_case("darts", "3", none, 0);
}

static void test_clean_admm_nb201(void) {
    /* tau0 = 20 lies above E, so the informed schedule (f = 10) steps alpha from the start. */
    const char *const admm[6] = {"--prime-reg", "admm", "--admm-mode", "clean", "--sched-tau0", "20"};
    plain_case("nb201", "1", admm, 1);
}

int main(void) {
    if (!e2e_require_cifar()) return 1;
    RUN(test_clip_prox_nb201);
    RUN(test_clip_admm_darts);
    RUN(test_dyno_split_resume);
    RUN(test_dyno_split_off);
    RUN(test_default_darts);
    RUN(test_clean_admm_nb201);
    TEST_EXIT();
}
