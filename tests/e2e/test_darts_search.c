/* End to end: `dnas search --space darts` on the real CIFAR-10 with a tiny supernet (C = 4,
 * 5 layers incl. both reductions, batch 8, 64 images a split half = 8 steps an epoch):
 *  - every strategy (darts1, darts2, idarts, gaea) searches the DARTS space unchanged and
 *    writes a genotype that parses back;
 *  - each op-set variant S1-S5 searches, and its genotype uses only that variant's candidates;
 *  - a search stopped by --max-steps and resumed ends bit-identical to an uninterrupted one,
 *    in S4 (whose noise op draws random numbers every step) and in the full space. */
#include "test.h"
#include "e2e.h"
#include "io/checkpoint.h"
#include "space/darts.h"

static void run_dir(char *buf, size_t cap, const char *tag) {
    snprintf(buf, cap, "/tmp/dnas-e2e-darts-%d-%s", (int)getpid(), tag);
    e2e_rm_rf(buf);
}

#define TINY "--channels", "4", "--cells", "5", "--batch", "8", "--train-images", "64", \
             "--threads", "1", "--progress", "0", "--seed", "3"

/* The run's genotype.txt, parsed; its text in `text`. */
static int read_genotype(const char *dir, char *text, size_t cap, dnas_darts_genotype *g) {
    char path[400];
    snprintf(path, sizeof path, "%s/genotype.txt", dir);
    e2e_slurp(path, text, cap);
    text[strcspn(text, "\n")] = 0;
    if (dnas_darts_genotype_parse(text, g) != DNAS_OK) {
        printf("  %s: '%s' does not parse: %s\n", path, text, dnas_last_error());
        return 0;
    }
    return 1;
}

static void test_every_strategy_searches_darts(void) {
    const char *algos[4] = {"darts1", "darts2", "idarts", "gaea"};
    for (int a = 0; a < 4; a++) {
        char dir[256], text[2048];
        run_dir(dir, sizeof dir, algos[a]);
        int rc = e2e_run(e2e_argv(e2e_tool(), "search", "--space", "darts", "--algo", algos[a],
                                  "--data", e2e_cifar_dir(), TINY, "--epochs", "1", "--out", dir, NULL));
        CHECK(rc == 0, "%s: exit %d: %s", algos[a], rc, e2e_out);
        dnas_darts_genotype g;
        CHECK(read_genotype(dir, text, sizeof text, &g), "%s: no parsable genotype", algos[a]);
        CHECK(strstr(e2e_out, text) != NULL, "%s: the printed result is not genotype.txt", algos[a]);
        /* GAEA's preset drops 'none' (s5); derivation never picks it anyway. */
        CHECK(strstr(text, "'none'") == NULL && strstr(text, "'noise'") == NULL, "%s: %s", algos[a], text);
        printf("  %-7s %.100s...\n", algos[a], text);
        e2e_rm_rf(dir);
    }
}

static void test_variants_search(void) {
    const dnas_space *sp = dnas_space_find("darts");
    const char *vars[5] = {"s1", "s2", "s3", "s4", "s5"};
    for (int v = 0; v < 5; v++) {
        char dir[256], text[2048];
        run_dir(dir, sizeof dir, vars[v]);
        int rc = e2e_run(e2e_argv(e2e_tool(), "search", "--space", "darts", "--ops", vars[v],
                                  "--data", e2e_cifar_dir(), TINY, "--epochs", "1", "--out", dir, NULL));
        CHECK(rc == 0, "--ops %s: exit %d: %s", vars[v], rc, e2e_out);
        dnas_darts_genotype g;
        uint8_t cand[2 * DNAS_DARTS_EDGES * DNAS_DARTS_OPS];
        if (!read_genotype(dir, text, sizeof text, &g) || sp->candidates(vars[v], cand) != DNAS_OK) {
            CHECK(0, "--ops %s: no genotype", vars[v]);
            continue;
        }
        int bad = 0;
        for (int t = 0; t < 2; t++)
            for (int p = 0; p < DNAS_DARTS_PAIRS; p++) {
                int e = dnas_darts_edge(p / 2, g.in[t][p]);
                bad += !cand[(t * DNAS_DARTS_EDGES + e) * DNAS_DARTS_OPS + g.op[t][p]];
            }
        CHECK(bad == 0, "--ops %s: %d pairs use a non-candidate op: %s", vars[v], bad, text);
        printf("  %s  %.100s...\n", vars[v], text);
        e2e_rm_rf(dir);
    }
}

