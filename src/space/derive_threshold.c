/* FairDARTS's threshold derivation (ALGORITHMS.md §B8, utils.py `parse` with threshold_sparse):
 * weights are independent sigmoids, so "strongest" no longer means "chosen" and an op is kept
 * only if its own weight reaches the threshold (0.85).
 *
 * DARTS: per node the two incoming edges with the largest best-op weight (as darts.c's derive,
 * stable on ties); a kept edge carries its best op if that op's weight >= threshold, else
 * 'none'. 'none' is the genotype's way to say "edge dropped": the evaluation network builds it
 * as a zero op, so an edge below the threshold contributes nothing. A node whose two edges
 * both fall below stays in the concat as zeros (FairDARTS drops it; the genotype text has a
 * fixed 2 inputs per node and a fixed concat, see darts.h) -- the only departure.
 * NB201: a cell is a full DAG (no in-degree limit), so every edge keeps its best op if that
 * op's weight >= threshold and becomes 'none' otherwise. */
#include "darts.h"
#include "../io/nb201_table.h"
#include <string.h>

static dnas_status darts_threshold(const float *w, const uint8_t *cand, float thr, char *out,
                                   size_t cap) {
    enum { R = DNAS_DARTS_EDGES, C = DNAS_DARTS_OPS };
    dnas_darts_genotype gt;
    memset(&gt, 0, sizeof gt);
    for (int t = 0; t < 2; t++) {
        for (int i = 0; i < DNAS_DARTS_NODES; i++) {
            int best[DNAS_DARTS_NODES + 1];
            float score[DNAS_DARTS_NODES + 1];
            for (int j = 0; j <= i + 1; j++) {
                int r = t * R + dnas_darts_edge(i, j), b = -1;
                for (int k = 0; k < C; k++)
                    if (k != DNAS_DARTS_NONE && cand[r * C + k] && (b < 0 || w[r * C + k] > w[r * C + b]))
                        b = k;
                if (b < 0)
                    return dnas_fail(DNAS_ERR_INTERNAL, "DARTS edge %d has no candidate op besides "
                                     "'none'", dnas_darts_edge(i, j));
                best[j] = b;
                score[j] = w[r * C + b];
            }
            int first = -1, second = -1;
            for (int j = 0; j <= i + 1; j++)
                if (first < 0 || score[j] > score[first]) first = j;
            for (int j = 0; j <= i + 1; j++)
                if (j != first && (second < 0 || score[j] > score[second])) second = j;
            gt.op[t][2 * i] = score[first] >= thr ? best[first] : DNAS_DARTS_NONE;
            gt.in[t][2 * i] = first;
            gt.op[t][2 * i + 1] = score[second] >= thr ? best[second] : DNAS_DARTS_NONE;
            gt.in[t][2 * i + 1] = second;
        }
        for (int i = 0; i < DNAS_DARTS_NODES; i++) gt.concat[t][i] = i + 2;
        gt.n_concat[t] = DNAS_DARTS_NODES;
    }
    return dnas_darts_genotype_format(&gt, out, cap);
}

static dnas_status nb201_threshold(const float *w, const uint8_t *cand, float thr, char *out,
                                   size_t cap) {
    int ops[DNAS_NB201_EDGES];
    for (int e = 0; e < DNAS_NB201_EDGES; e++) {
        const float *we = w + e * DNAS_NB201_OPS;
        int b = dnas_space_row_argmax(we, cand + e * DNAS_NB201_OPS, DNAS_NB201_OPS);
        if (b < 0) return dnas_fail(DNAS_ERR_INTERNAL, "NB201 edge %d has no candidate op", e);
        ops[e] = we[b] >= thr ? b : 0; /* column 0 is 'none' */
    }
    return dnas_nb201_arch_format(ops, out, cap);
}

dnas_status dnas_space_derive_threshold(const dnas_space *sp, const float *w, const uint8_t *cand,
                                        float threshold, char *out, size_t cap) {
    if (strcmp(sp->name, "darts") == 0) return darts_threshold(w, cand, threshold, out, cap);
    if (strcmp(sp->name, "nb201") == 0) return nb201_threshold(w, cand, threshold, out, cap);
    return dnas_fail(DNAS_ERR_INVALID_ARG, "--derive-threshold: space '%s' has no threshold "
                     "derivation (known: nb201, darts)", sp->name);
}
