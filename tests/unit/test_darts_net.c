/* The discrete networks `dnas train` trains (src/space/darts_net.c, nb201_net.c) and the
 * graph support they need (drop path, the auxiliary loss, training-only nodes):
 *   - weight counts: DARTS_V2 / DARTS_V1 / PC_DARTS evaluation networks (C 36, L 20, 10
 *     classes, auxiliary head excluded), the auxiliary head on 576 channels, NB201 networks
 *     of arch strings against our PyTorch twin's counts and against every row of the NB201
 *     table's params column;
 *   - drop path: mask frequencies against 1 - p, same (key, step) -> same mask, one stream
 *     per drop-path node, identity in eval mode and at p = 0, a finite-difference gradient
 *     check in double through the reference kernels, and the float op against it;
 *   - auxiliary loss: total = main + w * aux, gradients linear in w, g->correct from the main
 *     logits, the auxiliary nodes skipped in eval mode, a smaller last batch;
 *   - clear errors for impossible configurations. */
#include "test.h"
#include "space/darts.h"
#include "space/nb201_net.h"
#include "io/nb201_table.h"
#include "ops/ops.h"
#include "core/rng.h"
#include "backend/ref/ref.h"
#include <math.h>

static dnas_backend *be;

static size_t count_params(const dnas_graph *g, int aux) {
    size_t n = 0;
    for (int i = 0; i < g->n_params; i++)
        if ((strncmp(g->params[i].name, "auxiliary_head.", 15) == 0) == aux)
            n += dnas_shape_numel(g->params[i].shape);
    return n;
}

/* Builds (no plan) and returns the weight count outside (aux = 0) or inside (1) the aux head. */
static long darts_count(const char *geno, int C, int L, int auxiliary, int aux_part) {
    dnas_graph g;
    dnas_graph_init(&g, be);
    dnas_net_config c = {.batch = 2, .classes = 10, .image = 32, .channels = C, .cells = L,
                         .auxiliary = auxiliary, .aux_weight = 0.4f};
    dnas_status st = dnas_space_darts.build_net(&g, &c, geno);
    CHECK(st == DNAS_OK, "%s: %s", geno, dnas_last_error());
    long n = st == DNAS_OK ? (long)count_params(&g, aux_part) : -1;
    dnas_graph_free(&g);
    return n;
}

static long nb201_count(const char *arch, int classes) {
    dnas_graph g;
    dnas_graph_init(&g, be);
    dnas_net_config c = {.batch = 2, .classes = classes, .image = 32};
    dnas_status st = dnas_space_nb201.build_net(&g, &c, arch);
    CHECK(st == DNAS_OK, "%s: %s", arch, dnas_last_error());
    long n = st == DNAS_OK ? (long)g.n_weights : -1;
    dnas_graph_free(&g);
    return n;
}

/* ALGORITHMS.md §A3 (computed from the layer definitions; the aux head excluded as in the
 * reference's count_parameters_in_MB); PC_DARTS from tests/ref/darts_net_twin.py. 0 channels
 * and cells mean the paper's C 36, L 20. */
static void test_darts_weight_counts(void) {
    long v2 = darts_count("DARTS_V2", 0, 0, 1, 0), v1 = darts_count("DARTS_V1", 36, 20, 0, 0);
    long pc = darts_count("PC_DARTS", 36, 20, 0, 0), aux = darts_count("DARTS_V2", 36, 20, 1, 1);
    printf("  DARTS_V2 %ld, DARTS_V1 %ld, PC_DARTS %ld, aux head %ld\n", v2, v1, pc, aux);
    CHECK(v2 == 3349342, "DARTS_V2: %ld weights, want 3,349,342", v2);
    CHECK(v1 == 3169414, "DARTS_V1: %ld weights, want 3,169,414", v1);
    CHECK(pc == 3634678, "PC_DARTS: %ld weights, the twin counts 3,634,678", pc);
    CHECK(aux == 476426, "aux head on 576 channels: %ld weights, want 476,426", aux);
    CHECK(darts_count("DARTS_V2", 36, 20, 0, 1) == 0, "an aux head without --auxiliary");
    /* Text and name give the same network. */
    const char *text = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
                       "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
                       "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
                       "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
                       "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";
    CHECK(darts_count(text, 36, 20, 0, 0) == 3349342, "DARTS_V2 as genotype text");
}

/* The twin's counts (tests/ref/make_darts_net_fixture.py, NB201Network, C 16, N 5, 10 classes),
 * then every row of the table's c10_params_M (millions, 6 decimals = exact counts) and a few
 * of c100_params_M. */
