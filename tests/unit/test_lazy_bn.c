/* Lazy outputs (graph.h dnas_value.lazy) on the real supernets: the NB201 and DARTS-space
 * search networks built on the CPU backend (BN and average-pool outputs read only by a mixed
 * node are not stored) against the same networks on a copy of the backend that declines
 * DNAS_K_LAZY_BN and DNAS_K_LAZY_POOL (every output stored, as on the CUDA backend), and
 * NB201 with only its pools lazy. Same weights, input and mixing weights: the loss, every
 * weight gradient and every mixing-weight gradient must agree to rounding, after a full
 * backward (BN's backward and the pool's give the lazy outputs' mixing-weight gradients) and
 * an arch-only one (where part of them come from the mixed node asking for BN's sums or the
 * pool's dot product), and the lazy network must need less memory. */
#include "test.h"
#include "ops/ops.h"
#include "space/supernet.h"

static int stored_supports(const dnas_backend *b, dnas_kernel_kind k) {
    (void)b;
    return (int)k >= 0 && k < DNAS_K_COUNT && k != DNAS_K_LAZY_BN && k != DNAS_K_LAZY_POOL;
}
static int pool_only_supports(const dnas_backend *b, dnas_kernel_kind k) {
    (void)b;
    return (int)k >= 0 && k < DNAS_K_COUNT && k != DNAS_K_LAZY_BN;
}

typedef struct {
    double loss;
    float *gw, *gm, *gm_arch;
} result;

/* Relative max difference of a against b, scaled by max |b|. */
static double rel(const float *a, const float *b, size_t n) {
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= d)) d = e;
        if (fabs(b[i]) > s) s = fabs(b[i]);
    }
    return d / (s + 1e-30);
}

static int node_bn;

static int run(dnas_backend *be, const char *space, int C, int L, int N, result *r, int n_lazy[2],
               size_t *arena, size_t *nw, int *nm) {
    dnas_supernet_config c;
    dnas_supernet_config_default(&c);
    c.space = space;
    c.channels = C;
    c.cells = L;
    c.batch = N;
    c.image = 16;
    c.node_bn = node_bn;
    dnas_supernet *s = NULL;
    if (dnas_supernet_create_on(&c, be, &s) != DNAS_OK) {
        printf("  create %s: %s\n", space, dnas_last_error());
        return 0;
    }
    dnas_graph *g = &s->g;
    float *x = g->vals[g->input].data;
    for (size_t i = 0; i < dnas_shape_numel(g->vals[g->input].shape); i++)
        /* The top 10 rows of every image constant, as in images with a flat background:
         * exact ties in the max pools' windows. */
        x[i] = (i / 48) % 16 < 10 ? 0.5f : (float)sin(0.37 * (double)i) + 0.1f;
    for (int i = 0; i < N; i++) g->labels[i] = (i * 7) % 10;
    /* Distinct mixing weights, none of them the softmax's uniform value. */
    for (int i = 0; i < g->n_mix; i++) g->mix[i] = 0.05f + 0.9f * (float)((i * 37) % 101) / 101.0f;
    if (node_bn) {
        for (int i = 0; i < g->n_mix; i += 3) g->mix[i] = 0.0f;
        uint8_t *live = malloc((size_t)g->n_vals);
        CHECK(dnas_graph_prune(g, live) > 0, "zero mixing weights prune nothing");
        free(live);
    }
    n_lazy[0] = n_lazy[1] = 0; /* BN, pool */
    for (int v = 0; v < g->n_vals; v++) {
        n_lazy[0] += g->vals[v].lazy == DNAS_LAZY_BN;
        n_lazy[1] += g->vals[v].lazy == DNAS_LAZY_POOL;
    }
    *arena = g->arena_floats;
    *nw = g->n_weights;
    *nm = g->n_mix;
    r->gw = malloc(g->n_weights * sizeof(float));
    r->gm = malloc((size_t)g->n_mix * sizeof(float));
    r->gm_arch = malloc((size_t)g->n_mix * sizeof(float));
    int ok = dnas_graph_forward(g) == DNAS_OK;
    r->loss = g->loss_value;
    dnas_graph_zero_grads(g, DNAS_WANT_WEIGHTS | DNAS_WANT_ARCH);
    ok = ok && dnas_graph_backward(g, DNAS_WANT_WEIGHTS | DNAS_WANT_ARCH) == DNAS_OK;
    memcpy(r->gw, g->gw, g->n_weights * sizeof(float));
    memcpy(r->gm, g->gmix, (size_t)g->n_mix * sizeof(float));
    dnas_graph_zero_grads(g, DNAS_WANT_ARCH);
    ok = ok && dnas_graph_forward(g) == DNAS_OK &&
         dnas_graph_backward(g, DNAS_WANT_ARCH) == DNAS_OK;
    memcpy(r->gm_arch, g->gmix, (size_t)g->n_mix * sizeof(float));
    if (!ok) printf("  step %s: %s\n", space, dnas_last_error());
    dnas_supernet_destroy(s);
    return ok;
}

