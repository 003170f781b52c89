/* NetworkCIFAR of a DARTS genotype (quark0 cnn/model.py; ALGORITHMS.md §A3): the evaluation
 * network that `dnas train` trains from scratch. Stem conv 3x3 3->3C + BN; L cells with
 * reductions at L//3 and 2L//3 (channels double); each cell preprocesses its two inputs
 * (FactorizedReduce after a reduction, else ReLU-conv1x1-BN), computes node i as
 * op_2i(state[in_2i]) + op_2i+1(state[in_2i+1]) and concatenates the genotype's concat
 * states; GAP + linear. Optional: the auxiliary head on the output of cell 2L//3 (training
 * only, loss weight c->aux_weight) and drop path on every non-identity op output.
 *
 * Every BN is affine with running statistics (PyTorch defaults), every conv bias-free.
 * Parameter and buffer names are the keys of the reference model's state_dict
 * (`stem.0.weight`, `cells.3.preprocess0.op.1.weight`, `cells.6._ops.1.conv_2.weight`,
 * `cells.3._ops.5.op.7.running_var`, `auxiliary_head.features.5.weight`, `classifier.bias`),
 * so a checkpoint of the reference (and our twin, tests/ref/darts_net_twin.py) maps by name.
 *
 * SNAS's edge_all genotype (14 pairs, darts.h) builds the evaluation network of SNAS's
 * model_edge_all: node i sums the ops of all its listed edges, pair j named cells.k._ops.j as in
 * its op list, and a 'none' edge (Zero) contributes nothing, so it is not built. A node whose
 * edges are all 'none' is zero; one whose only edge is the identity is that state itself (the
 * graph adds the gradients of a value used twice by one node, e.g. in the cell's concat). */
#include "darts.h"
#include "../ops/ops.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* snprintf into a caller's name buffer, returning it (names fit: 64-byte parameter names). */
static const char *nm(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *nm(char *buf, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, 96, fmt, ap);
    va_end(ap);
    return buf;
}

/* One ReLU per tensor, made on first use: every op of a cell that starts with ReLU on the
 * same state reads it (ReLU is not in place in the reference either, so sharing it changes
 * nothing but memory). */
static int relu_of(dnas_graph *g, int x, int *cache, const char *name) {
    if (*cache < 0) *cache = dnas_op_relu(g, name, x);
    return *cache;
}

/* conv (no bias) at `<p>.<ci>`, BN (affine, running stats) at `<p>.<bi>` and ReLU at `<p>.<ri>`
 * (one fused node where the backend has it: this network never freezes kinks). */
static int conv_bn_relu(dnas_graph *g, const char *p, int ci, int bi, int ri, int x, int cout,
                        int k) {
    char n[96], r[96];
    int y = dnas_op_conv2d(g, nm(n, "%s.%d", p, ci), x, cout, k, 1, 0, 1, 1, 0);
    return dnas_op_batchnorm_relu(g, nm(n, "%s.%d", p, bi), nm(r, "%s.%d", p, ri), y, 1, 1);
}

/* conv (no bias) at `<p>.<ci>` then BN (affine, running stats) at `<p>.<bi>`. */
static int conv_bn(dnas_graph *g, const char *p, int ci, int bi, int x, int cout, int k,
                   int stride, int pad, int dil, int groups) {
    char n[96];
    int y = dnas_op_conv2d(g, nm(n, "%s.%d", p, ci), x, cout, k, stride, pad, dil, groups, 0);
    return dnas_op_batchnorm(g, nm(n, "%s.%d", p, bi), y, 1, 1);
}

/* FactorizedReduce(C_in -> cout) of xr = relu(x): 1x1 stride-2 convs on x and on x shifted
 * by one pixel (pad -1 crops the first row and column), concatenated, BN. */
static int factorized_reduce(dnas_graph *g, const char *p, int xr, int cout) {
    char n[96];
    int y[2];
    y[0] = dnas_op_conv2d(g, nm(n, "%s.conv_1", p), xr, cout / 2, 1, 2, 0, 1, 1, 0);
    y[1] = dnas_op_conv2d(g, nm(n, "%s.conv_2", p), xr, cout / 2, 1, 2, -1, 1, 1, 0);
    int cat = dnas_op_concat(g, nm(n, "%s.cat", p), y, 2);
    return dnas_op_batchnorm(g, nm(n, "%s.bn", p), cat, 1, 1);
}

/* One op of a cell on state x (xr = its shared ReLU, made on demand), named `p` = cells.k._ops.j.
 * *identity is set when the op is the identity (skip_connect at stride 1): no drop path. */
