/* FLOP accounting: each op reports what its kernels compute for a node (dnas_op.flops), the
 * graph sums the nodes of a pass. A backward is counted by replaying dnas_graph_backward's
 * bookkeeping (which values need a gradient, which input gradients are added into) without
 * running a kernel, so the count follows `wants`, pruned nodes and the training-only branch
 * exactly as a real backward does. */
#include "graph.h"
#include "../core/alloc.h"
#include <string.h>

double dnas_node_flops(const dnas_graph *g, const dnas_node *n, const dnas_flop_ctx *c) {
    return n->op->flops ? n->op->flops(g, n, c) : 0.0;
}

double dnas_graph_flops_forward(const dnas_graph *g) {
    const dnas_flop_ctx c = {0, 0, NULL, NULL};
    double f = 0.0;
    for (int i = 0; i < g->n_nodes; i++)
        if (dnas_node_runs(g, &g->nodes[i])) f += dnas_node_flops(g, &g->nodes[i], &c);
    return f;
}

/* exec.c's rule: a node's output needs a gradient when the node holds something wanted. */
static int holds_wanted(const dnas_node *n, unsigned wants) {
    if ((wants & DNAS_WANT_WEIGHTS) && (n->par[0] >= 0 || n->par[1] >= 0)) return 1;
    if (wants & DNAS_WANT_ARCH)
        for (int i = 0; i < n->n_in; i++)
            if (n->mix[i] >= 0) return 1;
    return 0;
}

static int reads_mix(const dnas_node *n) {
    for (int i = 0; i < n->n_in; i++)
        if (n->mix[i] >= 0) return 1;
    return 0;
}

dnas_status dnas_graph_flops_backward(const dnas_graph *g, unsigned wants, double *out) {
    *out = 0.0;
    if (g->loss < 0 || g->n_vals == 0) return DNAS_OK;
    /* need and written per value: the two flags dnas_graph_backward keeps in dnas_value. */
    uint8_t *need = dnas_calloc(2 * (size_t)g->n_vals, "FLOP count scratch");
    if (!need) return DNAS_ERR_OOM;
    uint8_t *written = need + g->n_vals;
    if (g->input >= 0) need[g->input] = (wants & DNAS_WANT_INPUTS) ? 1 : 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const dnas_node *n = &g->nodes[i];
        if (!dnas_node_runs(g, n)) continue;
        int nd = holds_wanted(n, wants);
        for (int j = 0; j < n->n_in && !nd; j++) nd = need[n->in[j]];
        need[n->out] = (uint8_t)nd;
    }
    double f = 0.0;
    if (need[g->loss]) {
        written[g->loss] = 1;
        uint8_t acc[DNAS_MAX_IN];
        const dnas_flop_ctx c = {1, wants, need, acc};
        for (int i = g->n_nodes - 1; i >= 0; i--) {
            const dnas_node *n = &g->nodes[i];
            if (!dnas_node_runs(g, n) || !need[n->out]) continue;
            written[n->out] = 1; /* an unreached gradient is zero-filled: no FLOPs */
            for (int j = 0; j < n->n_in; j++) acc[j] = written[n->in[j]];
            /* g->gmix_out (GDAS): the sum of the output gradient, per node reading a mix. */
            if (g->gmix_out && (wants & DNAS_WANT_ARCH) && reads_mix(n))
                f += (double)dnas_shape_numel(g->vals[n->out].shape);
            f += dnas_node_flops(g, n, &c);
            for (int j = 0; j < n->n_in; j++)
                if (need[n->in[j]]) written[n->in[j]] = 1;
        }
    }
    dnas_free(need);
    *out = f;
    return DNAS_OK;
}

double dnas_flops_copy(const dnas_graph *g, const dnas_node *n, const dnas_flop_ctx *c) {
    double f = 0.0;
    for (int i = 0; i < n->n_in; i++) f += dnas_flop_acc(n, c, i, dnas_shape_numel(g->vals[n->in[i]].shape));
    return f;
}
