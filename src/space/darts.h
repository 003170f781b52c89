/* The DARTS CNN space (quark0/darts cnn/, ALGORITHMS.md §A3) and its RobustDARTS / DARTS-PT
 * variants S1-S4, s5 (§A4): the genotype in structured form, shared by the search supernet
 * (darts.c), the genotype text (darts_genotype.c), the published cells (darts_named.c) and the
 * evaluation network (darts_net.c). */
#ifndef DNAS_SPACE_DARTS_H
#define DNAS_SPACE_DARTS_H
#include "space.h"

#define DNAS_DARTS_NODES 4   /* intermediate nodes per cell */
#define DNAS_DARTS_EDGES 14  /* 2 + 3 + 4 + 5 mixed edges per cell */
#define DNAS_DARTS_PAIRS 8   /* (op, input) pairs per cell type in a genotype: 2 per node */
/* Alpha columns: the 8 PRIMITIVES in quark0's order, then RobustDARTS S4's 'noise'. Variants
 * without noise mark its column as a non-candidate (mixing weight 0, never derived). */
enum {
    DNAS_DARTS_NONE, DNAS_DARTS_MAX_POOL_3X3, DNAS_DARTS_AVG_POOL_3X3, DNAS_DARTS_SKIP,
    DNAS_DARTS_SEP_CONV_3X3, DNAS_DARTS_SEP_CONV_5X5, DNAS_DARTS_DIL_CONV_3X3,
    DNAS_DARTS_DIL_CONV_5X5, DNAS_DARTS_NOISE, DNAS_DARTS_OPS
};
extern const char *const dnas_darts_ops[DNAS_DARTS_OPS]; /* "none", "max_pool_3x3", ... "noise" */

/* Cell types = alpha groups: 0 normal, 1 reduce. */
typedef struct {
    int op[2][DNAS_DARTS_PAIRS]; /* column index (DNAS_DARTS_*) of pair p of cell type t */
    int in[2][DNAS_DARTS_PAIRS]; /* its input state: 0 = s0, 1 = s1, 2.. = node 0..; pairs
                                    2i and 2i+1 belong to node i, so in <= i + 1 */
    int concat[2][DNAS_DARTS_NODES + 2]; /* states concatenated into the cell output (2..5) */
    int n_concat[2];
} dnas_darts_genotype;

/* Edge index (0..13) of node i's edge from state j (j <= i + 1): edges are numbered node by
 * node, inputs in order (node 0: e0 from s0, e1 from s1; node 1: e2..e4; ...). */
static inline int dnas_darts_edge(int node, int state) { return node * (node + 3) / 2 + state; }

/* Text <-> structure. Text is the community's
 * `Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], reduce=[...],
 * reduce_concat=[2, 3, 4, 5])` (`range(2, 6)` also accepted), or the name of a published cell
 * (dnas_darts_named). Errors quote the offending part of the text. */
dnas_status dnas_darts_genotype_parse(const char *text, dnas_darts_genotype *g);
dnas_status dnas_darts_genotype_format(const dnas_darts_genotype *g, char *out, size_t cap);
/* SNAS's edge_all genotype (ALGORITHMS.md §B5, genotype_edge_all): the same text with 14 pairs
 * per cell type, node i listing each of its i + 2 inputs once (strongest edge first), 'none'
 * where the edge's argmax is 'none' (the edge is dropped). Pairs p of node i are
 * dnas_darts_edge(i, 0) .. dnas_darts_edge(i, i + 1). edge_all[t]: which form was read (parse
 * accepts both; the standard form fills pairs 0..7). */
typedef struct {
    int op[2][DNAS_DARTS_EDGES], in[2][DNAS_DARTS_EDGES];
    int concat[2][DNAS_DARTS_NODES + 2], n_concat[2];
    int edge_all[2];
} dnas_darts_edge_all;
dnas_status dnas_darts_edge_all_parse(const char *text, dnas_darts_edge_all *g);
dnas_status dnas_darts_edge_all_format(const dnas_darts_edge_all *g, char *out, size_t cap);
/* 1 if text is an edge_all genotype (no error message left behind). */
int dnas_darts_is_edge_all(const char *text);
/* Published cells by name: DARTS_V1, DARTS_V2, PC_DARTS (quark0 and PC-DARTS genotypes.py);
 * DNAS_ERR_INVALID_ARG listing the known names otherwise. */
dnas_status dnas_darts_named(const char *name, dnas_darts_genotype *g);

/* NetworkCIFAR of a genotype (darts_net.c): the space's build_net. */
dnas_status dnas_darts_build_net(dnas_graph *g, const dnas_net_config *c, const char *genotype);

extern const dnas_space dnas_space_darts;

#endif