static int cell_op(dnas_graph *g, const char *p, int op, int x, int *xr_cache, int stride,
                   int *identity) {
    char n[96];
    int C = x >= 0 ? g->vals[x].shape.c : 1;
    *identity = 0;
    switch (op) {
    case DNAS_DARTS_NONE: return dnas_op_zero(g, nm(n, "%s.zero", p), x, stride);
    case DNAS_DARTS_NOISE: return dnas_op_noise(g, nm(n, "%s.noise", p), x, stride);
    case DNAS_DARTS_MAX_POOL_3X3: return dnas_op_maxpool(g, nm(n, "%s.max", p), x, 3, stride, 1);
    case DNAS_DARTS_AVG_POOL_3X3:
        return dnas_op_avgpool(g, nm(n, "%s.avg", p), x, 3, stride, 1, 0);
    case DNAS_DARTS_SKIP:
        if (stride == 1) {
            *identity = 1;
            return x;
        }
        return factorized_reduce(g, p, relu_of(g, x, xr_cache, nm(n, "%s.relu", p)), C);
    case DNAS_DARTS_SEP_CONV_3X3:
    case DNAS_DARTS_SEP_CONV_5X5: {
        /* Two stacked ReLU - depthwise k x k - pointwise 1x1 - BN; only the first strides. */
        int k = op == DNAS_DARTS_SEP_CONV_3X3 ? 3 : 5;
        char q[96];
        nm(q, "%s.op", p);
        int y = relu_of(g, x, xr_cache, nm(n, "%s.0", q));
        y = dnas_op_conv2d(g, nm(n, "%s.1", q), y, C, k, stride, k / 2, 1, C, 0);
        y = conv_bn_relu(g, q, 2, 3, 4, y, C, 1);
        y = dnas_op_conv2d(g, nm(n, "%s.5", q), y, C, k, 1, k / 2, 1, C, 0);
        return conv_bn(g, q, 6, 7, y, C, 1, 1, 0, 1, 1);
    }
    case DNAS_DARTS_DIL_CONV_3X3:
    case DNAS_DARTS_DIL_CONV_5X5: {
        /* ReLU - depthwise k x k dilation 2 (pad k-1 keeps the size) - pointwise - BN. */
        int k = op == DNAS_DARTS_DIL_CONV_3X3 ? 3 : 5;
        char q[96];
        nm(q, "%s.op", p);
        int y = relu_of(g, x, xr_cache, nm(n, "%s.0", q));
        y = dnas_op_conv2d(g, nm(n, "%s.1", q), y, C, k, stride, k - 1, 2, C, 0);
        return conv_bn(g, q, 2, 3, y, C, 1, 1, 0, 1, 1);
    }
    }
    dnas_graph_error(g, DNAS_ERR_INVALID_ARG, "DARTS network: op index %d at %s is not a DARTS op",
                     op, p);
    return -1;
}

/* Node i of cell k (type t) in SNAS's edge_all form: the sum of its non-'none' edges in the
 * listed order (Python's sum, so ((h0 + h1) + h2) ...). */
static int edge_all_node(dnas_graph *g, const dnas_darts_edge_all *gt, int k, int t, int i,
                         const int *st, int *relu, int drop) {
    char p[96], n[96];
    int first = dnas_darts_edge(i, 0), sum = -1, live = 0;
    for (int e = 0; e < i + 2; e++) {
        int j = first + e, in = gt->in[t][j], identity;
        if (gt->op[t][j] == DNAS_DARTS_NONE) continue;
        int stride = t == 1 && in < 2 ? 2 : 1;
        int h = cell_op(g, nm(p, "cells.%d._ops.%d", k, j), gt->op[t][j], st[in], &relu[in], stride,
                        &identity);
        if (drop && !identity) h = dnas_op_droppath(g, nm(n, "cells.%d.drop_path.%d", k, j), h);
        sum = live++ ? dnas_op_add(g, nm(n, "cells.%d.node%d.%d", k, i, j), sum, h) : h;
    }
    if (live == 0) {
        /* Every edge 'none': the node is zero, at the size of its first edge's output. */
        int in = gt->in[t][first];
        return dnas_op_zero(g, nm(n, "cells.%d.node%d.zero", k, i), st[in], t == 1 && in < 2 ? 2 : 1);
    }
    return sum;
}

