/* The NAS-Bench-201 search supernet, as built by the reference searchers (AutoDL
 * TinyNetworkDarts; ALGORITHMS.md §A1): stem conv+BN, 3 stages of N search cells separated by
 * two ResNet basic blocks, lastact BN+ReLU, global average pool, linear classifier.
 * Parameter names follow the PyTorch twin in tests/ref/ so fixtures map by name. */
#include "space.h"
#include "nb201_net.h"
#include "../io/nb201_table.h"
#include "../ops/ops.h"
#include <stdio.h>
#include <string.h>

/* The op names (dnas_nb201_ops) are defined once, with the arch-string code in
 * io/nb201_table.c, so a derived genotype always reads back in the benchmark's encoding. */
_Static_assert(DNAS_NB201_OPS == 5, "NB201 has 5 candidate ops");
static const char *const nb201_groups[1] = {"cell"};

/* "" = all five ops; "no-none" = GAEA's exclude_zero (ALGORITHMS.md §B4). */
static dnas_status nb201_candidates(const char *ops, uint8_t *cand) {
    int none = 1;
    if (ops && ops[0] && strcmp(ops, "all") != 0) {
        if (strcmp(ops, "no-none") != 0)
            return dnas_fail(DNAS_ERR_INVALID_ARG, "--ops: unknown NB201 op set '%s' (known: all, "
                             "no-none)", ops);
        none = 0;
    }
    for (int e = 0; e < DNAS_NB201_EDGES; e++)
        for (int k = 0; k < DNAS_NB201_OPS; k++) cand[e * DNAS_NB201_OPS + k] = k || none;
    return DNAS_OK;
}

/* Per edge, the strongest candidate op ('none' included when it is a candidate), as AutoDL's
 * searchers derive it; ties go to the lower op index. */
static dnas_status nb201_derive(const float *w, const uint8_t *cand, char *out, size_t cap) {
    int ops[DNAS_NB201_EDGES];
    for (int e = 0; e < DNAS_NB201_EDGES; e++) {
        ops[e] = dnas_space_row_argmax(w + e * DNAS_NB201_OPS, cand + e * DNAS_NB201_OPS,
                                       DNAS_NB201_OPS);
        if (ops[e] < 0) return dnas_fail(DNAS_ERR_INTERNAL, "NB201 edge %d has no candidate op", e);
    }
    return dnas_nb201_arch_format(ops, out, cap);
}

static dnas_status nb201_parse(const char *genotype, float *onehot) {
    int ops[DNAS_NB201_EDGES];
    DNAS_TRY(dnas_nb201_arch_parse(genotype, ops));
    memset(onehot, 0, DNAS_NB201_EDGES * DNAS_NB201_OPS * sizeof(float));
    for (int e = 0; e < DNAS_NB201_EDGES; e++) onehot[e * DNAS_NB201_OPS + ops[e]] = 1.0f;
    return DNAS_OK;
}

static dnas_status nb201_bench_load(const char *path, void **table) {
    dnas_nb201_table *t = NULL;
    DNAS_TRY(dnas_nb201_table_load(path, &t));
    *table = t;
    return DNAS_OK;
}

static dnas_status nb201_bench_find(const void *table, const char *genotype, dnas_space_bench *r) {
    const dnas_nb201_row *q = NULL;
    DNAS_TRY(dnas_nb201_table_find(table, genotype, &q));
    *r = (dnas_space_bench){q->index, q->c10_valid, q->c10_test, q->c100_valid, q->c100_test,
                            q->in16_valid, q->in16_test};
    return DNAS_OK;
}

static void nb201_bench_free(void *table) { dnas_nb201_table_destroy(table); }

static dnas_status nb201_build(dnas_graph *g, const dnas_supernet_config *c);
/* Node i (1..3) takes edges i<-0 .. i<-(i-1): rows 0; 1, 2; 3, 4, 5 (search_cell's order). */
static const int nb201_node_first[3] = {0, 1, 3}, nb201_node_count[3] = {1, 2, 3};

const dnas_space dnas_space_nb201 = {
    .name = "nb201", .groups = 1, .rows = DNAS_NB201_EDGES, .cols = DNAS_NB201_OPS,
    .ops = dnas_nb201_ops, .group_names = nb201_groups, .candidates = nb201_candidates,
    .build = nb201_build, .derive = nb201_derive, .parse = nb201_parse,
    .build_net = dnas_nb201_build_net,
    .bench_load = nb201_bench_load, .bench_find = nb201_bench_find, .bench_free = nb201_bench_free,
    .n_nodes = 3, .node_first = nb201_node_first, .node_count = nb201_node_count};

/* ReLU -> conv (bias when BN is not affine, as the reference) -> BN. */
static int relu_conv_bn(dnas_graph *g, const char *name, int x_relu, int cout, int k, int stride,
                        int pad, int affine, int track) {
    char n1[64], n2[64];
    snprintf(n1, sizeof n1, "%s.conv", name);
    snprintf(n2, sizeof n2, "%s.bn", name);
    int y = dnas_op_conv2d(g, n1, x_relu, cout, k, stride, pad, 1, 1, !affine);
    return dnas_op_batchnorm(g, n2, y, affine, track);
}

