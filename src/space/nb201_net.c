/* The NAS-Bench-201 benchmark network of an arch string (AutoDL TinyNetwork with InferCells;
 * ALGORITHMS.md §A1, §A2). Same macro and parameter names as the supernet (nb201.c), but each
 * edge is its one op, and every BN is affine with running statistics, so the convs carry no
 * bias (bias = not affine, as the reference). */
#include "nb201_net.h"
#include "../io/nb201_table.h"
#include "../ops/ops.h"
#include <stdio.h>

enum { OP_NONE, OP_SKIP, OP_CONV1, OP_CONV3, OP_AVGPOOL };

/* ReLU output `xr` -> conv (no bias) -> BN (affine, running stats). */
static int conv_bn(dnas_graph *g, const char *name, int xr, int cout, int k, int stride, int pad) {
    char n1[96], n2[96];
    snprintf(n1, sizeof n1, "%s.conv", name);
    snprintf(n2, sizeof n2, "%s.bn", name);
    int y = dnas_op_conv2d(g, n1, xr, cout, k, stride, pad, 1, 1, 0);
    return dnas_op_batchnorm(g, n2, y, 1, 1);
}

/* ResNet basic block Cin -> Cout, stride 2, named as in nb201.c. */
static int resblock(dnas_graph *g, int idx, int x, int cout) {
    char sub[96];
    snprintf(sub, sizeof sub, "cells.%d.relu_a", idx);
    int ra = dnas_op_relu(g, sub, x);
    snprintf(sub, sizeof sub, "cells.%d.conv_a", idx);
    int a = conv_bn(g, sub, ra, cout, 3, 2, 1);
    snprintf(sub, sizeof sub, "cells.%d.relu_b", idx);
    int rb = dnas_op_relu(g, sub, a);
    snprintf(sub, sizeof sub, "cells.%d.conv_b", idx);
    int b = conv_bn(g, sub, rb, cout, 3, 1, 1);
    snprintf(sub, sizeof sub, "cells.%d.downsample.pool", idx);
    int p = dnas_op_avgpool(g, sub, x, 2, 2, 0, 1);
    snprintf(sub, sizeof sub, "cells.%d.downsample.conv", idx);
    int s = dnas_op_conv2d(g, sub, p, cout, 1, 1, 0, 1, 1, 0);
    snprintf(sub, sizeof sub, "cells.%d.add", idx);
    return dnas_op_add(g, sub, s, b);
}

/* One InferCell: node i = sum over j < i of op(i<-j)(node j), 'none' edges left out (they add
 * zeros); a node whose edges are all 'none' is a zero tensor. One ReLU per source node serves
 * every conv reading it (ReLU is not in place, so sharing it changes nothing). */
static int infer_cell(dnas_graph *g, int idx, int x, const int *ops) {
    if (x < 0) return -1; /* an earlier builder call failed; the graph holds the error */
    int c = g->vals[x].shape.c;
    int node[4], relu[3] = {-1, -1, -1};
    char name[128];
    node[0] = x;
    for (int e = 0, i = 1; i < 4; i++) {
        int in[3], k = 0;
        for (int j = 0; j < i; j++, e++) {
            if ((ops[e] == OP_CONV1 || ops[e] == OP_CONV3) && relu[j] < 0) {
                snprintf(name, sizeof name, "cells.%d.relu%d", idx, j);
                relu[j] = dnas_op_relu(g, name, node[j]);
            }
            char edge[96];
            snprintf(edge, sizeof edge, "cells.%d.edges.%d<-%d", idx, i, j);
            switch (ops[e]) {
            case OP_NONE: break;
            case OP_SKIP: in[k++] = node[j]; break;
            case OP_CONV1:
                snprintf(name, sizeof name, "%s.nor_conv_1x1", edge);
                in[k++] = conv_bn(g, name, relu[j], c, 1, 1, 0);
                break;
            case OP_CONV3:
                snprintf(name, sizeof name, "%s.nor_conv_3x3", edge);
                in[k++] = conv_bn(g, name, relu[j], c, 3, 1, 1);
                break;
            case OP_AVGPOOL:
                snprintf(name, sizeof name, "%s.avg_pool_3x3", edge);
                in[k++] = dnas_op_avgpool(g, name, node[j], 3, 1, 1, 0);
                break;
            }
        }
        snprintf(name, sizeof name, "cells.%d.node%d", idx, i);
        if (k == 0)
            node[i] = dnas_op_zero(g, name, x, 1);
        else if (k == 1)
            node[i] = in[0]; /* a lone edge is the node: no copy */
        else
            node[i] = dnas_op_wsum(g, name, in, NULL, k);
    }
    return node[3];
}

dnas_status dnas_nb201_build_net(dnas_graph *g, const dnas_net_config *c, const char *arch) {
    int ops[DNAS_NB201_EDGES];
    DNAS_TRY(dnas_nb201_arch_parse(arch, ops));
    int C = c->channels ? c->channels : 16, N = c->cells ? c->cells : 5;
    if (c->batch <= 0) return dnas_fail(DNAS_ERR_INVALID_ARG, "batch must be > 0 (got %d)", c->batch);
    if (C < 0) return dnas_fail(DNAS_ERR_INVALID_ARG, "channels must be > 0 (got %d)", C);
    if (N < 0) return dnas_fail(DNAS_ERR_INVALID_ARG, "cells per stage must be > 0 (got %d)", N);
    if (c->classes < 2) return dnas_fail(DNAS_ERR_INVALID_ARG, "classes must be >= 2 (got %d)", c->classes);
    if (c->image < 4 || c->image % 4)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "image size must be a positive multiple of 4 (got %d)", c->image);
    if (c->auxiliary)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "the NB201 network has no auxiliary head (drop --auxiliary)");
    if (c->drop_path)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "the NB201 network has no drop path (drop --drop-path)");
    int x = dnas_graph_input(g, dnas_shape4(c->batch, 3, c->image, c->image));
    x = dnas_op_conv2d(g, "stem.conv", x, C, 3, 1, 1, 1, 1, 0);
    x = dnas_op_batchnorm(g, "stem.bn", x, 1, 1);
    int idx = 0;
    for (int stage = 0; stage < 3; stage++) {
        if (stage > 0) x = resblock(g, idx++, x, C << stage);
        for (int i = 0; i < N; i++) x = infer_cell(g, idx++, x, ops);
    }
    x = dnas_op_batchnorm(g, "lastact.bn", x, 1, 1);
    x = dnas_op_relu(g, "lastact.relu", x);
    x = dnas_op_gap(g, "global_pooling", x);
    x = dnas_op_linear(g, "classifier", x, c->classes);
    dnas_op_xent(g, "loss", x);
    return g->build_status;
}