static void test_nb201_weight_counts(void) {
    static const struct { const char *arch; long n; } twin[] = {
        {"|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|", 129306},
        {"|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|", 1288506},
        {"|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", 73306},
        {"|nor_conv_1x1~0|+|none~0|avg_pool_3x3~1|+|nor_conv_3x3~0|none~1|skip_connect~2|", 344346},
    };
    for (size_t i = 0; i < sizeof twin / sizeof twin[0]; i++) {
        long n = nb201_count(twin[i].arch, 10);
        CHECK(n == twin[i].n, "%s: %ld weights, the twin counts %ld", twin[i].arch, n, twin[i].n);
    }
    char path[512];
    snprintf(path, sizeof path, "%s/nb201/nb201.csv", t_shared_data());
    FILE *f = fopen(path, "r");
    if (!f) SKIP_CASE("no NB201 table at %s (the twin's counts were checked)", path);
    fclose(f);
    dnas_nb201_table *t = NULL;
    dnas_status st = dnas_nb201_table_load(path, &t);
    CHECK(st == DNAS_OK, "table: %s", dnas_last_error());
    if (st != DNAS_OK) return;
    int bad = 0, checked = 0;
    for (int i = 0; i < DNAS_NB201_ARCHS; i++) {
        const dnas_nb201_row *r = NULL;
        if (dnas_nb201_table_get(t, i, &r) != DNAS_OK) {
            bad++;
            continue;
        }
        long want = lround(r->c10_params_m * 1e6), n = nb201_count(r->arch, 10);
        checked++;
        if (n != want && bad++ < 5) CHECK(0, "%s: %ld weights, table %ld", r->arch, n, want);
        if (i % 2000 == 0) {
            long w100 = lround(r->c100_params_m * 1e6), n100 = nb201_count(r->arch, 100);
            CHECK(n100 == w100, "%s, 100 classes: %ld weights, table %ld", r->arch, n100, w100);
        }
    }
    printf("  %d table rows checked, %d differ\n", checked, bad);
    CHECK(bad == 0 && checked == DNAS_NB201_ARCHS, "%d of %d rows differ", bad, checked);
    dnas_nb201_table_destroy(t);
}

/* ---- drop path -------------------------------------------------------------------------- */

/* |k - M q| <= 6 sqrt(M q (1 - q)) for k ~ Binomial(M, q): a correct generator fails one such
 * check with probability ~2e-9 (normal approximation, M >= 32768 here), so the ~40 checks
 * below have a false-alarm rate under 1e-7 for keys chosen at random (ours are fixed, so the
 * outcome is deterministic). A bias of 1% in keep (e.g. <= instead of <, or 23 bits) is
 * 7-17 sigma at these sizes. */
static int binom_ok(long k, long M, double q, const char *what) {
    double sd = sqrt(M * q * (1 - q)), z = (k - M * q) / sd;
    CHECK(fabs(z) <= 6.0, "%s: %ld of %ld, expected %.1f (z = %.2f)", what, k, M, M * q, z);
    return fabs(z) <= 6.0;
}

static void test_droppath_mask_frequencies(void) {
    enum { NS = 8192, NO = 8, STEPS = 4 };
    static const float ps[] = {0.1f, 0.2f, 0.5f, 0.8f};
    static float s[NO][STEPS][NS];
    double worst = 0;
    for (size_t pi = 0; pi < sizeof ps / sizeof ps[0]; pi++) {
        float p = ps[pi], keep = 1.0f - p, inv = 1.0f / keep;
        long kept = 0, lane[4] = {0}, both_o = 0, both_s = 0, other = 0;
        for (int o = 0; o < NO; o++)
            for (int st = 0; st < STEPS; st++) {
                dnas_status r = dnas_droppath_scales(0xABCDEF12345ull, 1000 + (uint64_t)st, o, NS, p, s[o][st]);
                CHECK(r == DNAS_OK, "scales: %s", dnas_last_error());
                for (int i = 0; i < NS; i++) {
                    kept += s[o][st][i] != 0;
                    lane[i % 4] += s[o][st][i] != 0;
                    other += s[o][st][i] != 0 && s[o][st][i] != inv;
                }
            }
        for (int o = 0; o + 1 < NO; o++)
            for (int i = 0; i < NS; i++) both_o += s[o][0][i] != 0 && s[o + 1][0][i] != 0;
        for (int st = 0; st + 1 < STEPS; st++)
            for (int i = 0; i < NS; i++) both_s += s[0][st][i] != 0 && s[0][st + 1][i] != 0;
        long M = (long)NO * STEPS * NS;
        char what[96];
        snprintf(what, sizeof what, "p %.1f: kept", (double)p);
        binom_ok(kept, M, keep, what);
        for (int l = 0; l < 4; l++) {
            snprintf(what, sizeof what, "p %.1f: kept in Philox word %d", (double)p, l);
            binom_ok(lane[l], M / 4, keep, what);
        }
        /* Streams of neighbouring nodes and steps are independent: both kept ~ keep^2. */
        snprintf(what, sizeof what, "p %.1f: kept in nodes k and k+1", (double)p);
        binom_ok(both_o, (long)(NO - 1) * NS, (double)keep * keep, what);
        snprintf(what, sizeof what, "p %.1f: kept at steps t and t+1", (double)p);
        binom_ok(both_s, (long)(STEPS - 1) * NS, (double)keep * keep, what);
        CHECK(other == 0, "p %.1f: %ld factors neither 0 nor 1/keep", (double)p, other);
        worst = fmax(worst, fabs(kept - M * (double)keep) / sqrt(M * (double)keep * p));
    }
    printf("  4 probabilities x %d draws, worst |z| of the totals %.2f\n", NO * STEPS * NS, worst);
    float t[4];
    CHECK(dnas_droppath_scales(1, 1, 0, 4, 1.0f, t) == DNAS_ERR_INVALID_ARG &&
          strstr(dnas_last_error(), "probability"), "p = 1 accepted: %s", dnas_last_error());
    CHECK(dnas_droppath_scales(1, (uint64_t)1 << 32, 0, 4, 0.2f, t) == DNAS_ERR_INVALID_ARG,
          "a step past the counter layout accepted");
}