/* Cell k of type t (0 normal, 1 reduce) on inputs s0, s1 (their ReLUs cached in r0, r1, shared
 * with the neighbouring cells and the auxiliary head); C = this cell's channels. With relu_out,
 * the output is read only through its ReLU: the cell returns that ReLU (concat and ReLU one
 * node where the backend fuses them) and *relu_out says whether it did. */
static int cell(dnas_graph *g, const dnas_darts_edge_all *gt, int k, int t, int red_prev, int s0,
                int *r0, int s1, int *r1, int C, int drop, int *relu_out) {
    char p[96], n[96];
    int st[DNAS_DARTS_NODES + 2], relu[DNAS_DARTS_NODES + 2];
    for (int j = 0; j < DNAS_DARTS_NODES + 2; j++) relu[j] = -1;
    if (s0 < 0 || s1 < 0) return -1;
    if (red_prev) {
        st[0] = factorized_reduce(g, nm(p, "cells.%d.preprocess0", k),
                                  relu_of(g, s0, r0, nm(n, "cells.%d.preprocess0.relu", k)), C);
    } else {
        nm(p, "cells.%d.preprocess0.op", k);
        st[0] = conv_bn(g, p, 1, 2, relu_of(g, s0, r0, nm(n, "%s.0", p)), C, 1, 1, 0, 1, 1);
    }
    nm(p, "cells.%d.preprocess1.op", k);
    st[1] = conv_bn(g, p, 1, 2, relu_of(g, s1, r1, nm(n, "%s.0", p)), C, 1, 1, 0, 1, 1);
    for (int i = 0; i < DNAS_DARTS_NODES; i++) {
        if (gt->edge_all[t]) {
            st[i + 2] = edge_all_node(g, gt, k, t, i, st, relu, drop);
            continue;
        }
        int h[2], dropped[2];
        for (int e = 0; e < 2; e++) {
            int j = 2 * i + e, in = gt->in[t][j], identity;
            int stride = t == 1 && in < 2 ? 2 : 1;
            h[e] = cell_op(g, nm(p, "cells.%d._ops.%d", k, j), gt->op[t][j], st[in], &relu[in],
                           stride, &identity);
            dropped[e] = drop && !identity;
        }
        /* drop path inside the node's addition: one pass instead of 2 more per dropped input */
        st[i + 2] = drop ? dnas_op_droppath_add(g, nm(n, "cells.%d.node%d", k, i), h[0], dropped[0],
                                                h[1], dropped[1])
                         : dnas_op_add(g, nm(n, "cells.%d.node%d", k, i), h[0], h[1]);
    }
    int cat[DNAS_DARTS_NODES + 2], nc = gt->n_concat[t];
    for (int j = 0; j < nc; j++) {
        cat[j] = st[gt->concat[t][j]];
        if (cat[j] >= 0 && cat[0] >= 0 && g->vals[cat[j]].shape.h != g->vals[cat[0]].shape.h) {
            dnas_graph_error(g, DNAS_ERR_INVALID_ARG, "DARTS network: %s_concat of cell %d mixes "
                             "states of different sizes (in a reduction cell states 0 and 1 "
                             "are not reduced)", t ? "reduce" : "normal", k);
            return -1;
        }
    }
    if (nc == 1) {
        if (relu_out) *relu_out = 0;
        return cat[0];
    }
    if (!relu_out) return dnas_op_concat(g, nm(n, "cells.%d.concat", k), cat, nc);
    *relu_out = 1;
    return dnas_op_concat_relu(g, nm(n, "cells.%d.concat", k), nm(p, "cells.%d.relu", k), cat,
                               nc);
}

/* AuxiliaryHeadCIFAR on x (8x8; relu = its cached ReLU): AvgPool 5 stride 3 (-> 2x2, padding
 * excluded) - conv1x1 128 - BN - ReLU - conv2x2 768 - BN - ReLU - linear. Returns the logits. */
static int aux_head(dnas_graph *g, int x, int *relu, int classes) {
    if (x < 0) return -1;
    dnas_shape s = g->vals[x].shape;
    if (s.h < 8 || s.h > 10 || s.w < 8 || s.w > 10) {
        dnas_graph_error(g, DNAS_ERR_INVALID_ARG, "the auxiliary head needs an 8x8 input (32x32 "
                         "images) after cell 2L//3, got %dx%d: use --image 32 or no --auxiliary",
                         s.h, s.w);
        return -1;
    }
    const char *p = "auxiliary_head.features";
    char n[96];
    int y = relu_of(g, x, relu, "auxiliary_head.features.0");
    y = dnas_op_avgpool(g, nm(n, "%s.1", p), y, 5, 3, 0, 0);
    y = conv_bn_relu(g, p, 2, 3, 4, y, 128, 1);
    y = conv_bn_relu(g, p, 5, 6, 7, y, 768, 2);
    return dnas_op_linear(g, "auxiliary_head.classifier", y, classes);
}

