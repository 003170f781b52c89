/* PC-DARTS (ALGORITHMS.md §B7) against known answers:
 *  - the channel shuffle op on a hand example (which concat channel lands where), and its
 *    backward as the exact adjoint: central differences on integer data in double, for the
 *    overwrite and the accumulate paths;
 *  - the partial-channel edge of the DARTS supernet: slices of the first C/K channels and of
 *    the rest, the bypass max-pooled 2x2 stride 2 on reduction edges only, shuffled with K
 *    groups; the mixed ops are C/K wide;
 *  - pc_k = 1 without edge normalisation is today's graph bit for bit (NB201 and DARTS);
 *    edge normalisation with every edge weight 1 gives the plain sum;
 *  - the edge weights' (beta's) gradient against finite differences of the loss;
 *  - the weight count of the C=16 L=8 PC-DARTS supernet against the PyTorch twin's. */
#include "test.h"
#include "core/rng.h"
#include "ops/ops.h"
#include "search/search.h"
#include "space/darts.h"
#include "space/supernet.h"

/* ---- the shuffle op ------------------------------------------------------------------------ */

enum { SN = 2, SC = 8, SH = 3, SW = 2, SCP = 2, SG = 4 };

typedef struct {
    dnas_graph g;
    dnas_backend *be;
    int a, b, y, node;
} shuf_graph;

/* x -> a = x[:, :2], b = x[:, 2:] -> y = shuffle(cat(a, b), 4); weighted sums that save a, b
 * and y keep their buffers apart and alive, so the op's fwd/bwd can be called on them. */
static int shuf_build(shuf_graph *s) {
    if (dnas_backend_cpu_create(1, &s->be) != DNAS_OK) return 0;
    dnas_graph *g = &s->g;
    dnas_graph_init(g, s->be);
    int x = dnas_graph_input(g, dnas_shape4(SN, SC, SH, SW));
    s->a = dnas_op_slice(g, "a", x, 0, SCP);
    s->b = dnas_op_slice(g, "b", x, SCP, SC - SCP);
    int ab[2] = {s->a, s->b};
    s->y = dnas_op_shuffle(g, "shuffle", ab, 2, SG);
    s->node = g->vals[s->y].producer;
    int ka = dnas_op_wsum(g, "ka", &s->a, NULL, 1), kb = dnas_op_wsum(g, "kb", &s->b, NULL, 1);
    int kab[2] = {ka, kb};
    int z = dnas_op_add(g, "z", dnas_op_concat(g, "cat", kab, 2), dnas_op_wsum(g, "ky", &s->y, NULL, 1));
    dnas_op_xent(g, "loss", dnas_op_linear(g, "fc", dnas_op_gap(g, "gap", z), 2));
    if (dnas_graph_plan(g) != DNAS_OK) return 0;
    dnas_graph_init_weights(g, 1);
    return 1;
}

static void shuf_free(shuf_graph *s) {
    dnas_graph_free(&s->g);
    if (s->be) dnas_backend_destroy(s->be);
}

static void test_shuffle_hand_example(void) {
    shuf_graph s = {0};
    CHECK(shuf_build(&s), "build: %s", dnas_last_error());
    if (!s.be) return;
    dnas_graph *g = &s.g;
    float *x = g->vals[g->input].data;
    const int npix = SN * SH * SW;
    for (int p = 0; p < npix; p++)
        for (int c = 0; c < SC; c++) x[p * SC + c] = (float)(100 * p + c);
    CHECK(dnas_graph_forward(g) == DNAS_OK, "forward: %s", dnas_last_error());
    /* cat = [a0 a1 | b0..b5] = input channels 0..7; view (4 groups, 2) -> transpose: output
     * channel j*4 + g holds cat channel g*2 + j, so the two mixed channels land at 0 and 4. */
    static const int want[SC] = {0, 2, 4, 6, 1, 3, 5, 7};
    const float *y = g->vals[s.y].data;
    for (int p = 0; p < npix; p++)
        for (int o = 0; o < SC; o++)
            CHECK(y[p * SC + o] == (float)(100 * p + want[o]), "pixel %d channel %d: %g", p, o,
                  (double)y[p * SC + o]);
    shuf_free(&s);
}

/* L(a, b) = sum(y * r) is linear, so central differences with h = 1 on integer data are exact
 * in double: the backward must equal them exactly. */