/* x (N,4,1,1) -> drop path -> drop path -> linear -> xent: the linear keeps its input (the
 * second drop path's output) alive, so forward results can be read after the step. */
typedef struct {
    dnas_graph g;
    int x, d1, d2;
} dp_net;

static int dp_build(dp_net *t, int n) {
    dnas_graph *g = &t->g;
    dnas_graph_init(g, be);
    t->x = dnas_graph_input(g, dnas_shape4(n, 4, 1, 1));
    t->d1 = dnas_op_droppath(g, "dp1", t->x);
    t->d2 = dnas_op_droppath(g, "dp2", t->d1);
    dnas_op_xent(g, "loss", dnas_op_linear(g, "fc", t->d2, 3));
    dnas_status st = dnas_graph_plan(g);
    CHECK(st == DNAS_OK, "plan: %s", dnas_last_error());
    if (st != DNAS_OK) return 0;
    dnas_graph_init_weights(g, 11);
    dnas_rng r = dnas_rng_make(9, 2);
    for (int i = 0; i < n * 4; i++) g->vals[t->x].data[i] = dnas_rng_normal(&r);
    for (int i = 0; i < n; i++) g->labels[i] = i % 3;
    return 1;
}

static void test_droppath_op(void) {
    enum { N = 64 };
    dp_net a, b;
    if (!dp_build(&a, N)) return;
    if (!dp_build(&b, N)) {
        dnas_graph_free(&a.g);
        return;
    }
    float y1[N * 4], y2[N * 4], s1[N], s2[N];
    const float *x = a.g.vals[a.x].data;
    a.g.rng_key = b.g.rng_key = 77;
    a.g.rng_step = b.g.rng_step = 5;
    a.g.drop_prob = b.g.drop_prob = 0.3f;
    CHECK(dnas_graph_forward(&a.g) == DNAS_OK && dnas_graph_forward(&b.g) == DNAS_OK, "forward");
    /* Output = x scaled per sample by the factors of ordinals 0 and 1, bit for bit. */
    dnas_droppath_scales(77, 5, 0, N, 0.3f, s1);
    dnas_droppath_scales(77, 5, 1, N, 0.3f, s2);
    int exact = 1, dropped = 0;
    for (int i = 0; i < N * 4; i++) exact &= a.g.vals[a.d2].data[i] == (x[i] * s1[i / 4]) * s2[i / 4];
    for (int i = 0; i < N; i++) dropped += s1[i] == 0;
    CHECK(exact, "drop path output is not x * mask / keep of its ordinal's factors");
    CHECK(dropped > 5 && dropped < N - 5, "%d of %d dropped at p 0.3", dropped, N);
    CHECK(memcmp(s1, s2, sizeof s1) != 0, "two drop-path nodes drew the same mask");
    /* Same (key, step): the same masks, in another graph (a resumed run) and on a re-run. */
    CHECK(memcmp(a.g.vals[a.d2].data, b.g.vals[b.d2].data, sizeof y1) == 0, "same key and step, other masks");
    memcpy(y1, a.g.vals[a.d2].data, sizeof y1);
    CHECK(dnas_graph_forward(&a.g) == DNAS_OK && memcmp(y1, a.g.vals[a.d2].data, sizeof y1) == 0,
          "a re-run at the same step drew other masks");
    /* Another step or key: other masks. */
    a.g.rng_step = 6;
    CHECK(dnas_graph_forward(&a.g) == DNAS_OK, "forward");
    memcpy(y2, a.g.vals[a.d2].data, sizeof y2);
    CHECK(memcmp(y1, y2, sizeof y1) != 0, "step 5 and 6 drew the same masks");
    a.g.rng_step = 5;
    a.g.rng_key = 78;
    CHECK(dnas_graph_forward(&a.g) == DNAS_OK && memcmp(y1, a.g.vals[a.d2].data, sizeof y1) != 0,
          "keys 77 and 78 drew the same masks");
    /* Identity in eval mode and at p = 0 (bit for bit). */
    a.g.training = 0;
    CHECK(dnas_graph_forward(&a.g) == DNAS_OK && memcmp(x, a.g.vals[a.d2].data, sizeof y1) == 0,
          "drop path is not the identity in eval mode");
    a.g.training = 1;
    a.g.drop_prob = 0.0f;
    CHECK(dnas_graph_forward(&a.g) == DNAS_OK && memcmp(x, a.g.vals[a.d2].data, sizeof y1) == 0,
          "drop path is not the identity at p = 0");
    a.g.drop_prob = 1.0f;
    CHECK(dnas_graph_forward(&a.g) == DNAS_ERR_INVALID_ARG, "p = 1 accepted");
    /* A smaller last batch draws a prefix of the full batch's masks. */
    b.g.rng_key = 77;
    b.g.rng_step = 5;
    b.g.drop_prob = 0.3f;
    CHECK(dnas_graph_set_batch(&b.g, N / 2) == DNAS_OK && dnas_graph_forward(&b.g) == DNAS_OK,
          "half batch: %s", dnas_last_error());
    CHECK(memcmp(y1, b.g.vals[b.d2].data, sizeof y1 / 2) == 0, "the half batch drew other masks");
    dnas_graph_free(&a.g);
    dnas_graph_free(&b.g);
}

