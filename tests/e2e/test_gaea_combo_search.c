/* End to end (real CIFAR-10, `make testdata`), tiny supernets (C 4, batch 8, 64 images a half):
 *  - gaea-pcdarts on the DARTS space and gaea-gdas on NB201 (--warmup-epochs 1) run, theta
 *    stays on each row's simplex (candidates sum to 1, each > 0, non-candidates 0), PC-DARTS'
 *    edge weights on each node's simplex, theta moved (gaea-gdas: not during its warm-up);
 *  - --drop-path-prob 0.5 on the DARTS space (epoch 1 drops with p = 0.5): a search stopped
 *    mid-epoch 1 and resumed ends bit-identical to an uninterrupted one, and differs from the
 *    same search without drop path;
 *  - snas --derive edge_all on the DARTS space writes a 14-pair genotype the space parses. */
#include "test.h"
#include "e2e.h"
#include "e2e_search.h"
#include "space/darts.h"

static void run_dir(char *buf, size_t cap, const char *tag) {
    snprintf(buf, cap, "/tmp/dnas-e2e-gaeacombo-%d-%s", (int)getpid(), tag);
    e2e_rm_rf(buf);
}

#define TINY "--channels", "4", "--batch", "8", "--train-images", "64", "--threads", "1", \
             "--progress", "0", "--seed", "3"

/* alpha of a checkpoint into out (at most cap floats); returns the count. */
static size_t ckpt_alpha(const char *path, float *out, size_t cap) {
    dnas_ckpt *c = NULL;
    size_t n = 0;
    if (dnas_ckpt_read(path, NULL, &c) != DNAS_OK) return 0;
    const void *p = dnas_ckpt_find(c, "alpha", &n);
    n /= sizeof(float);
    if (!p || n > cap) n = 0;
    else memcpy(out, p, n * sizeof(float));
    dnas_ckpt_free(c);
    return n;
}

static void check_simplex(const char *space, const float *a, size_t n) {
    const dnas_space *sp = dnas_space_find(space);
    int rows = sp->groups * sp->rows, cols = sp->cols;
    uint8_t cand[DNAS_MAX_ARCH];
    sp->candidates("", cand);
    int moved = 0;
    for (int r = 0; r < rows; r++) {
        double sum = 0;
        int nc = 0;
        for (int k = 0; k < cols; k++) {
            float v = a[r * cols + k];
            if (!cand[r * cols + k]) {
                CHECK(v == 0.0f, "%s row %d column %d: non-candidate %g", space, r, k, v);
                continue;
            }
            CHECK(v > 0.0f && v <= 1.0f, "%s row %d column %d: %g off the simplex", space, r, k, v);
            sum += v;
            nc++;
        }
        CHECK(fabs(sum - 1.0) < 1e-5, "%s row %d sums to %.7f", space, r, sum);
        for (int k = 0; k < cols; k++) moved |= cand[r * cols + k] && fabsf(a[r * cols + k] - 1.0f / nc) > 1e-6f;
    }
    CHECK(moved, "%s: theta never left the uniform start", space);
    if (n == (size_t)rows * cols) return;
    CHECK(n == (size_t)rows * cols + rows, "%zu values", n);
    const float *b = a + rows * cols; /* the edge block: each node's edges sum to 1 */
    for (int t = 0; t < sp->groups; t++)
        for (int nd = 0; nd < sp->n_nodes; nd++) {
            double sum = 0;
            for (int e = 0; e < sp->node_count[nd]; e++) {
                float v = b[t * sp->rows + sp->node_first[nd] + e];
                CHECK(v > 0.0f, "edge weight %g", v);
                sum += v;
            }
            CHECK(fabs(sum - 1.0) < 1e-5, "group %d node %d edge weights sum to %.7f", t, nd, sum);
        }
}

static void combo(const char *space, const char *algo, const char *cells, const char *epochs,
                  const char *warmup) {
    char d[256], p[400];
    run_dir(d, sizeof d, algo);
    int rc = e2e_run(e2e_argv(e2e_tool(), "search", "--space", space, "--algo", algo, "--data",
                              e2e_cifar_dir(), TINY, "--cells", cells, "--epochs", epochs,
                              "--warmup-epochs", warmup, "--out", d, NULL));
    CHECK(rc == 0, "%s %s: exit %d: %s", space, algo, rc, e2e_out);
    float a[DNAS_MAX_ARCH];
    snprintf(p, sizeof p, "%s/checkpoint.dnas", d);
    size_t n = ckpt_alpha(p, a, DNAS_MAX_ARCH);
    CHECK(n > 0, "no alpha in %s", p);
    if (n) check_simplex(space, a, n);
    static char txt[4096], al[1 << 20];
    snprintf(p, sizeof p, "%s/genotype.txt", d);
    e2e_slurp(p, txt, sizeof txt);
    txt[strcspn(txt, "\n")] = 0;
    float oh[DNAS_MAX_ARCH];
    CHECK(dnas_space_find(space)->parse(txt, oh) == DNAS_OK, "genotype '%s': %s", txt, dnas_last_error());
    if (strcmp(warmup, "0") != 0) { /* no theta step in the warm-up epoch: its line is uniform */
        snprintf(p, sizeof p, "%s/alphas.jsonl", d);
        e2e_slurp(p, al, sizeof al);
        char *nl = strchr(al, '\n');
        if (nl) *nl = 0;
        int uni = 0;
        for (const char *q = al; (q = strstr(q, "0.200000")); q++) uni++;
        CHECK(uni == 30, "epoch 0 (warm-up) weights not all 1/5: %.200s", al);
    }
    printf("  %s %s on the simplex; genotype %.80s\n", space, algo, txt);
    e2e_rm_rf(d);
}

