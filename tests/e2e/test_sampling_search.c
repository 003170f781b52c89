/* End to end: the sampling methods `--algo snas` and `--algo gdas` (ALGORITHMS.md §B5, §B6)
 * on the real CIFAR-10 with tiny supernets (NB201: C 4, 1 cell per stage; DARTS: C 4, 5
 * layers; batch 8, 64 images a split half):
 *  - each searches each space and writes a genotype that the space parses back, and alpha
 *    moved from its initial value;
 *  - a search stopped by --max-steps mid-epoch and resumed ends bit-identical (weights, alpha,
 *    Adam state, alphas.jsonl, genotype) to an uninterrupted one: the Gumbel draws are Philox
 *    at (seed, step, forward, row), so nothing else needs checkpointing. */
#include "test.h"
#include "e2e.h"
#include "io/checkpoint.h"
#include "space/space.h"

static void run_dir(char *buf, size_t cap, const char *space, const char *algo, const char *tag) {
    snprintf(buf, cap, "/tmp/dnas-e2e-sampling-%d-%s-%s-%s", (int)getpid(), space, algo, tag);
    e2e_rm_rf(buf);
}

static const char *cells_of(const char *space) { return strcmp(space, "darts") == 0 ? "5" : "1"; }

#define TINY(space) "--channels", "4", "--cells", cells_of(space), "--batch", "8", \
                    "--train-images", "64", "--threads", "1", "--progress", "0", "--seed", "3"

static int compare_ckpts(const char *a, const char *b) {
    dnas_ckpt *ca = NULL, *cb = NULL;
    int ok = 1;
    CHECK(dnas_ckpt_read(a, NULL, &ca) == DNAS_OK, "%s", dnas_last_error());
    CHECK(dnas_ckpt_read(b, NULL, &cb) == DNAS_OK, "%s", dnas_last_error());
    const char *names[] = {"weights", "alpha", "adam.m", "adam.v", "total_steps"};
    for (size_t i = 0; ca && cb && i < sizeof names / sizeof names[0]; i++) {
        size_t na = 0, nb = 0;
        const void *pa = dnas_ckpt_find(ca, names[i], &na), *pb = dnas_ckpt_find(cb, names[i], &nb);
        CHECK(pa && pb && na == nb, "entry %s missing or of another size", names[i]);
        if (pa && pb && na == nb) {
            int same = memcmp(pa, pb, na) == 0;
            ok &= same;
            CHECK(same, "entry %s differs between the resumed and the uninterrupted run", names[i]);
        }
    }
    dnas_ckpt_free(ca);
    dnas_ckpt_free(cb);
    return ok && ca && cb;
}

static void search_and_resume(const char *space, const char *algo) {
    char da[256], db[256], pa[400], pb[400];
    run_dir(da, sizeof da, space, algo, "full");
    run_dir(db, sizeof db, space, algo, "stop");
    int rc = e2e_run(e2e_argv(e2e_tool(), "search", "--space", space, "--algo", algo, "--data",
                              e2e_cifar_dir(), TINY(space), "--epochs", "2", "--out", da, NULL));
    CHECK(rc == 0, "%s %s uninterrupted: exit %d: %s", space, algo, rc, e2e_out);
    rc = e2e_run(e2e_argv(e2e_tool(), "search", "--space", space, "--algo", algo, "--data",
                          e2e_cifar_dir(), TINY(space), "--epochs", "2", "--max-steps", "5",
                          "--out", db, NULL));
    CHECK(rc == 3, "%s %s --max-steps 5: exit %d (want 3): %s", space, algo, rc, e2e_out);
    rc = e2e_run(e2e_argv(e2e_tool(), "search", "--resume", db, "--threads", "1", "--progress", "0", NULL));
    CHECK(rc == 0, "%s %s resume: exit %d: %s", space, algo, rc, e2e_out);

    /* The genotype parses in its space. */
    static char ta[4096], tb[4096];
    snprintf(pa, sizeof pa, "%s/genotype.txt", da);
    snprintf(pb, sizeof pb, "%s/genotype.txt", db);
    e2e_slurp(pa, ta, sizeof ta);
    e2e_slurp(pb, tb, sizeof tb);
    ta[strcspn(ta, "\n")] = 0;
    tb[strcspn(tb, "\n")] = 0;
    float onehot[DNAS_MAX_ARCH];
    const dnas_space *sp = dnas_space_find(space);
    CHECK(sp && sp->parse(ta, onehot) == DNAS_OK, "%s %s: genotype '%s' does not parse: %s", space,
          algo, ta, dnas_last_error());
    CHECK(strcmp(ta, tb) == 0, "%s %s: genotypes differ: '%s' vs '%s'", space, algo, ta, tb);

    snprintf(pa, sizeof pa, "%s/checkpoint.dnas", da);
    snprintf(pb, sizeof pb, "%s/checkpoint.dnas", db);
    int same = compare_ckpts(pa, pb);
    static char aa[1 << 20], ab[1 << 20];
    snprintf(pa, sizeof pa, "%s/alphas.jsonl", da);
    snprintf(pb, sizeof pb, "%s/alphas.jsonl", db);
    e2e_slurp(pa, aa, sizeof aa);
    e2e_slurp(pb, ab, sizeof ab);
    CHECK(aa[0] && strcmp(aa, ab) == 0, "%s %s: alphas.jsonl differs between resumed and "
          "uninterrupted runs", space, algo);
    /* alpha learned: the last line's weights differ from the first's. */
    char *nl = strchr(aa, '\n'), *last = NULL;
    for (char *q = aa; (q = strchr(q, '\n')) && q[1]; q++) last = q + 1;
    size_t l0 = nl ? (size_t)(nl - aa) : 0;
    CHECK(nl && last && strncmp(aa, last, l0) != 0, "%s %s: alpha never moved", space, algo);
    printf("  %-5s %-4s resumed run %s; genotype %.90s\n", space, algo,
           same ? "bit-identical" : "DIFFERENT", ta);
    e2e_rm_rf(da);
    e2e_rm_rf(db);
}

static void test_snas_nb201(void) { search_and_resume("nb201", "snas"); }
static void test_gdas_nb201(void) { search_and_resume("nb201", "gdas"); }
static void test_snas_darts(void) { search_and_resume("darts", "snas"); }
static void test_gdas_darts(void) { search_and_resume("darts", "gdas"); }

int main(void) {
    if (!e2e_require_cifar()) return 1;
    RUN(test_snas_nb201);
    RUN(test_gdas_nb201);
    RUN(test_snas_darts);
    RUN(test_gdas_darts);
    TEST_EXIT();
}