/* The fused node (dnas_op_droppath_add, what a DARTS network's nodes use) against droppath
 * nodes feeding an addition: the same streams, values within the fused multiply-add's
 * rounding, the same input gradients; for each drop pattern, and with both inputs one value
 * (skip_connect twice on one state). */
typedef struct {
    dnas_graph g;
    int x, y;
} dpa_net;

static int dpa_build(dpa_net *t, int fused, int da, int db, int same) {
    enum { N = 48, C = 24 };
    dnas_graph *g = &t->g;
    dnas_graph_init(g, be);
    t->x = dnas_graph_input(g, dnas_shape4(N, C, 1, 1));
    int a = t->x, b = same ? t->x : dnas_op_relu(g, "r", t->x);
    if (fused) {
        t->y = dnas_op_droppath_add(g, "node", a, da, b, db);
    } else {
        if (da) a = dnas_op_droppath(g, "dpa", a);
        if (db) b = dnas_op_droppath(g, "dpb", b);
        t->y = dnas_op_add(g, "node", a, b);
    }
    /* the linear layer reads y in its backward: y stays alive to be compared after the step */
    dnas_op_xent(g, "loss", dnas_op_linear(g, "fc", t->y, 3));
    dnas_status st = dnas_graph_plan(g);
    CHECK(st == DNAS_OK, "plan: %s", dnas_last_error());
    if (st != DNAS_OK) return 0;
    dnas_graph_init_weights(g, 21);
    dnas_rng r = dnas_rng_make(5, 8);
    for (int i = 0; i < N * C; i++) g->vals[t->x].data[i] = dnas_rng_normal(&r);
    for (int i = 0; i < N; i++) g->labels[i] = i % 3;
    g->rng_key = 99;
    g->rng_step = 12;
    g->drop_prob = 0.4f;
    return 1;
}

static void test_droppath_add_fused(void) {
    static const int cases[][3] = {{1, 1, 0}, {1, 0, 0}, {0, 1, 0}, {0, 0, 0}, {1, 1, 1}};
    for (int k = 0; k < 5; k++) {
        const int da = cases[k][0], db = cases[k][1], same = cases[k][2];
        dpa_net f, u;
        if (!dpa_build(&f, 1, da, db, same)) return;
        if (!dpa_build(&u, 0, da, db, same)) {
            dnas_graph_free(&f.g);
            return;
        }
        const unsigned wants = DNAS_WANT_WEIGHTS | DNAS_WANT_INPUTS;
        CHECK(dnas_graph_forward(&f.g) == DNAS_OK && dnas_graph_forward(&u.g) == DNAS_OK &&
                  dnas_graph_backward(&f.g, wants) == DNAS_OK &&
                  dnas_graph_backward(&u.g, wants) == DNAS_OK,
              "step: %s", dnas_last_error());
        const size_t ny = dnas_shape_numel(f.g.vals[f.y].shape);
        double ey = 0, eg = 0, gmax = 0;
        int zeros = 0;
        for (size_t i = 0; i < ny; i++) {
            float a = f.g.vals[f.y].data[i], b = u.g.vals[u.y].data[i];
            ey = fmax(ey, fabs(a - b) / fmax(fabs(b), 1e-3));
            zeros += b == 0.0f;
            float ga = f.g.vals[f.x].grad[i], gb = u.g.vals[u.x].grad[i];
            eg = fmax(eg, fabs(ga - gb));
            gmax = fmax(gmax, fabs(gb));
        }
        /* One rounding apart at most (the fused node may contract to a multiply-add). */
        CHECK(ey <= 2.5e-7, "case %d: fused node values %.3g from droppath + add", k, ey);
        CHECK(eg <= 1e-6 * gmax, "case %d: input gradient %.3g from droppath + add (max %.3g)", k,
              eg, gmax);
        if (da && db && !same) /* masks were drawn: some sample lost both inputs */
            CHECK(zeros > 0, "case %d: no sample dropped both inputs at p 0.4", k);
        dnas_graph_free(&f.g);
        dnas_graph_free(&u.g);
    }
}

/* Gradient check in double through the reference kernels, with the factors of a fixed mask
 * (dnas_droppath_scales): L(x) = xent(linear(gap(droppath(x)))), the drop path as a weighted
 * sum of one input per sample with its factor as weight; analytic vs central differences
 * (h 1e-6, relative error < 1e-6 as tests/unit/test_gradcheck.c). Then the float op in a
 * graph with the same x, weights, key and step: its loss and input gradient against the
 * double ones (float tolerance), and no gradient into dropped samples. */
