/* The evaluation network of SNAS's edge_all genotypes (src/space/darts_net.c, model_edge_all):
 *  - weights of a hand-made edge_all cell pair at C 4, L 3 against a count by hand from the
 *    layer definitions (comment below), parameter names by pair index, 'none' edges unbuilt;
 *  - DARTS_V2 written in the edge_all form (its two pairs first in each node, 'none' on the
 *    other inputs) gives the standard network: the same weight count at C 36, L 20, and at
 *    C 4, L 3 with the same weights the same loss and weight gradients, bit for bit;
 *  - the hand cell (an all-'none' node, a node that is one identity edge) runs forward and
 *    backward with finite values. */
#include "test.h"
#include "space/darts.h"
#include "backend/backend.h"
#include "core/rng.h"
#include "edge_all_hand.h"

static dnas_backend *be;

/* The hand cells (edge_all_hand.h describes them). */
static const char *const HAND = DNAS_TEST_EDGE_ALL_HAND;

/* DARTS_V2 with every node's other inputs listed as 'none'. */
static const char *const V2_EDGE_ALL =
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('none', 2), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('none', 2), ('none', 3), "
    "('skip_connect', 0), ('dil_conv_3x3', 2), ('none', 1), ('none', 3), ('none', 4)], "
    "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), "
    "('skip_connect', 2), ('max_pool_3x3', 1), ('none', 0), "
    "('max_pool_3x3', 0), ('skip_connect', 2), ('none', 1), ('none', 3), "
    "('skip_connect', 2), ('max_pool_3x3', 1), ('none', 0), ('none', 3), ('none', 4)], "
    "reduce_concat=[2, 3, 4, 5])";

static int build(dnas_graph *g, const char *geno, int C, int L, int batch, int plan) {
    dnas_graph_init(g, be);
    dnas_net_config c = {.batch = batch, .classes = 10, .image = 32, .channels = C, .cells = L};
    dnas_status st = dnas_darts_build_net(g, &c, geno);
    if (st == DNAS_OK && plan) st = dnas_graph_plan(g);
    CHECK(st == DNAS_OK, "build: %s", dnas_last_error());
    if (st != DNAS_OK) dnas_graph_free(g);
    return st == DNAS_OK;
}

static long count(const char *geno, int C, int L) {
    dnas_graph g;
    if (!build(&g, geno, C, L, 2, 0)) return -1;
    long n = 0;
    for (int i = 0; i < g.n_params; i++) n += (long)dnas_shape_numel(g.params[i].shape);
    dnas_graph_free(&g);
    return n;
}

static int has_param(const dnas_graph *g, const char *name) {
    for (int i = 0; i < g->n_params; i++)
        if (strcmp(g->params[i].name, name) == 0) return 1;
    return 0;
}

/* By hand, C 4, L 3 (reductions at cells 1 and 2: 4 -> 8 -> 16 channels), c = the cell's C:
 * sep_conv k = 2 (k^2 c + c^2 + 2c), dil_conv k = k^2 c + c^2 + 2c, FactorizedReduce c -> c =
 * c^2 + 2c, ReLUConvBN cin -> c = cin c + 2c, pools / identity / 'none' 0.
 *   stem     3 * 12 * 9 + 24                                           =  348
 *   cell 0   normal c 4: pre 12->4 56, 12->4 56; sep3 120, dil3 60, sep5 248 =  540
 *   cell 1   reduce c 8: pre 12->8 112, 16->8 144; FR 80, sep3 304, dil5 280 =  920
 *   cell 2   reduce c 16: pre FR 16->16 288, 32->16 544; FR 288, sep3 864, dil5 688 = 2672
 *   classifier 64 * 10 + 10                                            =  650
 *   total                                                              = 5130 */
static void test_hand_count_and_names(void) {
    long n = count(HAND, 4, 3);
    printf("  hand edge_all cells at C 4, L 3: %ld weights\n", n);
    CHECK(n == 5130, "%ld weights, the hand count is 5130", n);
    dnas_graph g;
    if (!build(&g, HAND, 4, 3, 2, 0)) return;
    CHECK(has_param(&g, "cells.0._ops.6.op.1.weight") && has_param(&g, "cells.0._ops.3.op.1.weight") &&
              has_param(&g, "cells.1._ops.1.conv_1.weight") && has_param(&g, "cells.2._ops.5.op.2.weight"),
          "parameters are not named by their pair index");
    CHECK(!has_param(&g, "cells.0._ops.1.op.1.weight") && !has_param(&g, "cells.0._ops.13.op.1.weight"),
          "a 'none' edge got parameters");
    dnas_graph_free(&g);
}

