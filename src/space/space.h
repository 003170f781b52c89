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
};

extern const dnas_space dnas_space_nb201;

/* Looks a space up by name; NULL with an error message naming the known spaces. */
const dnas_space *dnas_space_find(const char *name);

/* Index of the strongest candidate column of one row (ties to the lower index); -1 if the row
 * has no candidate. */
int dnas_space_row_argmax(const float *w, const uint8_t *cand, int cols);

/* Number of parameters of a space's rows holding column `op` in a genotype's one-hot form:
 * e.g. the skip_connect count of a cell. */
int dnas_space_count_op(const dnas_space *sp, const float *onehot, const char *op);

#endif