enum { GN = 8, GC = 3, GH = 3, GW = 2, GK = 4 };
typedef struct {
    double x[GN * GH * GW * GC], w[GK * GC], b[GK], s[GN];
    int labels[GN];
} gc_ctx;

static double gc_loss(gc_ctx *c, double *dx) {
    size_t per = GH * GW * GC;
    double y[GN * GH * GW * GC], pooled[GN * GC], logits[GN * GK], probs[GN * GK], loss;
    int correct;
    dnas_shape xs = dnas_shape4(GN, GC, GH, GW);
    for (int i = 0; i < GN; i++) {
        const double *xi = c->x + i * per;
        dnas_ref_wsum_fwd(y + i * per, per, 1, &xi, &c->s[i]);
    }
    dnas_ref_gap_fwd(pooled, y, xs);
    dnas_ref_linear_fwd(logits, pooled, c->w, c->b, GN, GC, GK);
    dnas_ref_xent_fwd(probs, &loss, &correct, logits, c->labels, GN, GK);
    if (dx) {
        double dl[GN * GK], dp[GN * GC], dy[GN * GH * GW * GC];
        dnas_ref_xent_bwd(dl, probs, c->labels, GN, GK, 1.0);
        dnas_ref_linear_bwd(dp, 0, NULL, NULL, dl, pooled, c->w, GN, GC, GK);
        dnas_ref_gap_bwd(dy, 0, xs, dp);
        for (int i = 0; i < GN; i++) {
            double *dxi = dx + i * per;
            const double *xi = c->x + i * per;
            int acc = 0;
            dnas_ref_wsum_bwd(&dxi, &acc, NULL, per, 1, dy + i * per, &xi, &c->s[i]);
        }
    }
    return loss;
}

static void test_droppath_gradcheck(void) {
    gc_ctx c;
    float sf[GN];
    const uint64_t key = 4242, step = 3;
    const float p = 0.5f;
    dnas_droppath_scales(key, step, 0, GN, p, sf);
    int dropped = 0;
    for (int i = 0; i < GN; i++) {
        c.s[i] = sf[i];
        dropped += sf[i] == 0;
    }
    CHECK(dropped > 0 && dropped < GN, "the mask keeps all or none (%d dropped)", dropped);
    /* The float graph first: its weights and input, rounded to float, are the double ones. */
    dnas_graph g;
    dnas_graph_init(&g, be);
    int x = dnas_graph_input(&g, dnas_shape4(GN, GC, GH, GW));
    int d = dnas_op_droppath(&g, "dp", x);
    dnas_op_xent(&g, "loss", dnas_op_linear(&g, "fc", dnas_op_gap(&g, "gap", d), GK));
    dnas_status st = dnas_graph_plan(&g);
    CHECK(st == DNAS_OK, "plan: %s", dnas_last_error());
    if (st != DNAS_OK) return;
    dnas_graph_init_weights(&g, 5);
    dnas_rng r = dnas_rng_make(17, 1);
    size_t nx = (size_t)GN * GH * GW * GC;
    for (size_t i = 0; i < nx; i++) c.x[i] = g.vals[x].data[i] = dnas_rng_normal(&r);
    for (int i = 0; i < GN; i++) c.labels[i] = g.labels[i] = i % GK;
    for (int i = 0; i < GK * GC; i++) c.w[i] = g.w[g.params[0].off + i];
    for (int i = 0; i < GK; i++) c.b[i] = g.w[g.params[1].off + i];
    g.rng_key = key;
    g.rng_step = step;
    g.drop_prob = p;

    double ana[GN * GH * GW * GC], md = 0, mn = 0;
    double l0 = gc_loss(&c, ana);
    for (size_t i = 0; i < nx; i++) {
        double v = c.x[i];
        c.x[i] = v + 1e-6;
        double lp = gc_loss(&c, NULL);
        c.x[i] = v - 1e-6;
        double lm = gc_loss(&c, NULL);
        c.x[i] = v;
        double num = (lp - lm) / 2e-6;
        md = fmax(md, fabs(num - ana[i]));
        mn = fmax(mn, fabs(num));
    }
    double e = md / fmax(mn, 1e-8);
    printf("  double: worst rel err %.2e (max|grad| %.2e), %d of %d samples dropped\n", e, mn, dropped, GN);
    CHECK(e < 1e-6 && mn > 1e-6, "drop path gradient in double: rel err %.3e", e);

    st = dnas_graph_forward(&g);
    if (st == DNAS_OK) st = dnas_graph_backward(&g, DNAS_WANT_INPUTS);
    CHECK(st == DNAS_OK, "float step: %s", dnas_last_error());
    if (st == DNAS_OK) {
        double gd = 0, gm = 0;
        for (size_t i = 0; i < nx; i++) {
            gd = fmax(gd, fabs(g.vals[x].grad[i] - ana[i]));
            gm = fmax(gm, fabs(ana[i]));
        }
        double el = fabs(g.loss_value - l0) / l0;
        printf("  float op vs double: loss rel err %.2e, input gradient rel err %.2e\n", el, gd / gm);
        CHECK(el < 1e-6 && gd / gm < 1e-5, "float drop path: loss %.3g, gradient %.3g", el, gd / gm);
        int zero = 1;
        for (int i = 0; i < GN; i++)
            for (size_t k = 0; k < nx / GN && sf[i] == 0; k++) zero &= g.vals[x].grad[i * (nx / GN) + k] == 0;
        CHECK(zero, "a dropped sample got a gradient");
    }
    dnas_graph_free(&g);
}

