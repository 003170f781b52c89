/* The DARTS CNN search space (ALGORITHMS.md §A3, quark0 cnn/model_search.py) and its
 * RobustDARTS / DARTS-PT op-set variants S1-S5 (§A4): candidate sets, the search supernet,
 * derivation of a genotype from architecture weights, and a genotype's one-hot form.
 * Parameter names follow quark0's module names (stem.0, cells.3._ops.5._ops.4.op.1, ...), which
 * the PyTorch twin in tests/ref/ reproduces so fixtures map by name; an edge's op keeps its
 * PRIMITIVES column as its index whatever variant builds it. */
#include "darts.h"
#include "../ops/ops.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define ROWS DNAS_DARTS_EDGES
#define COLS DNAS_DARTS_OPS

static const char *const darts_groups[2] = {"normal", "reduce"};

enum { NONE = DNAS_DARTS_NONE, MAX = DNAS_DARTS_MAX_POOL_3X3, AVG = DNAS_DARTS_AVG_POOL_3X3,
       SKIP = DNAS_DARTS_SKIP, SEP3 = DNAS_DARTS_SEP_CONV_3X3, SEP5 = DNAS_DARTS_SEP_CONV_5X5,
       DIL3 = DNAS_DARTS_DIL_CONV_3X3, DIL5 = DNAS_DARTS_DIL_CONV_5X5, NOISE = DNAS_DARTS_NOISE };

/* RobustDARTS S1 (§A4): two ops per edge, [cell type][edge]. */
static const int s1_ops[2][ROWS][2] = {
    {{SKIP, DIL3}, {SKIP, DIL5}, {SKIP, DIL5}, {SKIP, SEP3}, {SKIP, DIL3}, {MAX, SKIP},
     {SKIP, SEP3}, {SKIP, SEP3}, {SKIP, DIL3}, {SKIP, SEP3}, {MAX, SKIP}, {SKIP, DIL3},
     {DIL3, DIL5}, {DIL3, DIL5}},
    {{MAX, AVG}, {MAX, DIL3}, {MAX, AVG}, {MAX, AVG}, {SKIP, DIL5}, {MAX, AVG}, {MAX, SEP3},
     {SKIP, DIL3}, {SKIP, DIL5}, {MAX, AVG}, {MAX, AVG}, {SKIP, DIL5}, {SKIP, DIL5},
     {SKIP, DIL5}}};

/* "" / all: the 8 DARTS ops; s1: S1's table; s2: {skip, sep3}; s3: {none, skip, sep3};
 * s4: {noise, sep3}; s5 (= GAEA's no-none, which the gaea preset asks for): all but 'none'. */
static dnas_status darts_candidates(const char *ops, uint8_t *cand) {
    static const char *const known = "all, s1, s2, s3, s4, s5 (= no-none)";
    unsigned mask = 0; /* columns of every edge; S1 is per edge */
    int s1 = 0;
    if (!ops || !ops[0] || strcmp(ops, "all") == 0) mask = 0xFFu; /* columns 0..7 */
    else if (strcmp(ops, "s1") == 0) s1 = 1;
    else if (strcmp(ops, "s2") == 0) mask = 1u << SKIP | 1u << SEP3;
    else if (strcmp(ops, "s3") == 0) mask = 1u << NONE | 1u << SKIP | 1u << SEP3;
    else if (strcmp(ops, "s4") == 0) mask = 1u << NOISE | 1u << SEP3;
    else if (strcmp(ops, "s5") == 0 || strcmp(ops, "no-none") == 0) mask = 0xFEu;
    else
        return dnas_fail(DNAS_ERR_INVALID_ARG, "--ops: unknown DARTS op set '%s' (known: %s)", ops,
                         known);
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < ROWS; e++) {
            unsigned m = s1 ? 1u << s1_ops[t][e][0] | 1u << s1_ops[t][e][1] : mask;
            for (int k = 0; k < COLS; k++) cand[(t * ROWS + e) * COLS + k] = (m >> k) & 1u;
        }
    return DNAS_OK;
}

/* ---- derivation ---------------------------------------------------------------------------- */

