/* End to end: `dnas search --algo pcdarts` (ALGORITHMS.md §B7) on the real CIFAR-10 with tiny
 * supernets (NB201: C = 4, N = 1; DARTS: C = 4, 5 layers; K = 4, batch 8, 64 images a split
 * half = 8 steps an epoch, 1 warm-up epoch of 2):
 *  - the search runs, writes a genotype, and logs the edge weights (betas) in alphas.jsonl;
 *  - the checkpoint's alpha holds alpha and beta (groups*rows*(cols + 1) floats);
 *  - a search stopped by --max-steps in the warm-up and resumed ends bit-identical to an
 *    uninterrupted one (weights, alpha+beta, Adam state, alphas.jsonl, genotype). */
#include "test.h"
#include "e2e.h"
#include "io/checkpoint.h"

static void run_dir(char *buf, size_t cap, const char *tag) {
    snprintf(buf, cap, "/tmp/dnas-e2e-pcdarts-%d-%s", (int)getpid(), tag);
    e2e_rm_rf(buf);
}

#define TINY "--algo", "pcdarts", "--channels", "4", "--batch", "8", "--train-images", "64", \
             "--threads", "1", "--progress", "0", "--seed", "3", "--epochs", "2",            \
             "--warmup-epochs", "1"

static void compare_ckpts(const char *a, const char *b, size_t alpha_bytes) {
    dnas_ckpt *ca = NULL, *cb = NULL;
    CHECK(dnas_ckpt_read(a, NULL, &ca) == DNAS_OK, "%s", dnas_last_error());
    CHECK(dnas_ckpt_read(b, NULL, &cb) == DNAS_OK, "%s", dnas_last_error());
    const char *names[] = {"weights", "alpha", "adam.m", "adam.v", "total_steps"};
    for (size_t i = 0; ca && cb && i < sizeof names / sizeof names[0]; i++) {
        size_t na = 0, nb = 0;
        const void *pa = dnas_ckpt_find(ca, names[i], &na), *pb = dnas_ckpt_find(cb, names[i], &nb);
        CHECK(pa && pb && na == nb, "entry %s missing or of another size", names[i]);
        if (i == 1) CHECK(na == alpha_bytes, "alpha entry %zu bytes, expected %zu", na, alpha_bytes);
        if (pa && pb && na == nb) {
            int same = memcmp(pa, pb, na) == 0;
            printf("  %-11s %8zu bytes: %s\n", names[i], na, same ? "identical" : "DIFFERENT");
            CHECK(same, "entry %s differs between the resumed and the uninterrupted run", names[i]);
        }
    }
    dnas_ckpt_free(ca);
    dnas_ckpt_free(cb);
}

static void resume_case(const char *space, const char *cells, size_t alpha_floats) {
    char da[256], db[256], pa[400], pb[400];
    run_dir(da, sizeof da, "full");
    run_dir(db, sizeof db, "stop");
    int rc = e2e_run(e2e_argv(e2e_tool(), "search", "--space", space, "--cells", cells, "--data",
                              e2e_cifar_dir(), TINY, "--out", da, NULL));
    CHECK(rc == 0, "%s uninterrupted: exit %d: %s", space, rc, e2e_out);
    rc = e2e_run(e2e_argv(e2e_tool(), "search", "--space", space, "--cells", cells, "--data",
                          e2e_cifar_dir(), TINY, "--max-steps", "5", "--out", db, NULL));
    CHECK(rc == 3, "%s --max-steps 5: exit %d (want 3): %s", space, rc, e2e_out);
    rc = e2e_run(e2e_argv(e2e_tool(), "search", "--resume", db, "--threads", "1", "--progress", "0", NULL));
    CHECK(rc == 0, "%s resume: exit %d: %s", space, rc, e2e_out);
    snprintf(pa, sizeof pa, "%s/checkpoint.dnas", da);
    snprintf(pb, sizeof pb, "%s/checkpoint.dnas", db);
    compare_ckpts(pa, pb, alpha_floats * sizeof(float));
    static char aa[65536], ab[65536];
    snprintf(pa, sizeof pa, "%s/alphas.jsonl", da);
    snprintf(pb, sizeof pb, "%s/alphas.jsonl", db);
    e2e_slurp(pa, aa, sizeof aa);
    e2e_slurp(pb, ab, sizeof ab);
    CHECK(aa[0] && strcmp(aa, ab) == 0, "%s: alphas.jsonl differs between resumed and uninterrupted runs", space);
    CHECK(e2e_count_lines(aa) == 2 && strstr(aa, "\"betas\": [[") != NULL, "%s: alphas.jsonl: %.300s", space, aa);
    char ta[2048], tb[2048];
    snprintf(pa, sizeof pa, "%s/genotype.txt", da);
    snprintf(pb, sizeof pb, "%s/genotype.txt", db);
    e2e_slurp(pa, ta, sizeof ta);
    e2e_slurp(pb, tb, sizeof tb);
    CHECK(ta[0] && strcmp(ta, tb) == 0, "%s: genotypes differ", space);
    ta[strcspn(ta, "\n")] = 0;
    printf("  %s: %.120s\n", space, ta);
    e2e_rm_rf(da);
    e2e_rm_rf(db);
}

/* NB201: 6 x 5 alpha + 6 beta; DARTS: 2 x 14 x 9 alpha + 2 x 14 beta. */
static void test_nb201_search_and_resume(void) { resume_case("nb201", "1", 6 * 5 + 6); }
static void test_darts_search_and_resume(void) { resume_case("darts", "5", 2 * 14 * 9 + 28); }

int main(void) {
    if (!e2e_require_cifar()) return 1;
    RUN(test_nb201_search_and_resume);
    RUN(test_darts_search_and_resume);
    TEST_EXIT();
}