/* ---- the auxiliary loss ------------------------------------------------------------------ */

/* DARTS_V2 at C 4, L 3 (reductions at cells 1 and 2, the aux head on cell 2's 8x8 output). */
static int small_darts(dnas_graph *g, float aux_weight, int batch) {
    dnas_graph_init(g, be);
    dnas_net_config c = {.batch = batch, .classes = 10, .image = 32, .channels = 4, .cells = 3,
                         .auxiliary = 1, .aux_weight = aux_weight, .drop_path = 1};
    dnas_status st = dnas_darts_build_net(g, &c, "DARTS_V2");
    if (st == DNAS_OK) st = dnas_graph_plan(g);
    CHECK(st == DNAS_OK, "build: %s", dnas_last_error());
    if (st != DNAS_OK) {
        dnas_graph_free(g);
        return 0;
    }
    dnas_graph_init_weights(g, 21);
    dnas_rng r = dnas_rng_make(23, 0);
    dnas_value *x = &g->vals[g->input];
    for (size_t i = 0; i < dnas_shape_numel(x->shape); i++) x->data[i] = dnas_rng_normal(&r);
    for (int i = 0; i < batch; i++) g->labels[i] = (int)dnas_rng_below(&r, 10);
    return 1;
}

static int node_named(const dnas_graph *g, const char *name) {
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i].name, name) == 0) return i;
    CHECK(0, "no node %s", name);
    return 0;
}

static int argmax(const float *v, int k) {
    int b = 0;
    for (int j = 1; j < k; j++)
        if (v[j] > v[b]) b = j;
    return b;
}

static void test_aux_loss_and_accuracy(void) {
    enum { N = 8, K = 10 };
    dnas_graph g;
    if (!small_darts(&g, 0.4f, N)) return;
    int main_n = node_named(&g, "loss"), aux_n = node_named(&g, "auxiliary_loss");
    int n_train_only = 0, wrong_flag = 0;
    for (int i = 0; i < g.n_nodes; i++) {
        int is_aux = strncmp(g.nodes[i].name, "auxiliary_", 10) == 0;
        n_train_only += g.nodes[i].train_only;
        wrong_flag += is_aux != g.nodes[i].train_only;
    }
    /* ReLU, avg pool, conv, BN+ReLU (one node on the CPU), conv, BN+ReLU, linear, loss: 8 */
    CHECK(wrong_flag == 0 && n_train_only >= 8, "training-only flags: %d nodes, %d wrong",
          n_train_only, wrong_flag);
    g.drop_prob = 0.2f;
    g.rng_key = 3;
    CHECK(dnas_graph_forward(&g) == DNAS_OK, "forward: %s", dnas_last_error());
    float lm = g.vals[g.nodes[main_n].out].data[0], la = g.vals[g.nodes[aux_n].out].data[0];
    double want = lm + 0.4 * (double)la;
    printf("  main %.6f + 0.4 * aux %.6f = %.6f, total %.6f\n", lm, la, want, g.loss_value);
    CHECK(fabs(g.loss_value - want) <= 1e-6 * want, "total loss %.9g, main + 0.4 aux = %.9g",
          g.loss_value, want);
    /* Labels = the auxiliary head's argmax, so the two heads' accuracies differ. */
    int lab[N], same = 0;
    for (int i = 0; i < N; i++) {
        lab[i] = argmax(g.nodes[aux_n].scratch + i * K, K); /* aux probabilities */
        same += lab[i] == argmax(g.vals[g.logits].data + i * K, K);
        g.labels[i] = lab[i];
    }
    CHECK(same < N, "both heads agree on every sample: the accuracy check would be vacuous");
    CHECK(dnas_graph_forward(&g) == DNAS_OK, "forward: %s", dnas_last_error());
    CHECK(g.correct == same, "g->correct %d: the main head gets %d right, the auxiliary one %d",
          g.correct, same, N);

    /* Eval: the auxiliary nodes do not run (their saved buffers keep a sentinel), the loss is
     * the main loss, the accuracy the main head's. */
    for (int i = 0; i < g.n_nodes; i++)
        if (g.nodes[i].train_only)
            for (size_t j = 0; j < g.nodes[i].scratch_n; j++) g.nodes[i].scratch[j] = -7.0f;
    g.training = 0;
    CHECK(dnas_graph_forward(&g) == DNAS_OK, "eval forward: %s", dnas_last_error());
    int untouched = 1, correct = 0;
    for (int i = 0; i < g.n_nodes; i++)
        if (g.nodes[i].train_only)
            for (size_t j = 0; j < g.nodes[i].scratch_n; j++) untouched &= g.nodes[i].scratch[j] == -7.0f;
    for (int i = 0; i < N; i++) correct += argmax(g.vals[g.logits].data + i * K, K) == lab[i];
    CHECK(untouched, "an auxiliary node ran in eval mode");
    CHECK(g.loss_value == g.vals[g.nodes[main_n].out].data[0], "eval loss %.9g is not the main loss %.9g",
          g.loss_value, g.vals[g.nodes[main_n].out].data[0]);
    CHECK(g.correct == correct, "eval g->correct %d, main head %d", g.correct, correct);
    /* Training again runs them. */
    g.training = 1;
    CHECK(dnas_graph_forward(&g) == DNAS_OK && g.nodes[aux_n].scratch[0] != -7.0f,
          "the auxiliary head did not run in training");
    /* A smaller last batch: the loss values stay scalars. */
    CHECK(dnas_graph_set_batch(&g, 5) == DNAS_OK, "set_batch: %s", dnas_last_error());
    dnas_status st = dnas_graph_forward(&g);
    if (st == DNAS_OK) st = dnas_graph_backward(&g, DNAS_WANT_WEIGHTS);
    CHECK(st == DNAS_OK && isfinite(g.loss_value), "batch 5: %s", dnas_last_error());
    CHECK(g.vals[g.loss].shape.n == 1 && g.vals[g.nodes[aux_n].out].shape.n == 1 &&
          g.vals[g.nodes[main_n].out].shape.n == 1, "a loss value was resized with the batch");
    dnas_graph_free(&g);
}