static void compare_ckpts(const char *a, const char *b) {
    dnas_ckpt *ca = NULL, *cb = NULL;
    CHECK(dnas_ckpt_read(a, NULL, &ca) == DNAS_OK, "%s", dnas_last_error());
    CHECK(dnas_ckpt_read(b, NULL, &cb) == DNAS_OK, "%s", dnas_last_error());
    const char *names[] = {"weights", "alpha", "adam.m", "adam.v", "total_steps"};
    for (size_t i = 0; ca && cb && i < sizeof names / sizeof names[0]; i++) {
        size_t na = 0, nb = 0;
        const void *pa = dnas_ckpt_find(ca, names[i], &na), *pb = dnas_ckpt_find(cb, names[i], &nb);
        CHECK(pa && pb && na == nb, "entry %s missing or of another size", names[i]);
        if (pa && pb && na == nb) {
            int same = memcmp(pa, pb, na) == 0;
            printf("  %-11s %8zu bytes: %s\n", names[i], na, same ? "identical" : "DIFFERENT");
            CHECK(same, "entry %s differs between the resumed and the uninterrupted run", names[i]);
        }
    }
    dnas_ckpt_free(ca);
    dnas_ckpt_free(cb);
}

/* 2 epochs of 8 steps; the interrupted run stops after 5 steps (mid-epoch) and resumes. */
static void resume_case(const char *ops) {
    char da[256], db[256], pa[400], pb[400];
    run_dir(da, sizeof da, "full");
    run_dir(db, sizeof db, "stop");
    int rc = e2e_run(e2e_argv(e2e_tool(), "search", "--space", "darts", "--ops", ops, "--data",
                              e2e_cifar_dir(), TINY, "--epochs", "2", "--out", da, NULL));
    CHECK(rc == 0, "--ops '%s' uninterrupted: exit %d: %s", ops, rc, e2e_out);
    rc = e2e_run(e2e_argv(e2e_tool(), "search", "--space", "darts", "--ops", ops, "--data",
                          e2e_cifar_dir(), TINY, "--epochs", "2", "--max-steps", "5", "--out", db, NULL));
    CHECK(rc == 3, "--max-steps 5: exit %d (want 3): %s", rc, e2e_out);
    rc = e2e_run(e2e_argv(e2e_tool(), "search", "--resume", db, "--threads", "1", "--progress", "0", NULL));
    CHECK(rc == 0, "resume: exit %d: %s", rc, e2e_out);
    snprintf(pa, sizeof pa, "%s/checkpoint.dnas", da);
    snprintf(pb, sizeof pb, "%s/checkpoint.dnas", db);
    compare_ckpts(pa, pb);
    static char aa[65536], ab[65536];
    snprintf(pa, sizeof pa, "%s/alphas.jsonl", da);
    snprintf(pb, sizeof pb, "%s/alphas.jsonl", db);
    e2e_slurp(pa, aa, sizeof aa);
    e2e_slurp(pb, ab, sizeof ab);
    CHECK(aa[0] && strcmp(aa, ab) == 0, "--ops '%s': alphas.jsonl differs between resumed and uninterrupted runs", ops);
    char ta[2048], tb[2048];
    dnas_darts_genotype g;
    CHECK(read_genotype(da, ta, sizeof ta, &g) && read_genotype(db, tb, sizeof tb, &g) && strcmp(ta, tb) == 0,
          "--ops '%s': genotypes differ", ops);
    e2e_rm_rf(da);
    e2e_rm_rf(db);
}

static void test_resume_bit_identical_s4(void) { resume_case("s4"); }
static void test_resume_bit_identical_full(void) { resume_case("all"); }

int main(void) {
    if (!e2e_require_cifar()) return 1;
    RUN(test_every_strategy_searches_darts);
    RUN(test_variants_search);
    RUN(test_resume_bit_identical_s4);
    RUN(test_resume_bit_identical_full);
    TEST_EXIT();
}