/* quark0's genotype(): per node, the two incoming edges whose strongest non-'none' candidate
 * weighs most (a stable sort: ties keep the lower input), each with that op, strongest edge
 * first; concat = all four nodes. */
static dnas_status darts_derive(const float *w, const uint8_t *cand, char *out, size_t cap) {
    dnas_darts_genotype gt;
    memset(&gt, 0, sizeof gt);
    for (int t = 0; t < 2; t++) {
        for (int i = 0; i < DNAS_DARTS_NODES; i++) {
            int best_op[DNAS_DARTS_NODES + 1];
            float score[DNAS_DARTS_NODES + 1];
            for (int j = 0; j <= i + 1; j++) {
                int r = t * ROWS + dnas_darts_edge(i, j), b = -1;
                for (int k = 0; k < COLS; k++)
                    if (k != NONE && cand[r * COLS + k] && (b < 0 || w[r * COLS + k] > w[r * COLS + b]))
                        b = k;
                if (b < 0)
                    return dnas_fail(DNAS_ERR_INTERNAL, "DARTS %s edge %d has no candidate op "
                                     "besides 'none'", darts_groups[t], dnas_darts_edge(i, j));
                best_op[j] = b;
                score[j] = w[r * COLS + b];
            }
            int first = -1, second = -1;
            for (int j = 0; j <= i + 1; j++) /* strict '>' keeps the lower input on ties */
                if (first < 0 || score[j] > score[first]) first = j;
            for (int j = 0; j <= i + 1; j++)
                if (j != first && (second < 0 || score[j] > score[second])) second = j;
            gt.op[t][2 * i] = best_op[first];
            gt.in[t][2 * i] = first;
            gt.op[t][2 * i + 1] = best_op[second];
            gt.in[t][2 * i + 1] = second;
        }
        for (int i = 0; i < DNAS_DARTS_NODES; i++) gt.concat[t][i] = i + 2;
        gt.n_concat[t] = DNAS_DARTS_NODES;
    }
    return dnas_darts_genotype_format(&gt, out, cap);
}

/* One-hot weights of a genotype: the supernet holds one op per edge and always concatenates
 * the four nodes, so a genotype that needs anything else has no one-hot form. */
static dnas_status darts_parse(const char *genotype, float *onehot) {
    if (dnas_darts_is_edge_all(genotype)) { /* SNAS's edge_all: one op per edge, 'none' too */
        dnas_darts_edge_all ea;
        DNAS_TRY(dnas_darts_edge_all_parse(genotype, &ea));
        memset(onehot, 0, 2 * ROWS * COLS * sizeof(float));
        for (int t = 0; t < 2; t++)
            for (int p = 0; p < ROWS; p++) {
                int node = 0;
                while (node + 1 < DNAS_DARTS_NODES && p >= dnas_darts_edge(node + 1, 0)) node++;
                onehot[(t * ROWS + dnas_darts_edge(node, ea.in[t][p])) * COLS + ea.op[t][p]] = 1.0f;
            }
        for (int t = 0; t < 2; t++)
            for (int i = 0; i < DNAS_DARTS_NODES; i++)
                if (ea.n_concat[t] != DNAS_DARTS_NODES || ea.concat[t][i] != i + 2)
                    return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype: %s_concat must be [2, 3, 4, 5] "
                                 "(the supernet concatenates all four nodes)", darts_groups[t]);
        return DNAS_OK;
    }
    dnas_darts_genotype gt;
    DNAS_TRY(dnas_darts_genotype_parse(genotype, &gt));
    memset(onehot, 0, 2 * ROWS * COLS * sizeof(float));
    for (int t = 0; t < 2; t++) {
        for (int p = 0; p < DNAS_DARTS_PAIRS; p++) {
            int node = p / 2, e = dnas_darts_edge(node, gt.in[t][p]);
            float *row = onehot + (t * ROWS + e) * COLS;
            for (int k = 0; k < COLS; k++)
                if (row[k] != 0.0f)
                    return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype: %s node %d takes both "
                                     "('%s', %d) and ('%s', %d) from the same input; the "
                                     "supernet has one op per edge", darts_groups[t], node,
                                     dnas_darts_ops[k], gt.in[t][p], dnas_darts_ops[gt.op[t][p]],
                                     gt.in[t][p]);
            row[gt.op[t][p]] = 1.0f;
        }
        int ok = gt.n_concat[t] == DNAS_DARTS_NODES;
        for (int i = 0; ok && i < DNAS_DARTS_NODES; i++) {
            int seen = 0;
            for (int j = 0; j < gt.n_concat[t]; j++) seen |= gt.concat[t][j] == i + 2;
            ok = seen;
        }
        if (!ok)
            return dnas_fail(DNAS_ERR_INVALID_ARG, "genotype: %s_concat must list states 2, 3, "
                             "4, 5 (the supernet concatenates all four nodes)", darts_groups[t]);
    }
    return DNAS_OK;
}

