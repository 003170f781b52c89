/* FLOP accounting (src/graph/flops.c and each op's counter): single conv, linear and BN nodes
 * against hand-computed values, a tiny graph's forward and backward totals (the sum of its
 * nodes, and which kernels each `wants` runs), the graph's running count against the static
 * one, the backward count's replay of exec.c's bookkeeping against a real backward's on the
 * NB201 and DARTS supernets, and the per-method pass lists of dnas_search_flops against the
 * FLOPs the graph counts during real search steps. */
#include "test.h"
#include "ops/ops.h"
#include "search/search.h"
#include "core/rng.h"

static dnas_backend *be;

/* A context that asks for every input gradient, written (not added into). */
static dnas_flop_ctx all_grads(unsigned wants, uint8_t *need, int n_vals, uint8_t *acc) {
    memset(need, 1, (size_t)n_vals);
    memset(acc, 0, DNAS_MAX_IN);
    return (dnas_flop_ctx){1, wants, need, acc};
}

static void test_single_nodes(void) {
    const dnas_flop_ctx fwd = {0, 0, NULL, NULL};
    dnas_graph g;
    dnas_graph_init(&g, be);
    int x = dnas_graph_input(&g, dnas_shape4(2, 3, 8, 8));
    int y = dnas_op_conv2d(&g, "conv", x, 4, 3, 1, 1, 1, 1, 1);           /* 3->4, 3x3, bias */
    int d = dnas_op_conv2d(&g, "dw", y, 4, 3, 2, 1, 1, 4, 0);             /* depthwise, stride 2 */
    int b = dnas_op_batchnorm(&g, "bn", d, 1, 1);
    int l = dnas_op_linear(&g, "fc", b, 5);                                  /* 4*4*4 = 64 -> 5 */
    dnas_op_xent(&g, "loss", l);
    CHECK(dnas_graph_plan(&g) == DNAS_OK, "plan: %s", dnas_last_error());
    const dnas_node *conv = &g.nodes[g.vals[y].producer], *dw = &g.nodes[g.vals[d].producer];
    const dnas_node *bn = &g.nodes[g.vals[b].producer], *fc = &g.nodes[g.vals[l].producer];
    uint8_t need[64], acc[DNAS_MAX_IN];
    CHECK(g.n_vals <= 64, "%d values", g.n_vals);

    /* conv: 2 * (N*OH*OW*Cout = 2*8*8*4 = 512 outputs) * (Cin*k*k = 27) = 27648, bias 512 */
    CHECK(dnas_node_flops(&g, conv, &fwd) == 27648 + 512, "conv forward %.0f", dnas_node_flops(&g, conv, &fwd));
    dnas_flop_ctx c = all_grads(DNAS_WANT_WEIGHTS, need, g.n_vals, acc);
    /* dx (27648) + dw (27648) + db (512) */
    CHECK(dnas_node_flops(&g, conv, &c) == 27648 * 2 + 512, "conv backward %.0f", dnas_node_flops(&g, conv, &c));
    c.wants = DNAS_WANT_ARCH; /* no weight-gradient kernel: dx only */
    CHECK(dnas_node_flops(&g, conv, &c) == 27648, "conv arch backward %.0f", dnas_node_flops(&g, conv, &c));
    acc[0] = 1; /* dx added into: one add per input element (2*3*8*8 = 384) */
    CHECK(dnas_node_flops(&g, conv, &c) == 27648 + 384, "conv accumulating backward %.0f",
          dnas_node_flops(&g, conv, &c));
    acc[0] = 0;
    /* depthwise 3x3 stride 2: 2 * (2*4*4*4 = 128 outputs) * (1*9) = 2304 */
    CHECK(dnas_node_flops(&g, dw, &fwd) == 2304, "depthwise forward %.0f", dnas_node_flops(&g, dw, &fwd));
    /* BN over 128 elements: 7 per element training, 3 in evaluation with running statistics;
     * backward 4 (sums) + 5 (dx) */
    CHECK(dnas_node_flops(&g, bn, &fwd) == 7 * 128, "bn forward %.0f", dnas_node_flops(&g, bn, &fwd));
    c.wants = DNAS_WANT_WEIGHTS;
    CHECK(dnas_node_flops(&g, bn, &c) == 9 * 128, "bn backward %.0f", dnas_node_flops(&g, bn, &c));
    g.training = 0;
    CHECK(dnas_node_flops(&g, bn, &fwd) == 3 * 128, "bn eval forward %.0f", dnas_node_flops(&g, bn, &fwd));
    g.training = 1;
    /* linear 64 -> 5 on 2 rows: 2*2*64*5 = 1280, bias 10; backward dx 1280 + dw 1280 + db 10 */
    CHECK(dnas_node_flops(&g, fc, &fwd) == 1290, "linear forward %.0f", dnas_node_flops(&g, fc, &fwd));
    CHECK(dnas_node_flops(&g, fc, &c) == 2570, "linear backward %.0f", dnas_node_flops(&g, fc, &c));
    /* a smaller batch on the planned graph: every count scales with it */
    CHECK(dnas_graph_set_batch(&g, 1) == DNAS_OK, "set_batch");
    CHECK(dnas_node_flops(&g, conv, &fwd) == (27648 + 512) / 2, "conv forward at batch 1 %.0f",
          dnas_node_flops(&g, conv, &fwd));
    dnas_graph_free(&g);
}

