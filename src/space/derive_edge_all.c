/* SNAS's edge_all derivation (ALGORITHMS.md §B5, SNAS model_search.py genotype_edge_all): the
 * published SNAS cells keep every edge, each with its argmax op INCLUDING 'none', so an edge
 * whose strongest op is 'none' is dropped and a node may have more than 2 inputs.
 *
 * DARTS: per node all i + 2 incoming edges, ordered by their largest weight (any op, 'none'
 * included) descending, a stable order as Python's sorted (ties keep the lower input), each
 * with its argmax (ties to the lower op column); concat = the four nodes. The text is the
 * community's Genotype with 14 pairs per cell type (darts.h, dnas_darts_edge_all).
 * NB201: the cell is a full DAG already and its derive is the per-edge argmax with 'none', the
 * same rule. Other spaces fail. */
#include "darts.h"
#include <string.h>

static dnas_status darts_edge_all(const float *w, const uint8_t *cand, char *out, size_t cap) {
    enum { R = DNAS_DARTS_EDGES, C = DNAS_DARTS_OPS };
    dnas_darts_edge_all gt;
    memset(&gt, 0, sizeof gt);
    for (int t = 0; t < 2; t++) {
        gt.edge_all[t] = 1;
        for (int i = 0; i < DNAS_DARTS_NODES; i++) {
            int n = i + 2, best[DNAS_DARTS_NODES + 1], order[DNAS_DARTS_NODES + 1];
            float score[DNAS_DARTS_NODES + 1];
            for (int j = 0; j < n; j++) {
                int r = t * R + dnas_darts_edge(i, j);
                best[j] = dnas_space_row_argmax(w + r * C, cand + r * C, C);
                if (best[j] < 0)
                    return dnas_fail(DNAS_ERR_INTERNAL, "DARTS edge %d has no candidate op",
                                     dnas_darts_edge(i, j));
                score[j] = w[r * C + best[j]];
                order[j] = j;
            }
            /* Insertion sort by descending score: stable, so ties keep the lower input. */
            for (int a = 1; a < n; a++)
                for (int b = a; b > 0 && score[order[b]] > score[order[b - 1]]; b--) {
                    int x = order[b];
                    order[b] = order[b - 1];
                    order[b - 1] = x;
                }
            for (int j = 0; j < n; j++) {
                int p = dnas_darts_edge(i, j);
                gt.op[t][p] = best[order[j]];
                gt.in[t][p] = order[j];
            }
        }
        for (int i = 0; i < DNAS_DARTS_NODES; i++) gt.concat[t][i] = i + 2;
        gt.n_concat[t] = DNAS_DARTS_NODES;
    }
    return dnas_darts_edge_all_format(&gt, out, cap);
}

dnas_status dnas_space_derive_edge_all(const dnas_space *sp, const float *w, const uint8_t *cand,
                                       char *out, size_t cap) {
    if (strcmp(sp->name, "darts") == 0) return darts_edge_all(w, cand, out, cap);
    if (strcmp(sp->name, "nb201") == 0) return sp->derive(w, cand, out, cap);
    return dnas_fail(DNAS_ERR_INVALID_ARG, "--derive edge_all: space '%s' has no edge_all "
                     "derivation (known: nb201, darts)", sp->name);
}