/* ---- the search supernet ------------------------------------------------------------------- */

static char *nm(char *buf, const char *prefix, const char *suffix) {
    snprintf(buf, 64, "%s.%s", prefix, suffix);
    return buf;
}

/* Conv (bias-free, as every conv of the space) then BN without affine parameters. */
static int conv_bn(dnas_graph *g, const char *p, const char *conv, const char *bn, int x, int cout,
                   int k, int stride, int pad, int dil, int groups, int track) {
    char n1[64], n2[64];
    int y = dnas_op_conv2d(g, nm(n1, p, conv), x, cout, k, stride, pad, dil, groups, 0);
    return dnas_op_batchnorm(g, nm(n2, p, bn), y, 0, track);
}

/* FactorizedReduce(C_in -> cout) on relu(x): two 1x1 stride-2 convs, the second on x shifted
 * by one pixel (pad -1 crops the first row and column), concatenated, then BN. */
static int factorized_reduce(dnas_graph *g, const char *p, int xr, int cout, int track) {
    char n1[64];
    int y[2];
    y[0] = dnas_op_conv2d(g, nm(n1, p, "conv_1"), xr, cout / 2, 1, 2, 0, 1, 1, 0);
    y[1] = dnas_op_conv2d(g, nm(n1, p, "conv_2"), xr, cout / 2, 1, 2, -1, 1, 1, 0);
    int c = dnas_op_concat(g, nm(n1, p, "cat"), y, 2);
    return dnas_op_batchnorm(g, nm(n1, p, "bn"), c, 0, track);
}

/* One candidate op of a mixed edge; `xr` is the shared ReLU of the source state x. */
static int edge_op(dnas_graph *g, const char *p, int k, int x, int xr, int stride, int track) {
    char n1[64];
    if (x < 0) return -1; /* an earlier builder call failed; the graph holds the error */
    int C = g->vals[x].shape.c;
    switch (k) {
    case MAX: {
        int y = dnas_op_maxpool(g, nm(n1, p, "0"), x, 3, stride, 1);
        return dnas_op_batchnorm(g, nm(n1, p, "1"), y, 0, track); /* search MixedOp only */
    }
    case AVG: {
        int y = dnas_op_avgpool(g, nm(n1, p, "0"), x, 3, stride, 1, 0);
        return dnas_op_batchnorm(g, nm(n1, p, "1"), y, 0, track);
    }
    case SKIP: return stride == 1 ? x : factorized_reduce(g, p, xr, C, track);
    case SEP3: case SEP5: {
        int ks = k == SEP3 ? 3 : 5, pad = ks / 2;
        int y = dnas_op_conv2d(g, nm(n1, p, "op.1"), xr, C, ks, stride, pad, 1, C, 0);
        y = conv_bn(g, p, "op.2", "op.3", y, C, 1, 1, 0, 1, 1, track);
        y = dnas_op_relu(g, nm(n1, p, "op.4"), y);
        y = dnas_op_conv2d(g, nm(n1, p, "op.5"), y, C, ks, 1, pad, 1, C, 0);
        return conv_bn(g, p, "op.6", "op.7", y, C, 1, 1, 0, 1, 1, track);
    }
    case DIL3: case DIL5: {
        int ks = k == DIL3 ? 3 : 5;
        int y = dnas_op_conv2d(g, nm(n1, p, "op.1"), xr, C, ks, stride, ks - 1, 2, C, 0);
        return conv_bn(g, p, "op.2", "op.3", y, C, 1, 1, 0, 1, 1, track);
    }
    case NOISE: return dnas_op_noise(g, p, x, stride);
    default:
        dnas_graph_error(g, DNAS_ERR_INTERNAL, "DARTS op column %d has no builder", k);
        return -1;
    }
}