/* Either genotype form in the 14-pair structure (the standard one: node i = pairs 2i, 2i + 1). */
static dnas_status parse_any(const char *text, dnas_darts_edge_all *ea) {
    if (dnas_darts_is_edge_all(text)) return dnas_darts_edge_all_parse(text, ea);
    dnas_darts_genotype gt;
    DNAS_TRY(dnas_darts_genotype_parse(text, &gt));
    memset(ea, 0, sizeof *ea);
    for (int t = 0; t < 2; t++) {
        memcpy(ea->op[t], gt.op[t], sizeof gt.op[t]);
        memcpy(ea->in[t], gt.in[t], sizeof gt.in[t]);
        memcpy(ea->concat[t], gt.concat[t], sizeof gt.concat[t]);
        ea->n_concat[t] = gt.n_concat[t];
    }
    return DNAS_OK;
}

dnas_status dnas_darts_build_net(dnas_graph *g, const dnas_net_config *c, const char *genotype) {
    dnas_darts_edge_all gt;
    DNAS_TRY(parse_any(genotype, &gt));
    int C = c->channels ? c->channels : 36, L = c->cells ? c->cells : 20;
    if (c->batch <= 0) return dnas_fail(DNAS_ERR_INVALID_ARG, "batch must be > 0 (got %d)", c->batch);
    if (C < 0) return dnas_fail(DNAS_ERR_INVALID_ARG, "channels must be > 0 (got %d)", C);
    if (L < 0) return dnas_fail(DNAS_ERR_INVALID_ARG, "layers (cells) must be > 0 (got %d)", L);
    if (c->classes < 2) return dnas_fail(DNAS_ERR_INVALID_ARG, "classes must be >= 2 (got %d)", c->classes);
    /* Two FactorizedReduces halve H and W exactly only on even sizes. */
    if (c->image < 4 || c->image % 4)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "image size must be a positive multiple of 4 (got %d)", c->image);
    if (c->auxiliary && !(c->aux_weight >= 0.0f))
        return dnas_fail(DNAS_ERR_INVALID_ARG, "auxiliary loss weight must be >= 0 (got %g)",
                         (double)c->aux_weight);
    int x = dnas_graph_input(g, dnas_shape4(c->batch, 3, c->image, c->image));
    x = dnas_op_conv2d(g, "stem.0", x, 3 * C, 3, 1, 1, 1, 1, 0);
    /* Like every cell's output, the stem's is only read through ReLUs (cells 0 and 1's
     * preprocessing): one BN+ReLU node, shared by both. */
    x = dnas_op_batchnorm_relu(g, "stem.1", "stem.relu", x, 1, 1);
    int s0 = x, s1 = x, r0 = x, r1 = x, C_curr = C, red_prev = 0, aux_loss = -1;
    for (int k = 0; k < L; k++) {
        int red = k == L / 3 || k == 2 * L / 3, relu_out = 0;
        if (red) C_curr *= 2;
        /* the last cell's output feeds the global pooling as it is */
        int out = cell(g, &gt, k, red, red_prev, s0, &r0, s1, &r1, C_curr, c->drop_path,
                       k < L - 1 ? &relu_out : NULL);
        red_prev = red;
        s0 = s1;
        r0 = r1;
        s1 = out;
        r1 = relu_out ? out : -1;
        if (k == 2 * L / 3 && c->auxiliary) {
            /* Built here, as in the reference's forward; its nodes (and only they) are
             * training-only, so an eval forward never runs them. */
            int first = g->n_nodes;
            int logits = aux_head(g, s1, &r1, c->classes);
            aux_loss = dnas_op_xent_aux(g, "auxiliary_loss", logits);
            dnas_graph_set_train_only(g, first, g->n_nodes);
            /* The next cell's preprocess1 must not read a training-only ReLU (the head's own,
             * made when the cell's output is not already its ReLU). */
            if (!relu_out) r1 = -1;
        }
    }
    x = dnas_op_gap(g, "global_pooling", s1);
    x = dnas_op_linear(g, "classifier", x, c->classes);
    dnas_op_xent(g, "loss", x);
    if (c->auxiliary) dnas_op_loss_sum(g, "loss_total", aux_loss, c->aux_weight);
    return g->build_status;
}