/* d total / d w = d main / d w + a * d aux / d w: gradients at a = 0.4 equal 0.6 * (a = 0) +
 * 0.4 * (a = 1) per tensor (float tolerance), and at a = 0 the auxiliary head gets none. */
static void test_aux_gradient_weighting(void) {
    dnas_graph g[3];
    const float a[3] = {0.0f, 0.4f, 1.0f};
    int ok = 1;
    for (int k = 0; k < 3; k++) {
        if (!small_darts(&g[k], a[k], 4)) {
            for (int j = 0; j < k; j++) dnas_graph_free(&g[j]);
            return;
        }
        dnas_status st = dnas_graph_forward(&g[k]);
        dnas_graph_zero_grads(&g[k], DNAS_WANT_WEIGHTS);
        if (st == DNAS_OK) st = dnas_graph_backward(&g[k], DNAS_WANT_WEIGHTS);
        CHECK(st == DNAS_OK, "step: %s", dnas_last_error());
        ok &= st == DNAS_OK;
    }
    double worst = 0;
    int aux_zero = 1;
    for (int i = 0; ok && i < g[0].n_params; i++) {
        dnas_param *p = &g[0].params[i];
        size_t n = dnas_shape_numel(p->shape);
        const float *g0 = g[0].gw + p->off, *g4 = g[1].gw + p->off, *g1 = g[2].gw + p->off;
        double md = 0, mx = 0;
        for (size_t j = 0; j < n; j++) {
            double lin = 0.6 * g0[j] + 0.4 * g1[j];
            md = fmax(md, fabs(g4[j] - lin));
            mx = fmax(mx, fabs(lin));
        }
        double e = md / fmax(mx, 1e-12);
        if (strncmp(p->name, "auxiliary_head.", 15) == 0)
            for (size_t j = 0; j < n; j++) aux_zero &= g0[j] == 0.0f;
        worst = fmax(worst, e);
        /* float rounding through BN: measured 3.4e-5 (SAN=1), 2.1e-5 (default), 2.7e-5
         * (ARCH=x86-64 NO_OMP=1) */
        CHECK(e < 2e-4, "%s: gradient at 0.4 vs the linear combination: rel err %.3g", p->name, e);
    }
    printf("  %d tensors, worst rel err %.2e\n", g[0].n_params, worst);
    CHECK(aux_zero, "the auxiliary head got a gradient at weight 0");
    for (int k = 0; k < 3; k++) dnas_graph_free(&g[k]);
}

/* ---- errors ------------------------------------------------------------------------------- */
/* The fused nodes (BN+ReLU, concat+ReLU) against the same network on a backend that offers
 * neither (separate ReLU nodes, as the CUDA backend builds it): DARTS_V2 at C 4, L 5 (the
 * auxiliary head on cell 3, not the last, so it reads a fused concat+ReLU), drop path on.
 * A ReLU's max and mask are exact, so loss and every gradient must agree bit for bit. */
static int plain_supports(const dnas_backend *b, dnas_kernel_kind k) {
    (void)b;
    return (int)k >= 0 && k < DNAS_K_COUNT && k != DNAS_K_BN_RELU && k != DNAS_K_CONCAT_RELU;
}