/* x(2,3,4,4) -> conv A 3->4 3x3 -> relu -> wsum(m0 * conv B 1x1, m1 * identity) -> gap ->
 * linear 4->3 -> xent. Per node, forward: A 2*128*27 = 6912, relu 128, B 2*128*4 = 1024,
 * identity 0, wsum (2k-1)*128 = 384, gap 128 + 8, linear 2*2*4*3 + 6 = 54, xent 4*6 = 24. */
#define TINY_FWD (6912 + 128 + 1024 + 0 + 384 + 136 + 54 + 24)
/* Arch backward: only what lies downstream of the mix runs: xent 12, linear dx 48, gap 128,
 * wsum's two dot products 2*2*128 (no input gradient is wanted: A and B hold weights only). */
#define TINY_BWD_ARCH (12 + 48 + 128 + 512)
/* Weight backward: xent 12, linear 48+48+6, gap 128, wsum's two dx 128 each, identity's dx
 * written (0), B dx added into relu's gradient 1024+128 and dw 1024, relu dx 128, A dw only
 * (nothing wants the image's gradient). */
#define TINY_BWD_W (12 + 102 + 128 + 256 + 0 + 2176 + 128 + 6912)

static int build_tiny(dnas_graph *g) {
    dnas_graph_init(g, be);
    int x = dnas_graph_input(g, dnas_shape4(2, 3, 4, 4));
    int m = dnas_graph_mix(g, 2);
    int a = dnas_op_relu(g, "relu", dnas_op_conv2d(g, "A", x, 4, 3, 1, 1, 1, 1, 0));
    int b = dnas_op_conv2d(g, "B", a, 4, 1, 1, 0, 1, 1, 0);
    int id = dnas_op_identity(g, "id", a);
    int in[2] = {b, id}, mix[2] = {m, m + 1};
    int y = dnas_op_linear(g, "fc", dnas_op_gap(g, "gap", dnas_op_wsum(g, "node", in, mix, 2)), 3);
    dnas_op_xent(g, "loss", y);
    if (dnas_graph_plan(g) != DNAS_OK) {
        CHECK(0, "plan: %s", dnas_last_error());
        return 0;
    }
    dnas_graph_init_weights(g, 1);
    dnas_rng r = dnas_rng_make(2, 3);
    dnas_value *v = &g->vals[g->input];
    for (size_t i = 0; i < dnas_shape_numel(v->shape); i++) v->data[i] = dnas_rng_normal(&r);
    g->labels[0] = 1, g->labels[1] = 2;
    g->mix[0] = 0.4f, g->mix[1] = 0.6f;
    return 1;
}

