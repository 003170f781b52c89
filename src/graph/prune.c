/* Sampling methods (GDAS) give most mixing weights exactly 0: the ops behind them contribute
 * nothing to the loss, so they need not run at all, forward or backward. This pass derives the
 * active flags from the current mixing weights: a node runs iff its output reaches the loss
 * through at least one input that is not a weighted-sum input of weight exactly 0 (so a conv
 * feeding only an unsampled edge goes off, and so does the ReLU that feeds only such convs).
 * Every flag is recomputed from scratch, so dense weights switch everything back on. */
#include "graph.h"
#include <string.h>

int dnas_graph_prune(dnas_graph *g, uint8_t *live) {
    int off = 0;
    memset(live, 0, (size_t)g->n_vals);
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        dnas_node *n = &g->nodes[i];
        const dnas_value *v = &g->vals[n->out];
        /* A value nobody reads (the loss) is a result: its producer always runs. */
        n->active = (uint8_t)(v->last_use < 0 || live[n->out]);
        if (!n->active) {
            off++;
            continue;
        }
        for (int j = 0; j < n->n_in; j++)
            if (n->mix[j] < 0 || g->mix[n->mix[j]] != 0.0f) live[n->in[j]] = 1;
    }
    return off;
}

void dnas_graph_unprune(dnas_graph *g) {
    for (int i = 0; i < g->n_nodes; i++) g->nodes[i].active = 1;
}

void dnas_graph_mix_readers(const dnas_graph *g, int *count) {
    memset(count, 0, (size_t)g->n_mix * sizeof(int));
    for (int i = 0; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++)
            if (g->nodes[i].mix[j] >= 0) count[g->nodes[i].mix[j]]++;
}