static void test_shuffle_gradcheck_double(void) {
    shuf_graph s = {0};
    CHECK(shuf_build(&s), "build: %s", dnas_last_error());
    if (!s.be) return;
    dnas_graph *g = &s.g;
    dnas_node *n = &g->nodes[s.node];
    dnas_rng rng = dnas_rng_make(5, 1);
    const int npix = SN * SH * SW;
    float *x = g->vals[g->input].data, *r = g->vals[s.y].grad;
    for (int i = 0; i < npix * SC; i++) x[i] = (float)((int)dnas_rng_below(&rng, 17) - 8);
    CHECK(dnas_graph_forward(g) == DNAS_OK, "forward: %s", dnas_last_error());
    for (int i = 0; i < npix * SC; i++) r[i] = (float)((int)dnas_rng_below(&rng, 9) - 4);
    float *in[2] = {g->vals[s.a].data, g->vals[s.b].data};
    float *gin[2] = {g->vals[s.a].grad, g->vals[s.b].grad};
    int cin[2] = {SCP, SC - SCP};
    g->vals[s.a].needs_grad = g->vals[s.b].needs_grad = 1;
    n->acc[0] = n->acc[1] = 0;
    CHECK(n->op->backward(g, n, 0) == DNAS_OK, "backward");
    double worst = 0.0;
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < npix * cin[t]; i++) {
            double L[2];
            float v = in[t][i];
            for (int sgn = 0; sgn < 2; sgn++) {
                in[t][i] = v + (sgn ? -1.0f : 1.0f);
                n->op->forward(g, n);
                L[sgn] = 0.0;
                for (int k = 0; k < npix * SC; k++)
                    L[sgn] += (double)g->vals[s.y].data[k] * (double)r[k];
            }
            in[t][i] = v;
            double fd = (L[0] - L[1]) / 2.0;
            worst = fmax(worst, fabs(fd - (double)gin[t][i]));
        }
    printf("  shuffle gradcheck: max |fd - backward| = %.3g\n", worst);
    CHECK(worst == 0.0, "shuffle backward differs from finite differences by %g", worst);
    /* acc = 1 adds: a second backward doubles the gradient. */
    float g0 = gin[1][3];
    n->acc[1] = 1;
    n->op->backward(g, n, 0);
    CHECK(gin[1][3] == 2.0f * g0, "accumulate: %g, expected %g", (double)gin[1][3], 2.0 * g0);
    shuf_free(&s);
}

/* ---- the partial-channel supernets ----------------------------------------------------------- */

static dnas_supernet *make_net(const char *space, int C, int L, int K, int edge_norm) {
    dnas_supernet_config c;
    dnas_supernet_config_default(&c);
    c.space = space;
    c.channels = C;
    c.cells = L;
    c.batch = 2;
    c.image = 8;
    c.pc_k = K;
    c.edge_norm = edge_norm;
    dnas_supernet *s = NULL;
    if (dnas_supernet_create(&c, &s) != DNAS_OK) printf("  create: %s\n", dnas_last_error());
    return s;
}

static int find_node(const dnas_graph *g, const char *name) {
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i].name, name) == 0) return i;
    return -1;
}

static int producer_of(const dnas_graph *g, int node, int input) {
    return g->vals[g->nodes[node].in[input]].producer;
}

