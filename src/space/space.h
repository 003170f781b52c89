/* Search spaces: build a supernet graph, and describe its architecture parameters.
 * A space lays its mixing weights out as `groups` matrices of rows x cols (edge x op); the
 * graph's mix index of (group, row, col) is (group*rows + row)*cols + col. */
#ifndef DNAS_SPACE_H
#define DNAS_SPACE_H
#include "../graph/graph.h"
#include "../../include/dnas.h"

typedef struct {
    const char *name;          /* "nb201" */
    int groups, rows, cols;    /* NB201: 1 x 6 x 5 */
    const char *const *ops;    /* column names, benchmark order */
} dnas_space_desc;

extern const dnas_space_desc dnas_space_nb201;
extern const char *const dnas_nb201_ops[5];

/* Looks a space up by name; NULL with an error message naming the known spaces. */
const dnas_space_desc *dnas_space_find(const char *name);

/* Builds the NAS-Bench-201 search supernet (ALGORITHMS.md §A1) into an empty graph. */
dnas_status dnas_nb201_build(dnas_graph *g, const dnas_supernet_config *c);

/* NB201 genotype of an alpha (6x5): per edge, the argmax over all 5 ops ('none' included),
 * as AutoDL's searchers derive it; ties go to the lower op index. */
void dnas_nb201_derive(const float *alpha, int ops[6]);

#endif