/* ResNet basic block Cin -> Cout, stride 2 (AutoDL ResNetBasicblock, affine BN + running
 * stats whatever the cell setting). */
static int resblock(dnas_graph *g, int idx, int x, int cout) {
    char name[64], sub[64];
    snprintf(name, sizeof name, "cells.%d", idx);
    snprintf(sub, sizeof sub, "%s.relu_a", name);
    int ra = dnas_op_relu(g, sub, x);
    snprintf(sub, sizeof sub, "%s.conv_a", name);
    int a = relu_conv_bn(g, sub, ra, cout, 3, 2, 1, 1, 1);
    snprintf(sub, sizeof sub, "%s.relu_b", name);
    int rb = dnas_op_relu(g, sub, a);
    snprintf(sub, sizeof sub, "%s.conv_b", name);
    int b = relu_conv_bn(g, sub, rb, cout, 3, 1, 1, 1, 1);
    snprintf(sub, sizeof sub, "%s.downsample.pool", name);
    int p = dnas_op_avgpool(g, sub, x, 2, 2, 0, 1);
    snprintf(sub, sizeof sub, "%s.downsample.conv", name);
    int s = dnas_op_conv2d(g, sub, p, cout, 1, 1, 0, 1, 1, 0);
    snprintf(sub, sizeof sub, "%s.add", name);
    return dnas_op_add(g, sub, s, b);
}

/* One search cell: 4 nodes, node i = sum over j < i of the mixed edge (i <- j). The
 * 'none' op contributes zeros and a zero d/dm, so it is left out of the sum; skip_connect
 * feeds node j itself. One ReLU per source node serves every conv reading it. */
static int search_cell(dnas_graph *g, int idx, int x, int track, int mix0, int node_bn) {
    int node[4], relu[4];
    if (x < 0) return -1; /* an earlier builder call failed; the graph holds the error */
    int c = g->vals[x].shape.c;
    char name[96];
    node[0] = x;
    int e = 0;
    for (int i = 1; i < 4; i++) {
        snprintf(name, sizeof name, "cells.%d.relu%d", idx, i - 1);
        relu[i - 1] = dnas_op_relu(g, name, node[i - 1]);
        int in[DNAS_MAX_IN], mix[DNAS_MAX_IN], k = 0;
        for (int j = 0; j < i; j++, e++) {
            char edge[64];
            snprintf(edge, sizeof edge, "cells.%d.edges.%d<-%d", idx, i, j);
            in[k] = node[j];
            mix[k++] = mix0 + e * 5 + 1;
            snprintf(name, sizeof name, "%s.nor_conv_1x1", edge);
            in[k] = relu_conv_bn(g, name, relu[j], c, 1, 1, 0, 0, track);
            mix[k++] = mix0 + e * 5 + 2;
            snprintf(name, sizeof name, "%s.nor_conv_3x3", edge);
            in[k] = relu_conv_bn(g, name, relu[j], c, 3, 1, 1, 0, track);
            mix[k++] = mix0 + e * 5 + 3;
            snprintf(name, sizeof name, "%s.avg_pool_3x3", edge);
            in[k] = dnas_op_avgpool(g, name, node[j], 3, 1, 1, 0);
            mix[k++] = mix0 + e * 5 + 4;
        }
        snprintf(name, sizeof name, "cells.%d.node%d", idx, i);
        node[i] = dnas_op_wsum(g, name, in, mix, k);
        if (node_bn) { /* DARTS-PRIME's statebn: BN without affine on the node sum */
            snprintf(name, sizeof name, "cells.%d.node_bn.%d", idx, i);
            node[i] = dnas_op_batchnorm(g, name, node[i], 0, track);
        }
    }
    return node[3];
}

/* A PC-DARTS search cell (ALGORITHMS.md §B7): on every edge the ops see only the first C/K
 * channels of the source node (the slice, its ReLU, and the bypassed rest are shared by
 * the edges leaving a node), edge = shuffle(concat(mixed ops, bypass), K); with edge
 * normalisation node i = sum_j beta_(i<-j) edge_(i<-j) (mixing weights emix0 + edge), else
 * the plain sum. NB201 cells keep their stride, so the bypass is never pooled; pools keep
 * NB201's form (no BN), as partial channels change only the ops' width. K = 1 keeps all
 * channels (no slice, no shuffle): edge normalisation alone. */