/* want_pools: the lazy network must have lazy pools (NB201), none otherwise (in the DARTS
 * space every pool is followed by its BN). pools_only: the lazy network's backend declines
 * lazy BN. */
static void compare(const char *space, int C, int L, int N, int want_pools, int pools_only) {
    dnas_backend *be = NULL;
    CHECK(dnas_backend_cpu_create(1, &be) == DNAS_OK, "backend");
    dnas_backend stored = *be, lazy_be = *be; /* the same kernels; only `supports` differs */
    stored.supports = stored_supports;
    if (pools_only) lazy_be.supports = pool_only_supports;
    result r[2];
    int lazy[2][2], nm[2];
    size_t arena[2], nw[2];
    int ok = run(&lazy_be, space, C, L, N, &r[0], lazy[0], &arena[0], &nw[0], &nm[0]) &&
             run(&stored, space, C, L, N, &r[1], lazy[1], &arena[1], &nw[1], &nm[1]);
    CHECK(ok, "%s: the steps ran", space);
    if (ok) {
        double dw = rel(r[0].gw, r[1].gw, nw[0]), dm = rel(r[0].gm, r[1].gm, (size_t)nm[0]);
        double da = rel(r[0].gm_arch, r[1].gm_arch, (size_t)nm[0]);
        printf("  %-5s C %d L %d batch %d: %d lazy BN outputs, %d lazy pool outputs, arena "
               "%.1f vs %.1f MiB; loss %.9g vs %.9g; relative differences: weight grads %.2e, "
               "mixing %.2e, arch-only mixing %.2e\n", space, C, L, N, lazy[0][0], lazy[0][1],
               arena[0] * 4.0 / 1048576, arena[1] * 4.0 / 1048576, r[0].loss, r[1].loss, dw, dm,
               da);
        CHECK((lazy[0][0] > 0) == !pools_only && (lazy[0][1] > 0) == want_pools &&
                  lazy[1][0] + lazy[1][1] == 0,
              "%s: %d + %d lazy outputs (declining backend: %d + %d)", space, lazy[0][0],
              lazy[0][1], lazy[1][0], lazy[1][1]);
        CHECK(arena[0] < arena[1], "%s: no memory saved", space);
        CHECK(fabs(r[0].loss - r[1].loss) <= 1e-5 * fabs(r[1].loss), "%s: loss %.9g vs %.9g",
              space, r[0].loss, r[1].loss);
        CHECK(dw < 1e-4 && dm < 1e-4 && da < 1e-4, "%s: gradients differ beyond rounding", space);
    }
    for (int k = 0; k < 2; k++)
        if (ok) free(r[k].gw), free(r[k].gm), free(r[k].gm_arch);
    dnas_backend_destroy(be);
}

static void test_nb201(void) { compare("nb201", 8, 1, 8, 1, 0); }
static void test_nb201_pools_only(void) { compare("nb201", 8, 1, 8, 1, 1); }
static void test_darts(void) { compare("darts", 4, 5, 4, 0, 0); }
/* DARTS-PRIME's networks: a BN on every node's state, and a third of the mixing weights
 * exactly 0 (its clipped activation) with the nodes that then feed nothing switched off. */
static void test_darts_node_bn(void) {
    node_bn = 1;
    compare("darts", 4, 5, 8, 0, 0);
    node_bn = 0;
}

int main(void) {
    RUN(test_nb201);
    RUN(test_nb201_pools_only);
    RUN(test_darts);
    RUN(test_darts_node_bn);
    TEST_EXIT();
}