static void test_gaea_pcdarts_darts(void) { combo("darts", "gaea-pcdarts", "5", "2", "0"); }
static void test_gaea_gdas_nb201(void) { combo("nb201", "gaea-gdas", "1", "3", "1"); }

static void test_droppath_resume(void) {
    char da[256], db[256], dc[256], pa[400], pb[400];
    run_dir(da, sizeof da, "dp-full");
    run_dir(db, sizeof db, "dp-cut");
    run_dir(dc, sizeof dc, "dp-off");
#define DP(dir) e2e_tool(), "search", "--space", "darts", "--algo", "darts1", "--data", \
                e2e_cifar_dir(), TINY, "--cells", "5", "--epochs", "2", "--out", dir
    int rc = e2e_run(e2e_argv(DP(da), "--drop-path-prob", "0.5", NULL));
    CHECK(rc == 0, "uninterrupted: exit %d: %s", rc, e2e_out);
    rc = e2e_run(e2e_argv(DP(db), "--drop-path-prob", "0.5", "--max-steps", "11", NULL));
    CHECK(rc == 3, "--max-steps 11: exit %d: %s", rc, e2e_out);
    rc = e2e_run(e2e_argv(e2e_tool(), "search", "--resume", db, "--threads", "1", "--progress", "0", NULL));
    CHECK(rc == 0, "resume: exit %d: %s", rc, e2e_out);
    rc = e2e_run(e2e_argv(DP(dc), NULL));
    CHECK(rc == 0, "without drop path: exit %d: %s", rc, e2e_out);
    snprintf(pa, sizeof pa, "%s/checkpoint.dnas", da);
    snprintf(pb, sizeof pb, "%s/checkpoint.dnas", db);
    const char *names[] = {"weights", "buffers", "alpha", "sgd.momentum", "adam.m", "adam.v", "total_steps"};
    const int all = e2e_ckpt_entries(pa, pb, names, (int)(sizeof names / sizeof names[0]), 0);
    snprintf(pb, sizeof pb, "%s/checkpoint.dnas", dc);
    CHECK(e2e_ckpt_entries(pa, pb, names, 1, 1), "drop path 0.5 changed nothing");
    printf("  drop path 0.5: resumed run %s\n", all ? "bit-identical" : "DIFFERENT");
    e2e_rm_rf(da);
    e2e_rm_rf(db);
    e2e_rm_rf(dc);
}

static void test_snas_edge_all(void) {
    char d[256], p[400];
    run_dir(d, sizeof d, "edge-all");
    int rc = e2e_run(e2e_argv(e2e_tool(), "search", "--space", "darts", "--algo", "snas",
                              "--derive", "edge_all", "--data", e2e_cifar_dir(), TINY, "--cells",
                              "5", "--epochs", "1", "--out", d, NULL));
    CHECK(rc == 0, "snas edge_all: exit %d: %s", rc, e2e_out);
    static char txt[4096];
    snprintf(p, sizeof p, "%s/genotype.txt", d);
    e2e_slurp(p, txt, sizeof txt);
    txt[strcspn(txt, "\n")] = 0;
    dnas_darts_edge_all g;
    CHECK(dnas_darts_edge_all_parse(txt, &g) == DNAS_OK, "'%s': %s", txt, dnas_last_error());
    float oh[DNAS_MAX_ARCH];
    CHECK(dnas_space_darts.parse(txt, oh) == DNAS_OK, "space parse: %s", dnas_last_error());
    printf("  edge_all genotype %.100s...\n", txt);
    e2e_rm_rf(d);
}

int main(void) {
    if (!e2e_have_cifar("test_gaea_combo_search")) return 0;
    RUN(test_gaea_pcdarts_darts);
    RUN(test_gaea_gdas_nb201);
    RUN(test_droppath_resume);
    RUN(test_snas_edge_all);
    TEST_EXIT();
}