static void test_tiny_graph(void) {
    dnas_graph g;
    if (!build_tiny(&g)) return;
    const dnas_flop_ctx fwd = {0, 0, NULL, NULL};
    double sum = 0;
    for (int i = 0; i < g.n_nodes; i++) sum += dnas_node_flops(&g, &g.nodes[i], &fwd);
    double f = dnas_graph_flops_forward(&g), ba = -1, bw = -1, bn = -1;
    CHECK(f == sum && f == TINY_FWD, "forward %.0f, sum of nodes %.0f, by hand %d", f, sum, TINY_FWD);
    CHECK(dnas_graph_flops_backward(&g, DNAS_WANT_ARCH, &ba) == DNAS_OK, "count");
    CHECK(ba == TINY_BWD_ARCH, "arch backward %.0f, by hand %d", ba, TINY_BWD_ARCH);
    CHECK(dnas_graph_flops_backward(&g, DNAS_WANT_WEIGHTS, &bw) == DNAS_OK, "count");
    CHECK(bw == TINY_BWD_W, "weight backward %.0f, by hand %d", bw, TINY_BWD_W);
    /* inputs too: A's dx (6912) is the only addition */
    CHECK(dnas_graph_flops_backward(&g, DNAS_WANT_WEIGHTS | DNAS_WANT_INPUTS, &bn) == DNAS_OK, "count");
    CHECK(bn == TINY_BWD_W + 6912, "backward with inputs %.0f", bn);

    /* The count a real pass adds while counting is on equals the static one. */
    g.count_flops = 1;
    g.flops_done = 0;
    CHECK(dnas_graph_forward(&g) == DNAS_OK, "forward");
    dnas_graph_zero_grads(&g, DNAS_WANT_ARCH);
    CHECK(dnas_graph_backward(&g, DNAS_WANT_ARCH) == DNAS_OK, "backward");
    CHECK(g.flops_done == TINY_FWD + TINY_BWD_ARCH, "counted %.0f", g.flops_done);

    /* An inactive node is not counted: B off leaves the wsum one input. */
    g.nodes[g.vals[g.nodes[g.n_nodes - 4].in[0]].producer].active = 0;
    f = dnas_graph_flops_forward(&g);
    CHECK(f == TINY_FWD - 1024 - 256, "forward without B %.0f", f);
    dnas_graph_free(&g);
}

/* The backward count replays exec.c's bookkeeping; after a real backward the graph holds that
 * bookkeeping (each value's needs_grad, each node's acc), so summing the nodes with it must give
 * the same count, for every `wants`, on the two spaces' supernets. */
static void check_replay(const char *space, int cells) {
    dnas_search_config c;
    dnas_search_config_default(&c, "darts1");
    snprintf(c.space, sizeof c.space, "%s", space);
    c.channels = 4, c.cells = cells, c.batch = 2, c.image = 8, c.threads = 1;
    dnas_search *s = NULL;
    if (dnas_search_create(&c, &s) != DNAS_OK) {
        CHECK(0, "%s: %s", space, dnas_last_error());
        return;
    }
    dnas_graph *g = s->g;
    size_t px = dnas_shape_numel(g->vals[g->input].shape);
    float *x = malloc(px * sizeof(float));
    int y[2] = {3, 7};
    dnas_rng r = dnas_rng_make(9, 9);
    for (size_t i = 0; i < px; i++) x[i] = dnas_rng_normal(&r);
    dnas_data_batch b = {2, x, y};
    uint8_t *need = malloc((size_t)g->n_vals);
    static const unsigned wants[] = {DNAS_WANT_WEIGHTS, DNAS_WANT_ARCH, DNAS_WANT_WEIGHTS | DNAS_WANT_ARCH,
                                     DNAS_WANT_ARCH | DNAS_WANT_INPUTS};
    for (int w = 0; w < 4; w++) {
        CHECK(dnas_search_fwd_bwd(s, &b, wants[w], NULL) == DNAS_OK, "%s", dnas_last_error());
        for (int v = 0; v < g->n_vals; v++) need[v] = g->vals[v].needs_grad;
        double sum = 0, counted = -1;
        for (int i = 0; i < g->n_nodes; i++) {
            const dnas_node *n = &g->nodes[i];
            if (!dnas_node_runs(g, n) || !need[n->out]) continue;
            const dnas_flop_ctx ctx = {1, wants[w], need, n->acc};
            sum += dnas_node_flops(g, n, &ctx);
        }
        CHECK(dnas_graph_flops_backward(g, wants[w], &counted) == DNAS_OK, "count");
        CHECK(sum == counted && sum > 0, "%s wants %u: replayed %.0f, after a real backward %.0f", space,
              wants[w], counted, sum);
    }
    free(need);
    free(x);
    dnas_search_destroy(s);
}