static void test_standard_equivalent(void) {
    long a = count("DARTS_V2", 36, 20), b = count(V2_EDGE_ALL, 36, 20);
    CHECK(a == 3349342 && b == a, "DARTS_V2 %ld, in edge_all form %ld (want 3,349,342)", a, b);
    enum { N = 4 };
    dnas_graph g1, g2;
    if (!build(&g1, "DARTS_V2", 4, 3, N, 1)) return;
    if (!build(&g2, V2_EDGE_ALL, 4, 3, N, 1)) {
        dnas_graph_free(&g1);
        return;
    }
    CHECK(g1.n_weights == g2.n_weights, "%zu vs %zu weights", g1.n_weights, g2.n_weights);
    if (g1.n_weights == g2.n_weights) {
        dnas_graph_init_weights(&g1, 5);
        dnas_graph_init_weights(&g2, 5);
        memcpy(g2.w, g1.w, g1.n_weights * sizeof(float)); /* same order, other names */
        dnas_rng r = dnas_rng_make(9, 0);
        dnas_value *x1 = &g1.vals[g1.input], *x2 = &g2.vals[g2.input];
        for (size_t i = 0; i < dnas_shape_numel(x1->shape); i++) x1->data[i] = x2->data[i] = dnas_rng_normal(&r);
        for (int i = 0; i < N; i++) g1.labels[i] = g2.labels[i] = i * 3 % 10;
        dnas_status st = dnas_graph_forward(&g1);
        if (st == DNAS_OK) st = dnas_graph_forward(&g2);
        if (st == DNAS_OK) st = dnas_graph_backward(&g1, DNAS_WANT_WEIGHTS);
        if (st == DNAS_OK) st = dnas_graph_backward(&g2, DNAS_WANT_WEIGHTS);
        CHECK(st == DNAS_OK, "%s", dnas_last_error());
        CHECK(g1.loss_value == g2.loss_value, "loss %.9g vs %.9g", g1.loss_value, g2.loss_value);
        CHECK(memcmp(g1.gw, g2.gw, g1.n_weights * sizeof(float)) == 0, "weight gradients differ");
        printf("  DARTS_V2 as 14 pairs: loss %.6f, gradients bit-identical\n", g1.loss_value);
    }
    dnas_graph_free(&g1);
    dnas_graph_free(&g2);
}

static void test_hand_forward_backward(void) {
    enum { N = 3 };
    dnas_graph g;
    if (!build(&g, HAND, 4, 3, N, 1)) return;
    dnas_graph_init_weights(&g, 7);
    dnas_rng r = dnas_rng_make(11, 0);
    dnas_value *x = &g.vals[g.input];
    for (size_t i = 0; i < dnas_shape_numel(x->shape); i++) x->data[i] = dnas_rng_normal(&r);
    for (int i = 0; i < N; i++) g.labels[i] = i;
    dnas_status st = dnas_graph_forward(&g);
    if (st == DNAS_OK) st = dnas_graph_backward(&g, DNAS_WANT_WEIGHTS);
    CHECK(st == DNAS_OK, "%s", dnas_last_error());
    int finite = isfinite(g.loss_value), nonzero = 0;
    for (size_t i = 0; i < g.n_weights; i++) {
        finite &= isfinite(g.gw[i]);
        nonzero += g.gw[i] != 0.0f;
    }
    CHECK(finite && nonzero > (int)g.n_weights / 2, "loss %g, %d of %zu gradients non-zero", g.loss_value,
          nonzero, g.n_weights);
    dnas_graph_free(&g);
}

int main(void) {
    if (dnas_backend_cpu_create(1, &be) != DNAS_OK) {
        printf("FAIL backend: %s\n", dnas_last_error());
        return 1;
    }
    RUN(test_hand_count_and_names);
    RUN(test_standard_equivalent);
    RUN(test_hand_forward_backward);
    dnas_backend_destroy(be);
    TEST_EXIT();
}