typedef struct {
    int reduction, reduction_prev, track, mix0;
    const uint8_t *cand;
    int K, emix0; /* PC-DARTS: partial channels 1/K (1 = off); edge block start (-1 = none) */
    int node_bn;  /* DARTS-PRIME's statebn: BN without affine on each node sum */
    int drop;     /* ScheduledDropPath: a drop-path node on each edge's output (pc_nodes) */
} cell_args;

/* PC-DARTS' cell body (ALGORITHMS.md §B7, PC-DARTS model_search.py): each mixed edge runs
 * its ops (built for C/K channels, pools with their BN) on the first C/K channels of the
 * state; the rest bypass, max-pooled 2x2 stride 2 on reduction edges; edge =
 * shuffle(concat(mixed ops, bypass), K). A state's slice, ReLU and bypass are shared by its
 * edges. With edge normalisation node i = sum_j beta_(i,j) edge_(i,j) (mixing weights emix0 +
 * group row), else the plain sum. K = 1: all channels, no shuffle (edge normalisation only). */
static void pc_nodes(dnas_graph *g, int idx, int *st, const cell_args *a) {
    char q[64];
    int xa[DNAS_DARTS_NODES + 2], ra[DNAS_DARTS_NODES + 2], xb[DNAS_DARTS_NODES + 2];
    int t = a->reduction;
    for (int i = 0; i < DNAS_DARTS_NODES; i++) {
        int j0 = i == 0 ? 0 : i + 1; /* states first read by this node */
        for (int j = j0; j <= i + 1; j++) {
            int C = st[j] < 0 ? 0 : g->vals[st[j]].shape.c, cp = C / a->K;
            ra[j] = -2;
            if (a->K == 1) {
                xa[j] = st[j];
                xb[j] = -1;
                continue;
            }
            snprintf(q, sizeof q, "cells.%d.part%d", idx, j);
            xa[j] = dnas_op_slice(g, q, st[j], 0, cp);
            snprintf(q, sizeof q, "cells.%d.bypass%d", idx, j);
            xb[j] = dnas_op_slice(g, q, st[j], cp, C - cp);
            if (a->reduction && j < 2) {
                snprintf(q, sizeof q, "cells.%d.mp%d", idx, j);
                xb[j] = dnas_op_maxpool(g, q, xb[j], 2, 2, 0);
            }
        }
        int ein[DNAS_MAX_IN], emix[DNAS_MAX_IN], ne = 0;
        for (int j = 0; j <= i + 1; j++) {
            int e = dnas_darts_edge(i, j), r = t * ROWS + e;
            int stride = a->reduction && j < 2 ? 2 : 1;
            int in[COLS], mix[COLS], n = 0;
            for (int k = 0; k < COLS; k++) {
                if (!a->cand[r * COLS + k] || k == NONE) continue;
                if (ra[j] == -2 && (k == SEP3 || k == SEP5 || k == DIL3 || k == DIL5 ||
                                    (k == SKIP && stride == 2))) {
                    snprintf(q, sizeof q, "cells.%d.relu%d", idx, j);
                    ra[j] = dnas_op_relu(g, q, xa[j]);
                }
                snprintf(q, sizeof q, "cells.%d._ops.%d._ops.%d", idx, e, k);
                in[n] = edge_op(g, q, k, xa[j], ra[j], stride, a->track);
                mix[n++] = a->mix0 + r * COLS + k;
            }
            snprintf(q, sizeof q, "cells.%d._ops.%d.mixed", idx, e);
            /* Only 'none' on this edge: its ops contribute zeros (the bypass still flows). */
            int y = n ? dnas_op_wsum(g, q, in, mix, n) : dnas_op_zero(g, q, xa[j], stride);
            if (a->K > 1) {
                int cat[2] = {y, xb[j]};
                snprintf(q, sizeof q, "cells.%d._ops.%d.shuffle", idx, e);
                y = dnas_op_shuffle(g, q, cat, 2, a->K);
            }
            if (a->drop) { /* RobustDARTS: drop_path(MixedOp(h)) per edge, identity included */
                snprintf(q, sizeof q, "cells.%d._ops.%d.drop_path", idx, e);
                y = dnas_op_droppath(g, q, y);
            }
            ein[ne] = y;
            emix[ne++] = a->emix0 >= 0 ? a->emix0 + r : -1;
        }
        snprintf(q, sizeof q, "cells.%d.node%d", idx, i);
        st[i + 2] = dnas_op_wsum(g, q, ein, emix, ne);
    }
}