static void test_backward_replay_matches_exec(void) {
    check_replay("nb201", 1);
    check_replay("darts", 3);
}

/* dnas_search_flops' pass lists against the graph's count of real steps of each method. */
static void check_method(const char *space, const char *algo, int cells) {
    dnas_bench_config b;
    CHECK(dnas_search_config_default(&b.search, algo) == DNAS_OK, "%s", dnas_last_error());
    snprintf(b.search.space, sizeof b.search.space, "%s", space);
    b.search.channels = 4;
    b.search.cells = cells;
    b.search.batch = 2;
    b.search.image = 8;
    b.search.threads = 1;
    b.search.warmup_epochs = 0; /* PC-DARTS: no warm-up, every step has its arch step */
    dnas_step_flops f;
    dnas_status st = dnas_search_flops(&b.search, &f);
    CHECK(st == DNAS_OK, "%s %s flops: %s", space, algo, dnas_last_error());
    if (st != DNAS_OK) return;
    /* a whole cycle of a method that takes its arch step every k-th step (iDARTS: T) */
    b.warmup = 0;
    b.steps = !strcmp(algo, "idarts") ? b.search.inner_steps : 2;
    dnas_bench_result r;
    st = dnas_bench_step(&b, &r);
    CHECK(st == DNAS_OK, "%s %s bench: %s", space, algo, dnas_last_error());
    double counted = r.gflop_step * 1e9;
    printf("  %-6s %-9s %9.0f FLOPs per step (%s), counted %9.0f\n", space, algo, f.step, f.passes, counted);
    CHECK(fabs(counted - f.step) <= 1e-9 * f.step, "%s %s: listed passes give %.0f FLOPs, a real step %.0f",
          space, algo, f.step, counted);
    CHECK(f.forward > 0 && f.backward_weights > f.backward_arch, "%s %s: forward %.0f, Bw %.0f, Ba %.0f",
          space, algo, f.forward, f.backward_weights, f.backward_arch);
}

static void test_method_passes(void) {
    static const char *const algos[] = {"darts1", "darts2", "idarts", "gaea", "snas", "fairdarts",
                                        "drnas", "pcdarts", "rdarts"};
    for (size_t i = 0; i < sizeof algos / sizeof algos[0]; i++) check_method("nb201", algos[i], 1);
    check_method("darts", "darts1", 3);
    /* GDAS samples per forward, so a step's count varies; its unsampled ops are not counted:
     * well below DARTS-V1's step on the same supernet. */
    dnas_search_config c;
    dnas_step_flops fg, fd;
    dnas_search_config_default(&c, "gdas");
    c.channels = 4, c.cells = 1, c.batch = 2, c.image = 8, c.threads = 1;
    CHECK(dnas_search_flops(&c, &fg) == DNAS_OK, "gdas: %s", dnas_last_error());
    snprintf(c.algo, sizeof c.algo, "darts1");
    CHECK(dnas_search_flops(&c, &fd) == DNAS_OK, "darts1: %s", dnas_last_error());
    printf("  gdas: %.0f FLOPs per step (one sample), darts1 %.0f\n", fg.step, fd.step);
    CHECK(fg.step > 0 && fg.step < 0.7 * fd.step, "gdas %.0f vs darts1 %.0f", fg.step, fd.step);
}

int main(void) {
    if (dnas_backend_cpu_create(1, &be) != DNAS_OK) {
        printf("FAIL backend: %s\n", dnas_last_error());
        return 1;
    }
    RUN(test_single_nodes);
    RUN(test_tiny_graph);
    RUN(test_backward_replay_matches_exec);
    RUN(test_method_passes);
    dnas_backend_destroy(be);
    TEST_EXIT();
}