/* C = 8, L = 3: cell 0 normal (8 channels), cells 1 and 2 reduction (16, 32 channels). */
static void test_partial_channel_edges(void) {
    dnas_supernet *s = make_net("darts", 8, 3, 4, 1);
    CHECK(s != NULL, "PC supernet");
    if (!s) return;
    const dnas_graph *g = &s->g;
    static const struct { int cell, edge, C, stride; } cases[] = {
        {0, 0, 8, 1}, {0, 13, 8, 1}, {1, 0, 16, 2}, {1, 1, 16, 2}, {1, 2, 16, 2}, {1, 4, 16, 1},
        {2, 4, 32, 1}, {2, 12, 32, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int cell = cases[i].cell, e = cases[i].edge, C = cases[i].C, cp = C / 4;
        int state = e < 2 ? e : e < 5 ? e - 2 : e < 9 ? e - 5 : e - 9;
        char name[64];
        snprintf(name, sizeof name, "cells.%d._ops.%d.shuffle", cell, e);
        int sh = find_node(g, name);
        CHECK(sh >= 0, "no node %s", name);
        if (sh < 0) continue;
        const dnas_node *n = &g->nodes[sh];
        CHECK(n->n_in == 2 && n->a.slice.count == 4, "%s: %d inputs, %d groups", name, n->n_in,
              n->a.slice.count);
        dnas_shape ya = g->vals[n->in[0]].shape, yb = g->vals[n->in[1]].shape;
        int hw = 8 >> cell; /* each reduction cell halves the 8x8 input */
        CHECK(ya.c == cp && ya.h == hw, "%s: mixed part %d ch %d px, expected %d ch %d px", name,
              ya.c, ya.h, cp, hw);
        CHECK(yb.c == C - cp && yb.h == hw, "%s: bypass %d ch %d px", name, yb.c, yb.h);
        /* The bypass: the slice [cp, C) of the state, max-pooled 2x2/2 on stride-2 edges. */
        int bp = producer_of(g, sh, 1);
        if (cases[i].stride == 2) {
            snprintf(name, sizeof name, "cells.%d.mp%d", cell, state);
            CHECK(bp >= 0 && strcmp(g->nodes[bp].name, name) == 0, "bypass of edge %d is %s", e,
                  bp >= 0 ? g->nodes[bp].name : "input");
            if (bp < 0) continue;
            CHECK(g->nodes[bp].a.pool.k == 2 && g->nodes[bp].a.pool.stride == 2 &&
                  g->nodes[bp].a.pool.pad == 0, "%s: not a 2x2 stride-2 max pool", name);
            bp = producer_of(g, bp, 0);
        }
        snprintf(name, sizeof name, "cells.%d.bypass%d", cell, state);
        CHECK(bp >= 0 && strcmp(g->nodes[bp].name, name) == 0, "bypass slice of edge %d", e);
        if (bp >= 0)
            CHECK(g->nodes[bp].a.slice.off == cp && g->nodes[bp].a.slice.count == C - cp,
                  "%s: [%d, +%d)", name, g->nodes[bp].a.slice.off, g->nodes[bp].a.slice.count);
        /* The ops: e.g. sep_conv_3x3's first depthwise conv is C/K wide and reads the ReLU of
         * the slice [0, cp). */
        snprintf(name, sizeof name, "cells.%d._ops.%d._ops.4.op.1", cell, e);
        int cv = find_node(g, name);
        CHECK(cv >= 0 && g->vals[g->nodes[cv].out].shape.c == cp, "%s width", name);
        if (cv < 0) continue;
        int rl = producer_of(g, cv, 0), sl = rl >= 0 ? producer_of(g, rl, 0) : -1;
        snprintf(name, sizeof name, "cells.%d.part%d", cell, state);
        CHECK(sl >= 0 && strcmp(g->nodes[sl].name, name) == 0 && g->nodes[sl].a.slice.off == 0 &&
              g->nodes[sl].a.slice.count == cp, "ops of edge %d do not read %s", e, name);
    }
    dnas_supernet_destroy(s);
}

static void fill_input(dnas_supernet *s, uint64_t seed) {
    dnas_graph *g = &s->g;
    dnas_rng r = dnas_rng_make(seed, 2);
    float *x = g->vals[g->input].data;
    for (size_t i = 0; i < dnas_shape_numel(g->vals[g->input].shape); i++) x[i] = dnas_rng_normal(&r);
    for (int i = 0; i < g->batch; i++) g->labels[i] = i % 10;
    for (int i = 0; i < g->n_mix; i++) g->mix[i] = 0.05f + 0.01f * (float)(i % 7);
}

/* One step's loss and weight gradient. */
static float loss_and_grad(dnas_supernet *s, float *gw) {
    dnas_graph *g = &s->g;
    if (dnas_graph_forward(g) != DNAS_OK) return NAN;
    dnas_graph_zero_grads(g, DNAS_WANT_WEIGHTS);
    if (dnas_graph_backward(g, DNAS_WANT_WEIGHTS) != DNAS_OK) return NAN;
    if (gw) memcpy(gw, g->gw, g->n_weights * sizeof(float));
    return g->loss_value;
}

/* pc_k = 1 (and 0, the zeroed config) without edge normalisation builds today's supernet:
 * same nodes and weights, same loss and gradient bit for bit. */
static void test_pc_k1_is_the_plain_supernet(void) {
    const char *spaces[2] = {"nb201", "darts"};
    for (int sp = 0; sp < 2; sp++) {
        int C = sp ? 4 : 4, L = sp ? 3 : 1;
        dnas_supernet *ref = make_net(spaces[sp], C, L, 0, 0), *pc = make_net(spaces[sp], C, L, 1, 0);
        CHECK(ref && pc, "%s supernets", spaces[sp]);
        if (!ref || !pc) continue;
        CHECK(ref->g.n_weights == pc->g.n_weights && ref->g.n_nodes == pc->g.n_nodes &&
              ref->g.n_mix == pc->g.n_mix, "%s: %zu/%zu weights, %d/%d nodes", spaces[sp],
              ref->g.n_weights, pc->g.n_weights, ref->g.n_nodes, pc->g.n_nodes);
        fill_input(ref, 3);
        fill_input(pc, 3);
        size_t nw = ref->g.n_weights;
        float *g1 = malloc(nw * sizeof(float)), *g2 = malloc(nw * sizeof(float));
        float l1 = loss_and_grad(ref, g1), l2 = loss_and_grad(pc, g2);
        CHECK(memcmp(&l1, &l2, sizeof l1) == 0 && memcmp(g1, g2, nw * sizeof(float)) == 0,
              "%s: loss %.9g vs %.9g or gradients differ", spaces[sp], (double)l1, (double)l2);
        /* Edge normalisation with every edge weight 1 is the plain sum (other summation
         * order: equal to rounding). */
        dnas_supernet *en = make_net(spaces[sp], C, L, 1, 1);
        CHECK(en != NULL, "%s edge-norm supernet", spaces[sp]);
        if (en) {
            int n_arch = ref->g.n_mix;
            CHECK(en->g.n_mix == n_arch + n_arch / ref->space->cols, "%s: %d mixing weights",
                  spaces[sp], en->g.n_mix);
            CHECK(en->g.n_weights == nw, "%s: edge norm adds weights", spaces[sp]);
            fill_input(en, 3);
            for (int i = n_arch; i < en->g.n_mix; i++) en->g.mix[i] = 1.0f;
            float l3 = loss_and_grad(en, NULL);
            printf("  %s: plain %.9g, edge-norm with beta 1 %.9g\n", spaces[sp], (double)l1, (double)l3);
            CHECK(fabsf(l3 - l1) < 1e-5f * fabsf(l1), "%s: %.9g vs %.9g", spaces[sp], (double)l3, (double)l1);
            dnas_supernet_destroy(en);
        }
        free(g1);
        free(g2);
        dnas_supernet_destroy(ref);
        dnas_supernet_destroy(pc);
    }
}

/* ---- the strategy -------------------------------------------------------------------------- */

static dnas_search *pc_search(const char *space, int C, int L) {
    dnas_search_config c;
    dnas_search_config_default(&c, "pcdarts");
    snprintf(c.space, sizeof c.space, "%s", space);
    c.channels = C;
    c.cells = L;
    c.batch = 4;
    c.image = 8;
    c.threads = 1;
    dnas_search *s = NULL;
    if (dnas_search_create(&c, &s) != DNAS_OK) printf("  create: %s\n", dnas_last_error());
    return s;
}

static void make_batch(dnas_data_batch *b, float *x, int *y, int n, int image, uint64_t seed) {
    dnas_rng r = dnas_rng_make(seed, 4);
    for (int i = 0; i < n * 3 * image * image; i++) x[i] = dnas_rng_normal(&r);
    for (int i = 0; i < n; i++) y[i] = (int)dnas_rng_below(&r, 10);
    b->x = x;
    b->y = y;
    b->n = n;
}

static double batch_loss(dnas_search *s, const dnas_data_batch *b) {
    dnas_search_set_batch(s, b);
    dnas_search_mix(s);
    dnas_graph_forward(s->g);
    return s->g->loss_value;
}

/* d L / d beta from mix_backward against central differences of the loss (float, h = 1e-3 on
 * beta values of order 1, ReLU patterns frozen). Measured: NB201 1.3e-3, DARTS 1.1e-2 of the
 * largest gradient (max pools' kinks are not frozen; float loss differences); bound 4e-2. */
static void beta_gradcheck(const char *space, int C, int L) {
    dnas_search *s = pc_search(space, C, L);
    CHECK(s != NULL, "%s search", space);
    if (!s) return;
    size_t na = (size_t)s->space->groups * s->space->rows * s->space->cols, nb = s->n_alpha - na;
    CHECK(nb == (size_t)s->space->groups * s->space->rows, "%s: %zu edge weights", space, nb);
    dnas_rng r = dnas_rng_make(9, 9);
    for (size_t i = 0; i < s->n_alpha; i++) s->alpha[i] = dnas_rng_normal(&r);
    float x[4 * 3 * 8 * 8];
    int y[4];
    dnas_data_batch b;
    make_batch(&b, x, y, 4, 8, 17);
    /* ReLU on/off patterns frozen at the base point (graph.h): differences then stay on one
     * linear piece instead of jumping across kinks. */
    dnas_graph_set_kinks(s->g, DNAS_KINKS_RECORD);
    CHECK(dnas_search_fwd_bwd(s, &b, DNAS_WANT_ARCH, NULL) == DNAS_OK, "fwd/bwd: %s", dnas_last_error());
    dnas_search_mix_backward(s);
    dnas_graph_set_kinks(s->g, DNAS_KINKS_FROZEN);
    float *ga = malloc(s->n_alpha * sizeof(float));
    memcpy(ga, s->galpha, s->n_alpha * sizeof(float));
    double worst = 0.0, scale = 0.0;
    const float h = 1e-3f;
    for (size_t e = 0; e < nb; e++) {
        float *p = &s->alpha[na + e], v = *p;
        *p = v + h;
        double lp = batch_loss(s, &b);
        *p = v - h;
        double lm = batch_loss(s, &b);
        *p = v;
        double fd = (lp - lm) / (2.0 * h);
        worst = fmax(worst, fabs(fd - ga[na + e]));
        scale = fmax(scale, fabs(fd));
    }
    /* A node with one incoming edge (NB201 node 1) has softmax 1: gradient exactly 0. */
    if (strcmp(space, "nb201") == 0) CHECK(ga[na] == 0.0f, "single-edge node: %g", (double)ga[na]);
    printf("  %s beta gradcheck: max |fd - analytic| = %.3g, max |grad| = %.3g\n", space, worst, scale);
    CHECK(scale > 1e-4, "%s: beta gradients vanish (%g)", space, scale);
    CHECK(worst < 4e-2 * scale, "%s: beta gradient error %.3g of %.3g", space, worst, scale);
    free(ga);
    dnas_search_destroy(s);
}

static void test_beta_gradient_nb201(void) { beta_gradcheck("nb201", 8, 1); }
static void test_beta_gradient_darts(void) { beta_gradcheck("darts", 8, 3); }

/* weights() = softmax(alpha) row x softmax(beta) of its edge; the warm-up leaves alpha and
 * beta alone for --warmup-epochs, then steps both. */
static void test_weights_and_warmup(void) {
    dnas_search *s = pc_search("darts", 8, 3);
    CHECK(s != NULL, "search");
    if (!s) return;
    const dnas_space *sp = s->space;
    size_t na = (size_t)sp->groups * sp->rows * sp->cols;
    dnas_rng r = dnas_rng_make(2, 2);
    for (size_t i = 0; i < s->n_alpha; i++) s->alpha[i] = dnas_rng_normal(&r);
    float w[DNAS_MAX_ARCH], ew[DNAS_MAX_ARCH];
    dnas_search_weights(s, w);
    CHECK(dnas_pcdarts_edge_weights(s, ew) == 1, "edge weights");
    /* reduce cell, node 2 (edges 5..8): its edge weights sum to 1 */
    double sum = 0;
    for (int e = 5; e < 9; e++) sum += ew[sp->rows + e];
    CHECK(fabs(sum - 1.0) < 1e-6, "node edge weights sum to %g", sum);
    int row = sp->rows + 6, k = DNAS_DARTS_SEP_CONV_3X3;
    const float *a = s->alpha + row * sp->cols;
    double z = 0;
    for (int j = 0; j < 8; j++) z += exp(a[j]);
    double want = exp(a[k]) / z * ew[row];
    CHECK(fabs(w[row * sp->cols + k] - want) < 1e-6, "weight %g, expected %g",
          (double)w[row * sp->cols + k], want);
    CHECK(s->cfg.warmup_epochs == 15 && s->cfg.pc_k == 4 && s->cfg.edge_norm == 1,
          "defaults warmup %d pc_k %d edge_norm %d", s->cfg.warmup_epochs, s->cfg.pc_k, s->cfg.edge_norm);
    float x[4 * 3 * 8 * 8], *a0 = malloc(s->n_alpha * sizeof(float));
    int y[4];
    dnas_data_batch b;
    make_batch(&b, x, y, 4, 8, 5);
    memcpy(a0, s->alpha, s->n_alpha * sizeof(float));
    s->epoch = 14;
    CHECK(dnas_search_step(s, &b, &b) == DNAS_OK, "step: %s", dnas_last_error());
    CHECK(memcmp(a0, s->alpha, s->n_alpha * sizeof(float)) == 0, "alpha/beta moved in warm-up");
    s->epoch = 15;
    CHECK(dnas_search_step(s, &b, &b) == DNAS_OK, "step: %s", dnas_last_error());
    int moved_a = 0, moved_b = 0;
    for (size_t i = 0; i < s->n_alpha; i++)
        if (s->alpha[i] != a0[i]) *(i < na ? &moved_a : &moved_b) = 1;
    CHECK(moved_a && moved_b, "after warm-up: alpha moved %d, beta moved %d", moved_a, moved_b);
    free(a0);
    dnas_search_destroy(s);
}

/* Flags out of range are refused naming the flag. */
static void test_config_checks(void) {
    dnas_search_config c;
    dnas_search_config_default(&c, "darts1");
    CHECK(c.pc_k == 1 && c.edge_norm == 0 && c.warmup_epochs == 0, "darts1 defaults");
    c.edge_norm = 1;
    CHECK(dnas_search_config_check(&c) != DNAS_OK && strstr(dnas_last_error(), "--edge-norm"),
          "edge norm with darts1: %s", dnas_last_error());
    dnas_search_config_default(&c, "pcdarts");
    c.channels = 10;
    CHECK(dnas_search_config_check(&c) != DNAS_OK && strstr(dnas_last_error(), "--pc-k"),
          "pc_k 4 with 10 channels: %s", dnas_last_error());
    dnas_search_config_default(&c, "pcdarts");
    c.pc_k = 0;
    CHECK(dnas_search_config_check(&c) != DNAS_OK && strstr(dnas_last_error(), "--pc-k"), "pc_k 0");
    dnas_search_config_default(&c, "pcdarts");
    c.warmup_epochs = -1;
    CHECK(dnas_search_config_check(&c) != DNAS_OK && strstr(dnas_last_error(), "--warmup-epochs"),
          "warmup -1");
    dnas_search_config_default(&c, "pcdarts");
    snprintf(c.select, sizeof c.select, "pt");
    CHECK(dnas_search_config_check(&c) != DNAS_OK && strstr(dnas_last_error(), "--select"), "pt");
}

/* The C=16 L=8 search network: tests/ref/pcdarts_twin.py counts 299,578 weights (quark0's
 * 1,930,618 with every op 1/4 as wide: PC-DARTS' memory and compute saving). */
static void test_weight_count_matches_twin(void) {
    dnas_supernet_config c;
    dnas_supernet_config_default(&c);
    c.space = "darts";
    c.channels = 16;
    c.cells = 8;
    c.batch = 1;
    c.pc_k = 4;
    c.edge_norm = 1;
    dnas_supernet *s = NULL;
    CHECK(dnas_supernet_create(&c, &s) == DNAS_OK, "create: %s", dnas_last_error());
    if (!s) return;
    CHECK(s->g.n_weights == 299578, "weights %zu, twin 299,578", s->g.n_weights);
    dnas_supernet_destroy(s);
}

int main(void) {
    RUN(test_shuffle_hand_example);
    RUN(test_shuffle_gradcheck_double);
    RUN(test_partial_channel_edges);
    RUN(test_pc_k1_is_the_plain_supernet);
    RUN(test_beta_gradient_nb201);
    RUN(test_beta_gradient_darts);
    RUN(test_weights_and_warmup);
    RUN(test_config_checks);
    RUN(test_weight_count_matches_twin);
    TEST_EXIT();
}