/* A search cell (quark0 Cell): preprocess both inputs to C channels, 4 nodes each summing
 * all mixed edges from earlier states in one weighted sum ('none' left out: zero output and
 * zero d/dm), output = concat of the nodes (4C channels). */
static int search_cell(dnas_graph *g, int idx, int s0, int s1, int C, const cell_args *a) {
    char p[48], q[48], n1[64];
    if (s0 < 0 || s1 < 0) return -1; /* an earlier builder call failed; the graph holds it */
    int st[DNAS_DARTS_NODES + 2], relu[DNAS_DARTS_NODES + 2];
    snprintf(p, sizeof p, "cells.%d.preprocess0", idx);
    if (a->reduction_prev) {
        st[0] = factorized_reduce(g, p, dnas_op_relu(g, nm(n1, p, "relu"), s0), C, a->track);
    } else {
        st[0] = conv_bn(g, p, "op.1", "op.2", dnas_op_relu(g, nm(n1, p, "op.0"), s0), C, 1, 1, 0,
                        1, 1, a->track);
    }
    snprintf(p, sizeof p, "cells.%d.preprocess1", idx);
    st[1] = conv_bn(g, p, "op.1", "op.2", dnas_op_relu(g, nm(n1, p, "op.0"), s1), C, 1, 1, 0, 1,
                    1, a->track);
    if (a->K > 1 || a->emix0 >= 0 || a->drop) { /* per-edge outputs */
        pc_nodes(g, idx, st, a);
        snprintf(p, sizeof p, "cells.%d.out", idx);
        return dnas_op_concat(g, p, st + 2, DNAS_DARTS_NODES);
    }
    int t = a->reduction;
    /* One ReLU per state, shared by every op that starts with a ReLU (numerically the same as
     * a ReLU per op, with one buffer and one pass instead of up to 20); made on first use, so
     * a state read only by pools and identities (S1) gets none. */
    for (int j = 0; j < DNAS_DARTS_NODES + 2; j++) relu[j] = -2;
    for (int i = 0; i < DNAS_DARTS_NODES; i++) {
        int in[DNAS_MAX_IN], mix[DNAS_MAX_IN], n = 0;
        for (int j = 0; j <= i + 1; j++) {
            int e = dnas_darts_edge(i, j), r = t * ROWS + e;
            int stride = a->reduction && j < 2 ? 2 : 1;
            for (int k = 0; k < COLS; k++) {
                if (!a->cand[r * COLS + k] || k == NONE) continue;
                if (relu[j] == -2 && (k == SEP3 || k == SEP5 || k == DIL3 || k == DIL5 ||
                                      (k == SKIP && stride == 2))) {
                    snprintf(q, sizeof q, "cells.%d.relu%d", idx, j);
                    relu[j] = dnas_op_relu(g, q, st[j]);
                }
                snprintf(q, sizeof q, "cells.%d._ops.%d._ops.%d", idx, e, k);
                in[n] = edge_op(g, q, k, st[j], relu[j], stride, a->track);
                mix[n++] = a->mix0 + r * COLS + k;
            }
        }
        if (n == 0) {
            dnas_graph_error(g, DNAS_ERR_INVALID_ARG, "DARTS cell %d node %d: every candidate "
                             "op of its edges is 'none'", idx, i);
            return -1;
        }
        snprintf(p, sizeof p, "cells.%d.node%d", idx, i);
        st[i + 2] = dnas_op_wsum(g, p, in, mix, n);
        if (a->node_bn) {
            snprintf(p, sizeof p, "cells.%d.node_bn.%d", idx, i);
            st[i + 2] = dnas_op_batchnorm(g, p, st[i + 2], 0, a->track);
        }
    }
    snprintf(p, sizeof p, "cells.%d.out", idx);
    return dnas_op_concat(g, p, st + 2, DNAS_DARTS_NODES);
}