static void test_fused_relus_match_plain(void) {
    dnas_backend plain = *be; /* the same kernels; only `supports` differs */
    plain.supports = plain_supports;
    dnas_graph g[2];
    int fused_nodes[2] = {0, 0};
    for (int v = 0; v < 2; v++) {
        dnas_graph_init(&g[v], v ? &plain : be);
        dnas_net_config c = {.batch = 4, .classes = 10, .image = 32, .channels = 4, .cells = 5,
                             .auxiliary = 1, .aux_weight = 0.4f, .drop_path = 1};
        dnas_status st = dnas_darts_build_net(&g[v], &c, "DARTS_V2");
        if (st == DNAS_OK) st = dnas_graph_plan(&g[v]);
        CHECK(st == DNAS_OK, "build %d: %s", v, dnas_last_error());
        if (st != DNAS_OK) return;
        for (int i = 0; i < g[v].n_nodes; i++)
            fused_nodes[v] += !strcmp(g[v].nodes[i].op->name, "concat_relu") ||
                              !strcmp(g[v].nodes[i].op->name, "batchnorm_relu");
        dnas_graph_init_weights(&g[v], 31);
        dnas_rng r = dnas_rng_make(33, 0);
        dnas_value *x = &g[v].vals[g[v].input];
        for (size_t i = 0; i < dnas_shape_numel(x->shape); i++) x->data[i] = dnas_rng_normal(&r);
        for (int i = 0; i < 4; i++) g[v].labels[i] = (int)dnas_rng_below(&r, 10);
        g[v].drop_prob = 0.2f;
        g[v].rng_key = 5;
        st = dnas_graph_forward(&g[v]);
        if (st == DNAS_OK) st = dnas_graph_backward(&g[v], DNAS_WANT_WEIGHTS);
        CHECK(st == DNAS_OK, "step %d: %s", v, dnas_last_error());
    }
    printf("  fused nodes: %d with the fusions, %d without; nodes %d vs %d\n", fused_nodes[0],
           fused_nodes[1], g[0].n_nodes, g[1].n_nodes);
    CHECK(fused_nodes[0] > 0 && fused_nodes[1] == 0, "fusion not exercised (%d / %d)",
          fused_nodes[0], fused_nodes[1]);
    CHECK(g[0].n_params == g[1].n_params && g[0].n_weights == g[1].n_weights,
          "the two networks have different parameters");
    CHECK(g[0].loss_value == g[1].loss_value, "loss %.9g fused, %.9g plain", g[0].loss_value,
          g[1].loss_value);
    if (g[0].n_weights == g[1].n_weights)
        CHECK(!memcmp(g[0].gw, g[1].gw, g[0].n_weights * sizeof *g[0].gw),
              "weight gradients differ between fused and plain networks");
    dnas_graph_free(&g[0]);
    dnas_graph_free(&g[1]);
}

static void test_errors(void) {
    dnas_graph g;
    dnas_net_config c = {.batch = 2, .classes = 10, .image = 16, .channels = 4, .cells = 3, .auxiliary = 1,
                         .aux_weight = 0.4f};
    dnas_graph_init(&g, be);
    CHECK(dnas_darts_build_net(&g, &c, "DARTS_V2") == DNAS_ERR_INVALID_ARG &&
          strstr(dnas_last_error(), "auxiliary head"), "aux head on 4x4: %s", dnas_last_error());
    dnas_graph_free(&g);
    c.image = 32;
    dnas_graph_init(&g, be);
    CHECK(dnas_darts_build_net(&g, &c, "DARTS_V9") == DNAS_ERR_INVALID_ARG &&
          strstr(dnas_last_error(), "DARTS_V9"), "unknown cell: %s", dnas_last_error());
    dnas_graph_free(&g);
    c.image = 30;
    dnas_graph_init(&g, be);
    CHECK(dnas_darts_build_net(&g, &c, "DARTS_V2") == DNAS_ERR_INVALID_ARG &&
          strstr(dnas_last_error(), "multiple of 4"), "image 30: %s", dnas_last_error());
    dnas_graph_free(&g);
    dnas_net_config n = {.batch = 2, .classes = 10, .image = 32, .auxiliary = 1};
    dnas_graph_init(&g, be);
    CHECK(dnas_nb201_build_net(&g, &n, "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|") ==
          DNAS_ERR_INVALID_ARG && strstr(dnas_last_error(), "auxiliary"), "NB201 + aux: %s", dnas_last_error());
    dnas_graph_free(&g);
    n.auxiliary = 0;
    dnas_graph_init(&g, be);
    CHECK(dnas_nb201_build_net(&g, &n, "|conv~0|") == DNAS_ERR_INVALID_ARG, "bad arch accepted");
    dnas_graph_free(&g);
    dnas_graph_init(&g, be);
    int x = dnas_graph_input(&g, dnas_shape4(2, 3, 4, 4));
    CHECK(dnas_op_loss_sum(&g, "sum", x, 0.4f) < 0 && g.build_status == DNAS_ERR_INTERNAL,
          "a loss sum without a main loss was built");
    dnas_graph_free(&g);
}

int main(void) {
    if (dnas_backend_cpu_create(2, &be) != DNAS_OK) {
        printf("FAIL backend: %s\n", dnas_last_error());
        return 1;
    }
    RUN(test_darts_weight_counts);
    RUN(test_nb201_weight_counts);
    RUN(test_droppath_mask_frequencies);
    RUN(test_droppath_op);
    RUN(test_droppath_add_fused);
    RUN(test_droppath_gradcheck);
    RUN(test_aux_loss_and_accuracy);
    RUN(test_aux_gradient_weighting);
    RUN(test_fused_relus_match_plain);
    RUN(test_errors);
    dnas_backend_destroy(be);
    TEST_EXIT();
}