static int pc_cell(dnas_graph *g, int idx, int x, int track, int mix0, int emix0, int K) {
    int node[4], xa[3], ra[3], xb[3];
    if (x < 0) return -1;
    int c = g->vals[x].shape.c, cp = c / K;
    char name[96];
    node[0] = x;
    int e = 0;
    for (int i = 1; i < 4; i++) {
        int j0 = i - 1; /* the newest node: its slice, ReLU and bypass */
        if (K > 1) {
            snprintf(name, sizeof name, "cells.%d.part%d", idx, j0);
            xa[j0] = dnas_op_slice(g, name, node[j0], 0, cp);
            snprintf(name, sizeof name, "cells.%d.bypass%d", idx, j0);
            xb[j0] = dnas_op_slice(g, name, node[j0], cp, c - cp);
        } else {
            xa[j0] = node[j0];
            xb[j0] = -1;
        }
        snprintf(name, sizeof name, "cells.%d.relu%d", idx, j0);
        ra[j0] = dnas_op_relu(g, name, xa[j0]);
        int ein[DNAS_MAX_IN], emix[DNAS_MAX_IN], n = 0;
        for (int j = 0; j < i; j++, e++) {
            char edge[64];
            int in[4], mix[4], k = 0;
            snprintf(edge, sizeof edge, "cells.%d.edges.%d<-%d", idx, i, j);
            in[k] = xa[j];
            mix[k++] = mix0 + e * 5 + 1;
            snprintf(name, sizeof name, "%s.nor_conv_1x1", edge);
            in[k] = relu_conv_bn(g, name, ra[j], cp, 1, 1, 0, 0, track);
            mix[k++] = mix0 + e * 5 + 2;
            snprintf(name, sizeof name, "%s.nor_conv_3x3", edge);
            in[k] = relu_conv_bn(g, name, ra[j], cp, 3, 1, 1, 0, track);
            mix[k++] = mix0 + e * 5 + 3;
            snprintf(name, sizeof name, "%s.avg_pool_3x3", edge);
            in[k] = dnas_op_avgpool(g, name, xa[j], 3, 1, 1, 0);
            mix[k++] = mix0 + e * 5 + 4;
            snprintf(name, sizeof name, "%s.mixed", edge);
            int y = dnas_op_wsum(g, name, in, mix, k);
            if (K > 1) {
                int cat[2] = {y, xb[j]};
                snprintf(name, sizeof name, "%s.shuffle", edge);
                y = dnas_op_shuffle(g, name, cat, 2, K);
            }
            ein[n] = y;
            emix[n++] = emix0 >= 0 ? emix0 + e : -1;
        }
        snprintf(name, sizeof name, "cells.%d.node%d", idx, i);
        node[i] = dnas_op_wsum(g, name, ein, emix, n);
    }
    return node[3];
}

static dnas_status nb201_build(dnas_graph *g, const dnas_supernet_config *c) {
    if (c->batch <= 0) return dnas_fail(DNAS_ERR_INVALID_ARG, "batch must be > 0 (got %d)", c->batch);
    if (c->channels <= 0) return dnas_fail(DNAS_ERR_INVALID_ARG, "channels must be > 0 (got %d)", c->channels);
    if (c->cells < 0) return dnas_fail(DNAS_ERR_INVALID_ARG, "cells per stage must be > 0 (got %d)", c->cells);
    int N = c->cells ? c->cells : 5; /* 0 = the space's default (AutoDL: N = 5) */
    if (c->classes < 2) return dnas_fail(DNAS_ERR_INVALID_ARG, "classes must be >= 2 (got %d)", c->classes);
    if (c->image < 4 || c->image % 4)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "image size must be a positive multiple of 4 (got %d)", c->image);
    int K = c->pc_k > 1 ? c->pc_k : 1;
    if (c->channels % K)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "--pc-k %d must divide --channels %d (the channel "
                         "shuffle splits every cell's channels into pc_k groups)", K, c->channels);
    int C = c->channels;
    int x = dnas_graph_input(g, dnas_shape4(c->batch, 3, c->image, c->image));
    int mix0 = dnas_graph_mix(g, 6 * 5); /* the one alpha group all 15 cells share */
    int pc = K > 1 || c->edge_norm;
    int emix0 = c->edge_norm ? dnas_graph_mix(g, 6) : -1; /* space.h's edge block */
    x = dnas_op_conv2d(g, "stem.conv", x, C, 3, 1, 1, 1, 1, 0);
    x = dnas_op_batchnorm(g, "stem.bn", x, 1, 1);
    int idx = 0;
    for (int stage = 0; stage < 3; stage++) {
        if (stage > 0) x = resblock(g, idx++, x, C << stage);
        for (int i = 0; i < N; i++, idx++)
            x = pc ? pc_cell(g, idx, x, c->track_bn, mix0, emix0, K)
                   : search_cell(g, idx, x, c->track_bn, mix0, c->node_bn);
    }
    x = dnas_op_batchnorm(g, "lastact.bn", x, 1, 1);
    x = dnas_op_relu(g, "lastact.relu", x);
    x = dnas_op_gap(g, "global_pooling", x);
    x = dnas_op_linear(g, "classifier", x, c->classes);
    dnas_op_xent(g, "loss", x);
    return g->build_status;
}