/* Node i takes edges dnas_darts_edge(i, 0 .. i+1). */
static const int darts_node_first[DNAS_DARTS_NODES] = {0, 2, 5, 9};
static const int darts_node_count[DNAS_DARTS_NODES] = {2, 3, 4, 5};

#define DARTS_DEFAULT_LAYERS 8 /* quark0's search network (C = 16, L = 8) */

static dnas_status darts_build(dnas_graph *g, const dnas_supernet_config *c) {
    int L = c->cells ? c->cells : DARTS_DEFAULT_LAYERS;
    if (c->batch <= 0) return dnas_fail(DNAS_ERR_INVALID_ARG, "--batch must be > 0 (got %d)", c->batch);
    if (c->channels < 1)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "--channels must be >= 1 (got %d)", c->channels);
    if (c->classes < 2)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "classes must be >= 2 (got %d)", c->classes);
    if (L < 3)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "--cells %d: the DARTS space needs at least 3 "
                         "layers (reduction cells at L//3 and 2L//3 must be distinct and "
                         "follow a normal cell)", c->cells);
    if (c->image < 4 || c->image % 4)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "--image %d: the DARTS space needs a multiple of 4 "
                         "(each of its 2 reductions halves H and W with a FactorizedReduce, "
                         "which needs them even)", c->image);
    int K = c->pc_k > 1 ? c->pc_k : 1;
    if (c->channels % K)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "--pc-k %d must divide --channels %d (the channel "
                         "shuffle splits every cell's channels into pc_k groups)", K, c->channels);
    uint8_t cand[2 * ROWS * COLS];
    DNAS_TRY(darts_candidates(c->ops, cand));
    int C = c->channels;
    int x = dnas_graph_input(g, dnas_shape4(c->batch, 3, c->image, c->image));
    cell_args a = {0, 0, c->track_bn, dnas_graph_mix(g, 2 * ROWS * COLS), cand, K, -1, 0, 0};
    if (c->edge_norm) a.emix0 = dnas_graph_mix(g, 2 * ROWS); /* space.h's edge block */
    a.drop = c->drop_path;
    a.node_bn = c->node_bn;
    /* Stem: conv 3x3 3 -> 3C and an affine BN (running statistics as NB201's stem). */
    x = dnas_op_conv2d(g, "stem.0", x, 3 * C, 3, 1, 1, 1, 1, 0);
    x = dnas_op_batchnorm(g, "stem.1", x, 1, 1);
    int s0 = x, s1 = x, Ccur = C;
    for (int i = 0; i < L; i++) {
        a.reduction = i == L / 3 || i == 2 * L / 3;
        if (a.reduction) Ccur *= 2;
        int out = search_cell(g, i, s0, s1, Ccur, &a);
        a.reduction_prev = a.reduction;
        s0 = s1;
        s1 = out;
    }
    x = dnas_op_gap(g, "global_pooling", s1);
    x = dnas_op_linear(g, "classifier", x, c->classes);
    dnas_op_xent(g, "loss", x);
    return g->build_status;
}

const dnas_space dnas_space_darts = {
    .name = "darts", .groups = 2, .rows = ROWS, .cols = COLS, .ops = dnas_darts_ops,
    .group_names = darts_groups, .candidates = darts_candidates, .build = darts_build,
    .derive = darts_derive, .parse = darts_parse, .build_net = dnas_darts_build_net,
    .bench_load = NULL, .bench_find = NULL, .bench_free = NULL,
    .n_nodes = DNAS_DARTS_NODES, .node_first = darts_node_first, .node_count = darts_node_count};
