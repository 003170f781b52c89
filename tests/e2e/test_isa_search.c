/* End to end: the AVX-512 and AVX2 kernels give the same bits (README, "Vector width at run
 * time"), so a search started under one and resumed under the other ends byte-identical to an
 * uninterrupted one (our kernels: DNAS_CONV_IMPL=ours; the default engine is checked on one
 * ISA): NB201 (dense convolutions, BN) and the DARTS space (depthwise and 1x1
 * too), tiny supernets on the real CIFAR-10. On a CPU without AVX-512 both runs take the
 * 8-lane kernels and the comparison still checks the resume. */
#include "test.h"
#include "e2e.h"
#include "e2e_search.h"

static void run_dir(char *buf, size_t cap, const char *tag) {
    snprintf(buf, cap, "/tmp/dnas-e2e-isa-%d-%s", (int)getpid(), tag);
    e2e_rm_rf(buf);
}

/* switch_isa 0: the default engine (oneDNN's convolutions where the build has it) on one ISA
 * throughout: the resume must still be byte-identical. */
static void across_isas(const char *space, const char *channels, int switch_isa) {
    char da[256], db[256], pa[400], pb[400], ta[65536], tb[65536];
    char tag_a[32], tag_b[32];
    snprintf(tag_a, sizeof tag_a, "%s-avx512-%d", space, switch_isa);
    snprintf(tag_b, sizeof tag_b, "%s-mixed-%d", space, switch_isa);
    run_dir(da, sizeof da, tag_a);
    run_dir(db, sizeof db, tag_b);
#define ISA_ARGS(dir)                                                                          \
    e2e_tool(), "search", "--space", space, "--algo", "darts1", "--data", e2e_cifar_dir(),     \
        "--channels", channels, "--cells", strcmp(space, "darts") ? "1" : "5", "--batch", "16", \
        "--train-images", "96", "--epochs", "2", "--seed", "5", "--threads", "2",               \
        "--progress", "0", "--out", dir
    /* our kernels only: oneDNN (the default for some shapes) picks its ISA by itself */
    if (switch_isa) setenv("DNAS_CONV_IMPL", "ours", 1);
    if (switch_isa) setenv("DNAS_CPU_ISA", "avx512", 1);
    int rc = e2e_run(e2e_argv(ISA_ARGS(da), NULL));
    CHECK(rc == 0, "%s search under avx512 exited %d: %s", space, rc, e2e_out);
    rc = e2e_run(e2e_argv(ISA_ARGS(db), "--max-steps", "5", NULL));
    CHECK(rc == 3, "%s search stopped by --max-steps exited %d: %s", space, rc, e2e_out);
    if (switch_isa) setenv("DNAS_CPU_ISA", "avx2", 1);
    rc = e2e_run(e2e_argv(e2e_tool(), "search", "--resume", db, "--threads", "2", "--progress", "0", NULL));
    CHECK(rc == 0, "%s resume under avx2 exited %d: %s", space, rc, e2e_out);
    unsetenv("DNAS_CPU_ISA");
    unsetenv("DNAS_CONV_IMPL");
    snprintf(pa, sizeof pa, "%s/checkpoint.dnas", da);
    snprintf(pb, sizeof pb, "%s/checkpoint.dnas", db);
    const char *names[] = {"weights", "buffers", "alpha", "sgd.momentum", "adam.m", "adam.v"};
    e2e_ckpt_entries(pa, pb, names, (int)(sizeof names / sizeof names[0]), 0);
    CHECK(e2e_same_text(da, db, "alphas.jsonl", ta, tb, sizeof ta), "%s: alphas.jsonl differs", space);
    CHECK(e2e_same_text(da, db, "genotype.txt", ta, tb, sizeof ta), "%s: genotype differs", space);
    e2e_rm_rf(da);
    e2e_rm_rf(db);
#undef ISA_ARGS
}

static void test_nb201_resume_across_isas(void) { across_isas("nb201", "16", 1); }
static void test_darts_resume_across_isas(void) { across_isas("darts", "8", 1); }
/* NB201 at 16 channels: its 3x3 convolutions are oneDNN's in a oneDNN build */
static void test_nb201_resume_default_engine(void) { across_isas("nb201", "16", 0); }

int main(void) {
    if (!e2e_require_cifar()) return 1;
    RUN(test_nb201_resume_across_isas);
    RUN(test_darts_resume_across_isas);
    RUN(test_nb201_resume_default_engine);
    TEST_EXIT();
}
