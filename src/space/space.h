/* Search spaces: everything a strategy, a selector and the run loop may know of a space.
 *
 * A space lays its architecture weights out as `groups` matrices of rows x cols (edge x op);
 * the graph's mix index of (group, row, col) is (group*rows + row)*cols + col, and alpha uses
 * the same layout. Rows may have different candidate sets (GAEA's NB201 without 'none', the
 * RobustDARTS S1-S4 spaces): `cand` marks the columns a row may use; the others always get
 * mixing weight 0 and are never derived. Genotypes are text in the community's format, so
 * nothing above src/space/ needs to know what a genotype contains. */
#ifndef DNAS_SPACE_H
#define DNAS_SPACE_H
#include "../graph/graph.h"
#include "../../include/dnas.h"

/* A benchmark's answer for one genotype (NB201: the 200-epoch table). */
typedef struct {
    int index;
    double c10_valid, c10_test, c100_valid, c100_test, in16_valid, in16_test;
} dnas_space_bench;

#define DNAS_GENOTYPE_MAX 1024   /* buffer size that holds any genotype text of any space */
#define DNAS_MAX_ARCH 1024       /* most architecture weights (groups*rows*cols) of any space */

/* The network a genotype describes (space.h build_net). 0 in a size field = the space's
 * default for the paper's evaluation (DARTS: C 36, 20 layers; NB201: C 16, 5 cells per stage). */
typedef struct {
    int batch, classes, image;
    int channels, cells;   /* DARTS: cells = layers L; NB201: cells per stage N */
    int auxiliary;         /* DARTS: attach the auxiliary head (training only) */
    float aux_weight;      /* its loss weight (0.4) */
    int drop_path;         /* build drop-path nodes (their probability is g->drop_prob) */
} dnas_net_config;

typedef struct dnas_space dnas_space;
struct dnas_space {
    const char *name;          /* "nb201" */
    int groups, rows, cols;    /* NB201: 1 x 6 x 5 */
    const char *const *ops;    /* column names */
    const char *const *group_names; /* "cell" (NB201); "normal", "reduce" (DARTS) */
    /* Fills cand (groups*rows*cols bytes) for the op-set variant `ops` ("" = the space's
     * default); an unknown variant fails naming --ops and the known ones. */
    dnas_status (*candidates)(const char *ops, uint8_t *cand);
    /* Builds the search supernet into an empty graph. */
    dnas_status (*build)(dnas_graph *g, const dnas_supernet_config *c);
    /* Genotype text of architecture weights w (groups*rows*cols; larger = stronger), using
     * only the candidate columns. */
    dnas_status (*derive)(const float *w, const uint8_t *cand, char *out, size_t cap);
    /* Parses genotype text into one-hot weights (groups*rows*cols); errors quote the text. */
    dnas_status (*parse)(const char *genotype, float *onehot);
    /* Optional (NULL when the space has none): the discrete network of a genotype, for
     * training from scratch (dnas train): DARTS's NetworkCIFAR, NB201's benchmark network. */
    dnas_status (*build_net)(dnas_graph *g, const dnas_net_config *c, const char *genotype);
    /* Optional (NULL): the benchmark table at `path` (loaded and checked once, at the start
     * of a run), the lookup of a genotype in it, and its release. */
    dnas_status (*bench_load)(const char *path, void **table);
    dnas_status (*bench_find)(const void *table, const char *genotype, dnas_space_bench *r);
    void (*bench_free)(void *table);
    /* Edge normalisation (PC-DARTS, dnas_supernet_config.edge_norm): the graph then reserves
     * groups*rows more mixing weights after the op block, one per alpha row (edge) in the same
     * order, that scale the whole edge output. Node n of each group sums rows
     * [node_first[n], node_first[n] + node_count[n]) of the group (n < n_nodes); strategies
     * normalise the edge weights over these sets. n_nodes 0 = the space has no edge block. */
    int n_nodes;
    const int *node_first, *node_count;
};

extern const dnas_space dnas_space_nb201;

/* Looks a space up by name; NULL with an error message naming the known spaces. */
const dnas_space *dnas_space_find(const char *name);

/* Index of the strongest candidate column of one row (ties to the lower index); -1 if the row
 * has no candidate. */
int dnas_space_row_argmax(const float *w, const uint8_t *cand, int cols);

/* Op costs (costs.c) for SNAS' resource constraint: cost[(group*rows + row)*cols + col] = the
 * cost of that candidate op summed over the supernet's cells sharing the row, at each cell's
 * channels and resolution (config c: channels, cells, image). FLOPs in millions per image, or
 * conv parameters in millions. DNAS_ERR_UNSUPPORTED for a space without a table. */
enum { DNAS_COST_FLOPS, DNAS_COST_PARAMS };
dnas_status dnas_space_costs(const dnas_space *sp, const dnas_supernet_config *c, int kind,
                             float *cost);

/* Number of parameters of a space's rows holding column `op` in a genotype's one-hot form:
 * e.g. the skip_connect count of a cell. */
int dnas_space_count_op(const dnas_space *sp, const float *onehot, const char *op);

/* FairDARTS's threshold derivation (derive_threshold.c, ALGORITHMS.md §B8) of weights w: an
 * edge keeps its best op only if that op's weight >= threshold ('none' otherwise); DARTS also
 * keeps only the top-2 edges per node. For nb201 and darts; other spaces fail. */
dnas_status dnas_space_derive_threshold(const dnas_space *sp, const float *w, const uint8_t *cand,
                                        float threshold, char *out, size_t cap);

/* SNAS's edge_all derivation (derive_edge_all.c, ALGORITHMS.md §B5): every edge with its argmax
 * op, 'none' included (DARTS: the 14-pair genotype of darts.h; NB201: its own derive, the same
 * rule). Other spaces fail. */
dnas_status dnas_space_derive_edge_all(const dnas_space *sp, const float *w, const uint8_t *cand,
                                       char *out, size_t cap);

#endif
