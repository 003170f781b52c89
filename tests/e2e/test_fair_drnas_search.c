/* End to end: `dnas search --algo fairdarts | drnas` on the real CIFAR-10 with tiny supernets
 * (C = 4, batch 8, 64 images a split half = 8 steps an epoch), in NB201 (1 cell per stage)
 * and DARTS (5 layers):
 *  - each search completes and writes a genotype that the space parses back; FairDARTS's
 *    comes from the threshold derivation (an edge below 0.85 is 'none');
 *  - a search stopped by --max-steps after 5 steps (mid-epoch) and resumed ends bit-identical
 *    (weights, alpha, Adam state, alphas.jsonl, genotype) to an uninterrupted one: DrNAS's
 *    Dirichlet draws are a function of (seed, step, forward, row), with no extra state. */
#include "test.h"
#include "e2e.h"
#include "e2e_search.h"

static void run_dir(char *buf, size_t cap, const char *tag) {
    snprintf(buf, cap, "/tmp/dnas-e2e-fairdrnas-%d-%s", (int)getpid(), tag);
    e2e_rm_rf(buf);
}

#define TINY "--channels", "4", "--batch", "8", "--train-images", "64", "--threads", "1", \
             "--progress", "0", "--seed", "3", "--epochs", "2"

static void compare_ckpts(const char *a, const char *b) {
    const char *names[] = {"weights", "buffers", "alpha", "adam.m", "adam.v", "total_steps"};
    e2e_ckpt_entries(a, b, names, (int)(sizeof names / sizeof names[0]), 0);
}

static void resume_case(const char *algo, const char *space, const char *cells) {
    char da[256], db[256], pa[400], pb[400], tag[64];
    snprintf(tag, sizeof tag, "%s-%s-full", algo, space);
    run_dir(da, sizeof da, tag);
    snprintf(tag, sizeof tag, "%s-%s-stop", algo, space);
    run_dir(db, sizeof db, tag);
    int rc = e2e_run(e2e_argv(e2e_tool(), "search", "--space", space, "--algo", algo, "--cells",
                              cells, "--data", e2e_cifar_dir(), TINY, "--out", da, NULL));
    CHECK(rc == 0, "%s %s uninterrupted: exit %d: %s", algo, space, rc, e2e_out);
    rc = e2e_run(e2e_argv(e2e_tool(), "search", "--space", space, "--algo", algo, "--cells", cells,
                          "--data", e2e_cifar_dir(), TINY, "--max-steps", "5", "--out", db, NULL));
    CHECK(rc == 3, "%s %s --max-steps 5: exit %d (want 3): %s", algo, space, rc, e2e_out);
    rc = e2e_run(e2e_argv(e2e_tool(), "search", "--resume", db, "--threads", "1", "--progress", "0", NULL));
    CHECK(rc == 0, "%s %s resume: exit %d: %s", algo, space, rc, e2e_out);
    snprintf(pa, sizeof pa, "%s/checkpoint.dnas", da);
    snprintf(pb, sizeof pb, "%s/checkpoint.dnas", db);
    compare_ckpts(pa, pb);
    static char aa[1 << 17], ab[1 << 17];
    snprintf(pa, sizeof pa, "%s/alphas.jsonl", da);
    snprintf(pb, sizeof pb, "%s/alphas.jsonl", db);
    e2e_slurp(pa, aa, sizeof aa);
    e2e_slurp(pb, ab, sizeof ab);
    CHECK(aa[0] && strcmp(aa, ab) == 0, "%s %s: alphas.jsonl differs", algo, space);
    char ta[2048], tb[2048];
    int ok = e2e_read_genotype(da, space, ta, sizeof ta) && e2e_read_genotype(db, space, tb, sizeof tb);
    CHECK(ok && strcmp(ta, tb) == 0, "%s %s: genotypes differ or do not parse", algo, space);
    if (ok) printf("  %-9s %-5s %.110s\n", algo, space, ta);
    e2e_rm_rf(da);
    e2e_rm_rf(db);
}

static void test_fairdarts_nb201(void) { resume_case("fairdarts", "nb201", "1"); }
static void test_drnas_nb201(void) { resume_case("drnas", "nb201", "1"); }
static void test_fairdarts_darts(void) { resume_case("fairdarts", "darts", "5"); }
static void test_drnas_darts(void) { resume_case("drnas", "darts", "5"); }

int main(void) {
    if (!e2e_require_cifar()) return 1;
    RUN(test_fairdarts_nb201);
    RUN(test_drnas_nb201);
    RUN(test_fairdarts_darts);
    RUN(test_drnas_darts);
    TEST_EXIT();
}
