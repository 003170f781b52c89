/* End to end: `dnas search --algo prime` on the real CIFAR-10 with tiny supernets (C = 4,
 * batch 8, 64 images a split half = 8 iterations an epoch, 2 epochs), NB201 (1 cell per stage)
 * and DARTS (5 layers):
 *  - clip (CRB) mode with prox (NB201) and code-mode ADMM (DARTS), the informed schedule at
 *    f = 1 from tau0 = 8 and an arch lr of 0.05, so that alpha steps run and ops get pruned in
 *    16 iterations (ADMM's Z/U every 2 alpha steps: --admm-freq 3 in code mode): the search completes, its genotype parses back, log.jsonl has one
 *    {"kind": "prime"} line per epoch and the last one counts pruned ops;
 *  - a search stopped by --max-steps (mid-epoch) and resumed ends bit-identical to an
 *    uninterrupted one: weights, alpha, Adam state and DARTS-PRIME's own state (schedule, clock,
 *    masks, Z, U, counters) in the checkpoint, alphas.jsonl, the prime log lines, the genotype;
 *  - the default recommended run (softmax + prox + informed schedule f = 10; its threshold
 *    starts below the gradient energy, so 16 iterations take no alpha step) and clean ADMM on
 *    softmax (from tau0 = 20: alpha steps run) complete without pruning anything. */
#include "test.h"
#include "e2e.h"
#include "io/checkpoint.h"
#include "space/space.h"

static void run_dir(char *buf, size_t cap, const char *tag) {
    snprintf(buf, cap, "/tmp/dnas-e2e-prime-%d-%s", (int)getpid(), tag);
    e2e_rm_rf(buf);
}

#define TINY "--channels", "4", "--batch", "8", "--train-images", "64", "--threads", "1", \
             "--progress", "0", "--seed", "3", "--epochs", "2"
#define PRUNING "--prime-act", "clip", "--sched-freq", "1", "--sched-tau0", "8", "--arch-lr", "0.05", \
                "--admm-freq", "3"

static int read_genotype(const char *dir, const char *space, char *text, size_t cap) {
    char path[400];
    float onehot[DNAS_MAX_ARCH];
    snprintf(path, sizeof path, "%s/genotype.txt", dir);
    e2e_slurp(path, text, cap);
    text[strcspn(text, "\n")] = 0;
    const dnas_space *sp = dnas_space_find(space);
    if (!sp || sp->parse(text, onehot) != DNAS_OK) {
        printf("  %s: '%s' does not parse: %s\n", path, text, dnas_last_error());
        return 0;
    }
    return 1;
}

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
    dnas_ckpt *ca = NULL, *cb = NULL;
    CHECK(dnas_ckpt_read(a, NULL, &ca) == DNAS_OK, "%s", dnas_last_error());
    CHECK(dnas_ckpt_read(b, NULL, &cb) == DNAS_OK, "%s", dnas_last_error());
    const char *names[] = {"weights", "buffers", "alpha", "adam.m", "adam.v", "total_steps",
                           "prime.state", "prime.counters", "prime.mask", "prime.z", "prime.u"};
    for (size_t i = 0; ca && cb && i < sizeof names / sizeof names[0]; i++) {
        size_t na = 0, nb = 0;
        const void *pa = dnas_ckpt_find(ca, names[i], &na), *pb = dnas_ckpt_find(cb, names[i], &nb);
        CHECK(pa && pb && na == nb, "entry %s missing or of another size", names[i]);
        if (pa && pb && na == nb)
            CHECK(memcmp(pa, pb, na) == 0, "entry %s differs between the resumed and the "
                  "uninterrupted run", names[i]);
    }
    dnas_ckpt_free(ca);
    dnas_ckpt_free(cb);
}

static void resume_case(const char *space, const char *cells, const char *reg, const char *stop_at) {
    char da[256], db[256], pa[400], pb[400], tag[64];
    snprintf(tag, sizeof tag, "%s-%s-full", space, reg);
    run_dir(da, sizeof da, tag);
    snprintf(tag, sizeof tag, "%s-%s-stop", space, reg);
    run_dir(db, sizeof db, tag);
    int rc = e2e_run(e2e_argv(e2e_tool(), "search", "--algo", "prime", "--space", space, "--cells",
                              cells, "--prime-reg", reg, PRUNING, "--data", e2e_cifar_dir(), TINY,
                              "--out", da, NULL));
    CHECK(rc == 0, "%s %s uninterrupted: exit %d: %s", space, reg, rc, e2e_out);
    rc = e2e_run(e2e_argv(e2e_tool(), "search", "--algo", "prime", "--space", space, "--cells", cells,
                          "--prime-reg", reg, PRUNING, "--data", e2e_cifar_dir(), TINY,
                          "--max-steps", stop_at, "--out", db, NULL));
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
    CHECK(pra > 0, "%s %s: clip mode pruned %d ops in 2 epochs", space, reg, pra);
    CHECK(sa > 4, "%s %s: only %d alpha steps", space, reg, sa);
    int upd = admm_updates;
    if (strcmp(reg, "admm") == 0) CHECK(upd >= 2, "%s admm: %d Z/U updates", space, upd);
    char ta[2048], tb[2048];
    int ok = read_genotype(da, space, ta, sizeof ta) && read_genotype(db, space, tb, sizeof tb);
    CHECK(ok && strcmp(ta, tb) == 0, "%s %s: genotypes differ or do not parse", space, reg);
    if (ok) printf("  %-5s clip %-5s %d alpha steps, %d Z/U updates, %d ops pruned: %.80s\n", space, reg,
                   sa, upd, pra, ta);
    e2e_rm_rf(da);
    e2e_rm_rf(db);
}

static void test_clip_prox_nb201(void) { resume_case("nb201", "1", "prox", "5"); }
static void test_clip_admm_darts(void) { resume_case("darts", "5", "admm", "11"); }

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
    CHECK(read_genotype(d, space, g, sizeof g), "%s: genotype", space);
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
    if (!e2e_file_exists(e2e_cifar_dir())) {
        printf("FAIL e2e: %s missing (run make testdata)\n", e2e_cifar_dir());
        return 1;
    }
    RUN(test_clip_prox_nb201);
    RUN(test_clip_admm_darts);
    RUN(test_default_darts);
    RUN(test_clean_admm_nb201);
    TEST_EXIT();
}
